"""The link in a message: BRIDGE_BASE_URL (or the address `bridge serve` passes when it is
unset), and never a guessed host and port: a process that knows neither links the path alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bridge.db.models import Incident
from bridge.services.duty import Duty
from bridge.services.live import LiveRota
from bridge.services.notifications import Notifier, Templates

RULES = Path(__file__).resolve().parents[3] / "rules"


@pytest.mark.parametrize(
    ("base_url", "link"),
    [
        ("https://bridge.desk.example", "https://bridge.desk.example/incidents/17"),
        ("https://bridge.desk.example/", "https://bridge.desk.example/incidents/17"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/incidents/17"),
        (None, "/incidents/17"),
    ],
)
def test_the_link_of_a_message(base_url: str | None, link: str) -> None:
    notifier = Notifier(None, None, [], Templates(None))  # type: ignore[arg-type]  # context() sends nothing
    duty = Duty(LiveRota(RULES, ZoneInfo("UTC")), notifier, base_url)
    incident = Incident(
        number=17,
        title="Tills offline",
        priority="P2",
        status="open",
        type="incident",
        line="L1",
        opened_at=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
    )
    assert duty.context(incident, "new incident", "")["link"] == link
