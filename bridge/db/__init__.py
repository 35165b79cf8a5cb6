"""The database: SQLAlchemy models, the engine and sessions, shared queries, durable timers and
the Alembic migrations. Nothing here decides anything: the services above own the transactions."""
