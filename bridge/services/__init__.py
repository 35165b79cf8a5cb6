"""Use cases. Each opens its session, commits, and only then wakes whoever must act next (the
worker, the outbox); the person acting is a parameter of every call that changes something."""
