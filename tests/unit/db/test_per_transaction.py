"""Per-transaction values in `session.info` end with the outermost transaction, however it ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from bridge.db import per_transaction

_KEPT = per_transaction.key("tests.per_transaction.kept")


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    with Session(engine) as opened:
        yield opened
    engine.dispose()


def _keep(session: Session) -> None:
    session.execute(text("SELECT 1"))  # begins the transaction
    session.info[_KEPT] = ["kept"]
    session.info["tests.someone_elses"] = "stays"


def test_forgotten_at_commit(session: Session) -> None:
    _keep(session)
    session.commit()
    assert _KEPT not in session.info
    assert session.info["tests.someone_elses"] == "stays"


def test_forgotten_at_rollback(session: Session) -> None:
    _keep(session)
    session.rollback()
    assert _KEPT not in session.info


def test_forgotten_at_close(session: Session) -> None:
    _keep(session)
    session.close()
    assert _KEPT not in session.info


def test_kept_while_a_savepoint_ends(session: Session) -> None:
    _keep(session)
    with session.begin_nested():
        session.execute(text("SELECT 2"))
    assert session.info[_KEPT] == ["kept"]
    nested = session.begin_nested()
    nested.rollback()
    assert session.info[_KEPT] == ["kept"]
    session.commit()
    assert _KEPT not in session.info


def test_a_key_is_named_once() -> None:
    with pytest.raises(ValueError, match="taken"):
        per_transaction.key("tests.per_transaction.kept")
