"""The plain path of Alertmanager parsing (`_plain_alert`) against the one that checks every
field in turn (`_parse_alert`): for any alert, the same Alert, or it steps aside and the
reference parses or refuses it. And the alerts senders really send take the plain path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.alert import TEXT_MAX, Alert
from bridge.errors import PayloadError
from bridge.sources import alertmanager, decode_json
from bridge.sources.alertmanager import _INSTANTS, _INSTANTS_KEPT, _parse_alert, _plain_alert
from tests.support.fuzz import FUZZ_EXAMPLES, ODD_NAMES, TEXTS, Body, bodies
from tests.support.payloads import all_captured, captured

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
SHORT_TEXTS = tuple(text for text in TEXTS if len(text) <= TEXT_MAX + 1)

_times = st.one_of(
    st.sampled_from(
        (
            "2026-11-22T00:00:00Z",
            "2026-11-22T00:00:00+00:00",
            "2026-11-22T03:00:00+03:00",
            "2026-11-22T06:51:30.734253229Z",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+00:00",
            "1970-01-01T00:00:00Z",
            "2999-12-31T00:00:00Z",
            "2999-12-31T00:00:01Z",
            "2026-11-22t00:00:00z",
            "2026-11-22 00:00:00Z",
        )
    ),
    st.sampled_from(SHORT_TEXTS),
    st.builds(
        lambda at, zone, zulu: (
            at.replace(tzinfo=zone).isoformat().replace("+00:00", "Z" if zulu else "+00:00")
        ),
        st.datetimes(datetime(1960, 1, 1), datetime(3005, 1, 1)),
        st.sampled_from(tuple(timezone(timedelta(hours=hours)) for hours in (0, -11, -5, 3, 14))),
        st.booleans(),
    ),
)
_texts = st.one_of(st.sampled_from(SHORT_TEXTS), st.text(max_size=12), st.just("t" * TEXT_MAX))
_others = st.sampled_from((None, True, 0, 1.5, [], {}, ["a"], {"a": "b"}))
_MEANINGFUL = ("alertname", "host", "hostname", "instance", "severity", "job")
_plain_values = st.sampled_from(
    ("web-01:9100", "[::1]:9100", "db-01", "", "critical", " Warning ", "page", "Info", "x" * 300, "h" * 256)
)
_names = st.one_of(
    st.sampled_from(_MEANINGFUL),
    st.sampled_from(ODD_NAMES).filter(lambda name: len(name) <= TEXT_MAX + 1),
    st.text(max_size=6),
    st.just("k" * (TEXT_MAX + 1)),
)
_label_values = st.one_of(
    _texts,
    st.sampled_from(("web-01:9100", "[::1]:9100", "db-01", "critical", " Warning ", "page", "x" * 300)),
    _others,
)
_maps = st.one_of(st.dictionaries(_names, _label_values, max_size=6), _others, _texts)
_fields: dict[str, st.SearchStrategy[Any]] = {
    "status": st.one_of(st.sampled_from(("firing", "resolved", "Firing", "")), _others),
    "labels": _maps,
    "annotations": _maps,
    "startsAt": st.one_of(_times, _others),
    "endsAt": st.one_of(_times, _others, st.just("")),
    "fingerprint": st.one_of(
        st.sampled_from(("", "dc4962fcf0356e7f", "f" * alertmanager.FINGERPRINT_LIMIT, "f" * 188)),
        _texts,
        _others,
    ),
    "generatorURL": st.one_of(st.just("http://prometheus/graph"), _texts, _others),
}


_valid_times = st.sampled_from(
    (
        "2026-11-22T00:00:00Z",
        "2026-11-22T00:00:00+00:00",
        "2026-11-22T03:00:00.5+03:00",
        "1970-01-01T00:00:00Z",
    )
)


@st.composite
def raw_alerts(draw: st.DrawFn) -> Any:
    """An alert object as a sender writes it, then 0 to 3 of its fields deleted or replaced by
    anything (another type, a value past its bound, another time); now and then not an object."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(_others, _texts))
    raw: dict[str, Any] = {
        "status": draw(st.sampled_from(("firing", "resolved"))),
        "labels": {
            **{
                name: draw(_plain_values)
                for name in draw(st.lists(st.sampled_from(_MEANINGFUL), unique=True))
            },
            **draw(st.dictionaries(_names, _label_values, max_size=3)),
        },
        "annotations": draw(st.dictionaries(_names, _label_values, max_size=3)),
        "startsAt": draw(_valid_times),
        "endsAt": draw(st.one_of(st.just("0001-01-01T00:00:00Z"), _valid_times)),
        "fingerprint": draw(st.sampled_from(("dc4962fcf0356e7f", "storm000100"))),
        "generatorURL": "http://prometheus/graph",
    }
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from(tuple(_fields)))
        if draw(st.integers(0, 3)) == 0:
            raw.pop(field, None)
        else:
            raw[field] = draw(_fields[field])
    return raw


