"""Outbound clients: the Zabbix and Alertmanager APIs, the rq queue on Redis, and the channels
notifications go out by (mail, Telegram, webhooks). No transactions, no decisions."""
