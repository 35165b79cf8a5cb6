"""Two reference webhook servers that bridge's intake is measured against (`bench.sidebyside`).

Both are plain Flask apps, run under bridge's own gunicorn settings (`bridge.web.gunicorn_config`:
the same processes, threads and worker class), taking the same Alertmanager and Zabbix bodies:

- `bench.reference.insert:app` parses the JSON, INSERTs one row per alert into PostgreSQL and
  commits, then answers 202: the least a durable intake must do;
- `bench.reference.parse:app` parses the JSON and answers 202: what the HTTP stack alone costs.
"""