def outcome(parse: Any) -> tuple[Any, ...]:
    """What a parse gave: the Alert (with its repr, which tells a Severity from a str), or the
    error it raised."""
    try:
        alert: Alert = parse()
    except PayloadError as exc:
        return ("refused", exc.field, str(exc))
    return ("parsed", alert, repr(alert))


def assert_same(raw: Any, where: str = "alerts[0]", origin: str = "") -> None:
    reference = outcome(lambda: _parse_alert(raw, where, NOW, origin))
    plain = _plain_alert(raw, NOW, origin)
    if plain is not None:  # it took the plain path: exactly what the reference makes of it
        assert reference == ("parsed", plain, repr(plain)), raw
    assert (
        outcome(lambda: _plain_alert(raw, NOW, origin) or _parse_alert(raw, where, NOW, origin)) == reference
    )


@settings(max_examples=FUZZ_EXAMPLES or 2000, deadline=None, database=None, derandomize=not FUZZ_EXAMPLES)
@given(raw=raw_alerts(), origin=st.sampled_from(("", "reconciliation")))
def test_the_plain_path_gives_the_reference_alert_or_steps_aside(raw: Any, origin: str) -> None:
    assert_same(raw, origin=origin)


@settings(
    max_examples=FUZZ_EXAMPLES or 1000,
    deadline=None,
    database=None,
    derandomize=not FUZZ_EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(bodies())
def test_every_alert_of_a_mutated_capture_parses_the_same_on_either_path(case: Body) -> None:
    try:
        payload = decode_json(case.raw)
    except PayloadError:
        return
    alerts = payload.get("alerts") if isinstance(payload, dict) else None
    for i, raw in enumerate(alerts if isinstance(alerts, list) else ()):
        assert_same(raw, f"alerts[{i}]")


def test_every_captured_alert_takes_the_plain_path() -> None:
    for name in all_captured("alertmanager"):
        capture = captured(name)
        for raw in capture.body["alerts"]:
            plain = _plain_alert(raw, capture.received_at, "")
            assert plain is not None, (name, raw.get("fingerprint"))
            assert plain == _parse_alert(raw, "alerts[0]", capture.received_at)


def test_a_storm_notification_takes_the_plain_path_and_its_times_are_read_once() -> None:
    starts = "2026-11-22T00:00:00+00:00"
    raw = {
        "status": "resolved",
        "fingerprint": "storm000100",
        "labels": {"alertname": "HostDown", "instance": "host-0001:9100", "severity": "critical"},
        "annotations": {"summary": "HostDown on host-0001", "value": "3"},
        "startsAt": starts,
        "endsAt": "2026-11-22T01:00:00+00:00",
        "generatorURL": "http://prometheus/graph",
    }
    plain = _plain_alert(raw, NOW, "")
    assert plain is not None and plain == _parse_alert(raw, "alerts[0]", NOW)
    assert plain.host == "host-0001" and plain.ends_at == datetime(2026, 11, 22, 1, tzinfo=UTC)
    assert _INSTANTS[starts] is plain.starts_at
    again = _plain_alert(raw, NOW + timedelta(minutes=1), "")
    assert again is not None and again.starts_at is plain.starts_at  # read from the texts kept


def test_the_time_texts_kept_are_bounded() -> None:
    for second in range(_INSTANTS_KEPT + 10):
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=second)
        raw = {"status": "firing", "fingerprint": "f", "labels": {}, "startsAt": at.isoformat()}
        assert _plain_alert(raw, NOW, "") is not None
        assert len(_INSTANTS) <= _INSTANTS_KEPT


def test_a_whole_notification_parses_as_before() -> None:
    body = orjson.dumps(captured("alertmanager/03-firing-grouped.json").body)
    payload = decode_json(body)
    delivery = alertmanager.parse(payload, body, NOW)
    assert delivery.alerts == tuple(
        _parse_alert(raw, f"alerts[{i}]", NOW) for i, raw in enumerate(payload["alerts"])
    )
