"""The pure parts of the mail links: what the templates show with and without them, the settings
that switch them on, the CSRF token's binding, and the token check fuzzed (whatever arrives in
the URL is either a link bridge signed or refused as tampered, never an error)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer
from sqlalchemy.orm import sessionmaker

from bridge.clock import FakeClock
from bridge.errors import ConfigError, LinkRefused
from bridge.services.live import LiveRota
from bridge.services.mail_links import ACTIONABLE, SALT, ActionLinks, LinkProblem, MailLinks
from bridge.services.notifications import Templates
from bridge.settings import Settings
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.roles import LOCALES
from tests.unit.services.test_notification_languages import INCIDENT

SECRET = "k" * 32
NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
ACTIONS = ActionLinks(
    acknowledge="https://bridge.example/mail-link/ACK",
    escalate="https://bridge.example/mail-link/ESC",
)


def links(**overrides: Any) -> MailLinks:
    """Links whose database and rota are never reached by what these tests do."""
    values: dict[str, Any] = {"base_url": "https://bridge.example", "secret_key": SECRET, **overrides}
    settings_ = Settings(**values)
    clock = FakeClock(NOW)
    rota = LiveRota(Path("no-rules"), settings_.zone, clock)
    return MailLinks(settings_, sessionmaker(), clock, rota, lambda: None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", sorted(ACTIONABLE))
def test_an_actionable_mail_shows_both_links_and_other_channels_none(kind: MessageKind, locale: str) -> None:
    _, with_links = Templates().render(kind, {**INCIDENT, "actions": ACTIONS}, locale)
    assert ACTIONS.acknowledge in with_links and ACTIONS.escalate in with_links
    assert with_links.index(ACTIONS.acknowledge) < with_links.index(ACTIONS.escalate)
    _, without = Templates().render(kind, INCIDENT, locale)  # Telegram, webhooks, links off
    assert "mail-link" not in without
    assert without.endswith(f"{INCIDENT['link']}\n")


@pytest.mark.parametrize("kind", sorted(set(MessageKind) - ACTIONABLE - {MessageKind.SLA_REPORT}))
def test_other_messages_never_show_links(kind: MessageKind) -> None:
    _, body = Templates().render(kind, {**INCIDENT, "actions": ACTIONS})
    assert "mail-link" not in body


def test_links_need_a_public_base_url_a_secret_key_and_a_lifetime() -> None:
    assert Settings(base_url="https://b.example", secret_key=SECRET).mail_links
    assert not Settings(secret_key=SECRET).mail_links
    assert not Settings(base_url="https://b.example").mail_links
    assert not Settings(
        base_url="https://b.example", secret_key=SECRET, mail_link_lifetime=timedelta(0)
    ).mail_links
    assert Settings().mail_link_lifetime == timedelta(hours=24)
    found = Settings.from_env({"BRIDGE_MAIL_LINK_LIFETIME": "0", "BRIDGE_SECRET_KEY": SECRET})
    assert found.mail_link_lifetime == timedelta(0) and found.secret_key == SECRET


def test_a_short_secret_key_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"BRIDGE_SECRET_KEY": "hunter2-but-longer"})
    assert "BRIDGE_SECRET_KEY=(hidden): at least 32 characters" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_the_confirmation_token_is_bound_to_the_link_and_the_browser() -> None:
    service = links()
    token = service.confirm_token("link-a", "nonce-1")
    assert token == service.confirm_token("link-a", "nonce-1")
    assert token != service.confirm_token("link-b", "nonce-1")
    assert token != service.confirm_token("link-a", "nonce-2")
    assert token != links(secret_key="z" * 32).confirm_token("link-a", "nonce-1")


def test_a_bridge_without_links_takes_none() -> None:
    service = links(secret_key=None)
    with pytest.raises(LinkRefused) as refused:
        service.inspect(URLSafeSerializer(SECRET, salt=SALT).dumps({"l": "x", "n": 1, "p": "a", "a": "ack"}))
    assert refused.value.problem == LinkProblem.UNKNOWN


@settings(max_examples=300, deadline=None)
@given(token=st.text(max_size=300))
def test_any_text_in_the_url_is_refused_as_tampered(token: str) -> None:
    service = links()
    with pytest.raises(LinkRefused) as refused:
        service.inspect(token)
    assert refused.value.problem == LinkProblem.TAMPERED
    with pytest.raises(LinkRefused) as refused:
        service.use(token, "nonce", "csrf")
    assert refused.value.problem == LinkProblem.TAMPERED


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(st.sampled_from(["l", "n", "p", "a", "e", "x"]), JSON, max_size=6) | JSON)
def test_a_signed_payload_of_the_wrong_shape_is_refused_as_tampered(payload: Any) -> None:
    """Signed with the right key (a leaked key, or a bug): still only the one shape is read."""
    service = links()
    token = URLSafeSerializer(SECRET, salt=SALT).dumps(payload)
    shaped = (
        isinstance(payload, dict)
        and isinstance(payload.get("l"), str)
        and type(payload.get("n")) is int
        and isinstance(payload.get("p"), str)
        and payload.get("a") in ("ack", "escalate")
        and type(payload.get("e")) is int
        and 0 <= payload["e"] < 2**40
    )
    try:
        service._verify(token)
    except LinkRefused as exc:
        assert exc.problem == LinkProblem.TAMPERED
    else:
        assert shaped, payload
