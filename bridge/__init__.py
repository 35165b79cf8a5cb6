"""bridge: turns monitoring events (Zabbix, Alertmanager) into incidents that people own."""

__version__ = "0.1.0"
