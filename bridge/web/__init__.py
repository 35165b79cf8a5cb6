"""The web layer: the app factory, webhooks, the JSON API, pages, health and metrics, error
mapping, serializers, and the wsgi entry point with its gunicorn settings. Views stay thin:
parse, call one service, answer."""
