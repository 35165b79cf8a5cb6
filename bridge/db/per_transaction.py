"""What a transaction keeps for itself in `session.info`: a batch's caches (the rota's answers,
run-time overrides, users' locales, incident numbers) and buffers (timeline entries, timers,
metric increments), forgotten when the session's outermost transaction ends, however it ends
(commit, rollback, close). One listener for all of them: each module names its key with `key`
instead of keeping listeners of its own that must agree on when a transaction is over."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_KEYS: list[str] = []


def key(name: str) -> str:
    """A `session.info` key whose value lasts until the session's outermost transaction ends."""
    if name in _KEYS:
        raise ValueError(f"per-transaction key {name!r} is taken")
    _KEYS.append(name)
    return name


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    # A savepoint's end (`begin_nested`) is not the transaction's: its parent is set.
    if transaction.parent is None and session.info:
        for name in _KEYS:
            session.info.pop(name, None)
