"""The incident domain, pure: the lifecycle (statuses, actions, what an action changes), the rota
model of `rules/rota.yaml` and its loader (people, schedules, clients, escalation policies, SLA
targets), SLA clock arithmetic, and what messages to people are about. No I/O but the loader
reading its file; every answer takes `now` as an argument."""
