"""Web layer: the JSON API, health and metrics endpoints, error mapping. Views stay thin."""
