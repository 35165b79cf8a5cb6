"""On-duty rota, escalation policies and SLA targets: the pure model of `rules/rota.yaml`.

`model` holds the types and the questions asked of them (who owns a new incident, whom a step
pages), `sla` the due-time arithmetic, `loader` reads and validates the file. Nothing here does
I/O except the loader reading its file; every answer takes `now` as an argument.
"""
