"""The rule engine: rules loading and validation, matchers, and the pure decision engine.

Nothing here imports Flask, SQLAlchemy, Redis or requests (a test holds it to that): decisions
are a function of the alert, the known state, the rules and `now`.
"""
