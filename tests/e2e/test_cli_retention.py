"""`bridge db prune [--dry-run] [--export]` and `bridge intake drop-parked` on a real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import insert, select

from bridge.cli.main import main
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.models import Intake, IntakeKey


def seed(database_url: str) -> dict[str, int]:
    """Deliveries: one done 40 days ago, one done now, one parked 40 days ago; their ids by name."""
    engine = create_db_engine(database_url)
    now = datetime.now(UTC)
    rows = {
        "old": (now - timedelta(days=40), "done"),
        "new": (now, "done"),
        "parked": (now - timedelta(days=40), "failed"),
    }
    try:
        with make_session_factory(engine)() as session, session.begin():
            ids = {}
            for name, (at, status) in rows.items():
                ids[name] = session.execute(
                    insert(Intake)
                    .values(
                        source="alertmanager",
                        dedup_key=name,
                        received_at=at,
                        body=b'{"alerts": []}',
                        alert_count=0,
                        status=status,
                        attempts=1,
                        error="boom" if status == "failed" else None,
                    )
                    .returning(Intake.id)
                ).scalar_one()
                if engine.dialect.name == "postgresql":
                    session.execute(insert(IntakeKey).values(dedup_key=name, received_at=at))
        return ids
    finally:
        engine.dispose()


def kept(database_url: str) -> set[str]:
    engine = create_db_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return set(session.scalars(select(Intake.dedup_key)))
    finally:
        engine.dispose()


def test_prune_dry_run_then_prune_with_an_archive_then_drop_the_parked_one(
    database_url: str, tmp_path: Path
) -> None:
    ids = seed(database_url)
    env = {"BRIDGE_DATABASE_URL": database_url, "BRIDGE_RETAIN_INTAKE": "30d"}
    runner = CliRunner()

    dry = runner.invoke(main, ["db", "prune", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    intake_line = next(line for line in dry.output.splitlines() if line.startswith("intake "))
    assert intake_line.split()[2] == "1"  # the old done one; never the parked one
    assert "would remove 1 rows" in dry.output
    assert kept(database_url) == {"old", "new", "parked"}

    archive = tmp_path / "old.jsonl"
    wet = runner.invoke(main, ["db", "prune", "--export", str(archive)], env=env)
    assert wet.exit_code == 0, wet.output
    assert "removed 1 rows" in wet.output
    assert kept(database_url) == {"new", "parked"}
    traced = [json.loads(line) for line in archive.read_text().splitlines()]
    assert len(traced) == 2 and all(t["source"] == "alertmanager" for t in traced)  # the old and the parked

    wrong = runner.invoke(main, ["intake", "drop-parked", str(ids["new"])], env=env)
    assert wrong.exit_code == 0 and f"delivery {ids['new']} is not parked as failed" in wrong.output
    assert runner.invoke(main, ["intake", "drop-parked"], env=env).exit_code == 2  # ids or --all
    dropped = runner.invoke(main, ["intake", "drop-parked", "--all", "--as", "petrov"], env=env)
    assert dropped.exit_code == 0, dropped.output
    assert f"1 parked deliveries dropped: {ids['parked']}" in dropped.output
    assert kept(database_url) == {"new"}
