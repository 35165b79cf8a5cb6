"""The rota's answers kept for a transaction (`RotaAnswers`) are the rota's own answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.priority import Priority
from bridge.schedule.rotation import Override
from bridge.services.duty import RotaAnswers
from bridge.ticketing import sla
from bridge.ticketing.rota_loader import load_rota_file

ROTA = load_rota_file(Path(__file__).resolve().parents[3] / "rules" / "rota.yaml", ZoneInfo("Europe/Moscow"))
T0 = datetime(2026, 11, 23, tzinfo=UTC)
OVERRIDES = {
    name: (Override("titov", T0 + timedelta(hours=30), T0 + timedelta(hours=40), "swap"),)
    for name in ROTA.schedules
}

questions = st.lists(
    st.tuples(
        st.sampled_from([None, "nobody-knows", *ROTA.clients]),
        st.integers(0, 7 * 24 * 4).map(lambda quarter: T0 + timedelta(minutes=15 * quarter)),
        st.sampled_from(list(Priority)),
        st.sampled_from(sorted(ROTA.policies)),
        st.sampled_from([None, *ROTA.people]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(asked=questions, overridden=st.booleans())
def test_kept_answers_are_the_rotas(
    asked: list[tuple[str | None, datetime, Priority, str, str | None]], overridden: bool
) -> None:
    overrides = OVERRIDES if overridden else {}
    answers = RotaAnswers(ROTA, overrides)
    for client, at, priority, policy_name, responsible in asked + asked:  # each asked again
        assert answers.responsible_for(client, at) == ROTA.responsible_for(client, at, overrides)
        assert answers.deadlines(client, priority, at) == sla.deadlines(ROTA, client, priority, at)
        policy = ROTA.policies[policy_name]
        for step in range(len(policy.steps)):
            expected = ROTA.targets(policy.steps[step], responsible, client, at, overrides)
            assert answers.targets(policy, step, responsible, client, at) == expected
