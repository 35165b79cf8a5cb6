"""Zabbix webhook media type body (`bridge.zabbix.v1`, DESIGN section 3) into normalized alerts.

Zabbix sends every value as a string and leaves a macro it cannot resolve as its literal text
(``{EVENT.RECOVERY.ID}``) or ``*UNKNOWN*``: both mean absent. ``{EVENT.ID}`` is the problem's id
in problem, recovery and update messages alike, so instance + event id is the alert's identity.
Tags bridge writes back into Zabbix (``__zbx_*``) come back in later messages and are not
monitoring tags.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from bridge.alert import (
    BIGINT_MAX,
    HOST_MAX,
    NAME_MAX,
    TEXT_MAX,
    USER_MAX,
    Alert,
    Severity,
    Source,
    SourceUpdate,
    Status,
    fit,
)
from bridge.errors import PayloadError
from bridge.sources.delivery import Delivery, decode_json, shown
from bridge.timeutil import EARLIEST, LATEST, from_unix, in_range, parse_instant

SCHEMA = "bridge.zabbix.v1"
MARKER = "in bridge incident"
"""Every message bridge writes into Zabbix says "<Did> in bridge incident N by <who>": the update
webhook Zabbix then sends is recognised as bridge's own echo and does not loop."""
JOINED = "bridge incident {number} opened"
JOINED_LATER = "joined bridge incident {number}"
"""The message bridge adds to a problem that joined an incident after its webhook was answered
(a hold expired): "bridge incident 17 opened: <link>". Recognised as bridge's own as well."""
_ECHO_RE = re.compile(rf"\b{MARKER} \d+ by |^bridge incident \d+ opened\b|^joined bridge incident \d+\b")
KINDS = ("problem", "recovery", "update")

_MACRO_RE = re.compile(r"^\{\$?[A-Za-z][A-Za-z0-9_.:\-]*\}$")
_NSEVERITY = {
    "5": Severity.CRITICAL,  # Disaster
    "4": Severity.HIGH,
    "3": Severity.AVERAGE,
    "2": Severity.WARNING,
    "1": Severity.INFO,  # Information
    "0": Severity.INFO,  # Not classified
}
_NSEVERITY_OF = {
    Severity.CRITICAL: "5",
    Severity.HIGH: "4",
    Severity.AVERAGE: "3",
    Severity.WARNING: "2",
    Severity.INFO: "1",
}
TEST_LABEL = "zabbix_test"
"""The label of an alert from the media type's Test button (a delivery with `"test": true`)."""
_ID_RE = re.compile(r"[0-9]{1,19}")
MAX_ID = BIGINT_MAX
"""Zabbix's ids (events, triggers) are BIGINTs: ASCII digits, at most this."""
_UNIX_RE = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")
INSTANCE_LIMIT = 128
RECOVERY_ID_LIMIT = 25
"""The longest instance name and recovery id: with the kind, the event id and an update's time
they leave the delivery's key within DELIVERY_KEY_MAX (and the alert's identity within
FINGERPRINT_MAX) for every message about the problem, so that a problem accepted is never
followed by a recovery refused."""
# Default Zabbix severity names, for a body without NSEVERITY (names are configurable per install).
_SEVERITY_NAMES = {
    "disaster": Severity.CRITICAL,
    "high": Severity.HIGH,
    "average": Severity.AVERAGE,
    "warning": Severity.WARNING,
    "information": Severity.INFO,
    "not classified": Severity.INFO,
}


def joined_message(number: int, link: str, *, opened: bool) -> str:
    """What bridge writes on a Zabbix problem that joined incident `number` after its webhook."""
    said = (JOINED if opened else JOINED_LATER).format(number=number)
    return f"{said}: {link}" if link else said


def from_bridge(message: str) -> bool:
    """A problem message bridge wrote itself (an acknowledgement, a comment, a close, a link)."""
    return bool(_ECHO_RE.search(message))


def clean(value: Any) -> str | None:
    """A Zabbix value as text, or None when it is absent, empty, unresolved or ``*UNKNOWN*``."""
    if type(value) is str:  # nearly every value: Zabbix sends text (the general case is below)
        text = value.strip()
        if not text or text == "*UNKNOWN*" or (text[0] == "{" and _MACRO_RE.match(text)):
            return None
        return text
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or text == "*UNKNOWN*" or _MACRO_RE.match(text):
        return None
    return text


def parse(payload: Any, received_at: datetime) -> Delivery:
    """Parse a decoded media type body into a one-alert Delivery."""
    kind = _kind(payload)
    zabbix = _section(payload, "zabbix")
    event = _section(payload, "event", required=True)
    trigger = _section(payload, "trigger")
    host = _section(payload, "host")
    update = _section(payload, "update")
    alert_text = _section(payload, "alert")
    recovery = _recovery(event)
    instance = clean(zabbix.get("instance")) or "zabbix"
    if len(instance) > INSTANCE_LIMIT:  # part of the alert's identity: never cut
        raise PayloadError("zabbix.instance", f"longer than {INSTANCE_LIMIT} characters")
    event_id = _id(event.get("id"), "event.id")
    if event_id is None:
        raise PayloadError("event.id", "missing (the {EVENT.ID} macro must be set)")
    test = _test(payload.get("test"))
    recovery_id = clean(recovery.get("id"))  # Zabbix's id, or one made up (gone-..., test-...)
    if recovery_id is not None and len(recovery_id) > RECOVERY_ID_LIMIT:
        raise PayloadError("event.recovery.id", f"longer than {RECOVERY_ID_LIMIT} characters")

    starts_at = _time(event.get("timestamp"), "event.timestamp") or received_at
    status = _status(kind, event)
    update_at = _time(update.get("timestamp"), "update.timestamp")
    ends_at = None
    if status is Status.RESOLVED:
        ends_at = _time(recovery.get("timestamp"), "event.recovery.timestamp") or update_at or received_at
        ends_at = max(ends_at, starts_at)
    source_update = None
    if kind == "update":
        source_update = _source_update(event, update, update_at or received_at)

    tags = _tags(event.get("tags"))
    host_name = fit(_text(host.get("host")) or _text(host.get("name")) or "", HOST_MAX)
    trigger_id = _text(trigger.get("id")) or ""
    name = fit(
        _text(event.get("name"))
        or _text(trigger.get("description"))
        or _text(alert_text.get("subject"))
        or f"Zabbix problem {event_id}",
        NAME_MAX,
    )
    url = fit(_url(_text(zabbix.get("url")), trigger_id, event_id), TEXT_MAX)
    alert = Alert(
        source=Source.ZABBIX,
        source_ref=event_id,
        fingerprint=f"zabbix:{instance}:{event_id}",
        status=status,
        name=name,
        host=host_name,
        severity=_severity(event),
        labels=_labels(tags, host, host_name, trigger_id, instance) | ({TEST_LABEL: "yes"} if test else {}),
        annotations=_annotations(name, trigger, event, url),
        starts_at=starts_at,
        ends_at=ends_at,
        url=url,
        received_at=received_at,
        update=source_update,
        origin=_origin(payload.get("origin")),
        recurring=False,
    )
    if test and kind == "problem":
        recovery_id = f"test-{int(received_at.timestamp() * 1000)}"  # every Test is a new delivery
    return Delivery(
        source=Source.ZABBIX,
        dedup_key=_dedup_key(instance, kind, event_id, recovery_id, source_update),
        alerts=(alert,),
        test=test,
    )


def recovery_of_test(alert: Alert, at: datetime) -> dict[str, Any]:
    """The recovery bridge makes up for a test problem (the media type's Test button), so that
    what the test opened resolves like a real problem and no alert stays firing."""
    return {
        "schema": SCHEMA,
        "kind": "recovery",
        "test": True,
        "zabbix": {"instance": alert.labels.get("zabbix_instance", "zabbix")},
        "event": {
            "id": alert.source_ref,
            "value": "0",
            "name": alert.name,
            "nseverity": _NSEVERITY_OF[alert.severity],
            "timestamp": str(int(alert.starts_at.timestamp())),
            "recovery": {"id": f"test-{int(at.timestamp() * 1000)}", "timestamp": str(int(at.timestamp()))},
        },
        "host": {"host": alert.host},
    }


def _test(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise PayloadError("test", f"must be true or false when present, got {shown(value)}")
    return value


def _kind(payload: Any) -> str:
    """The message kind of a body that is a bridge.zabbix.v1 object: problem, recovery or update."""
    if not isinstance(payload, dict):
        raise PayloadError("body", "must be a JSON object (a bridge.zabbix.v1 body)")
    schema = payload.get("schema")
    if schema != SCHEMA:
        raise PayloadError("schema", f"expected {SCHEMA!r}, got {shown(schema)}")
    kind = payload.get("kind")
    if kind not in KINDS:
        raise PayloadError("kind", f"must be one of problem, recovery, update; got {shown(kind)}")
    return str(kind)


def _recovery(event: dict[str, Any]) -> dict[str, Any]:
    """The event's recovery object; empty when there is none (a problem or an open update)."""
    recovery = event.get("recovery")
    if recovery is not None and not isinstance(recovery, dict):
        raise PayloadError("event.recovery", "must be an object")
    return recovery or {}


def _id(value: Any, where: str) -> str | None:
    """A Zabbix id ({EVENT.ID}): ASCII digits within a BIGINT; None when absent."""
    text = clean(value)
    if text is None:
        return None
    if not _ID_RE.fullmatch(text) or int(text) > MAX_ID:
        raise PayloadError(where, f"must be a number from 0 to {MAX_ID}, got {shown(text)}")
    return text


def _text(value: Any) -> str | None:
    """`clean(value)`, cut to TEXT_MAX."""
    text = clean(value)
    return None if text is None else fit(text, TEXT_MAX)


def _status(kind: str, event: dict[str, Any]) -> Status:
    """Firing or resolved, as the message kind says."""
    if kind == "problem":
        return Status.FIRING
    if kind == "recovery":
        return Status.RESOLVED
    # an update reports the problem's current state: a manual close arrives as value 0
    return Status.RESOLVED if clean(event.get("value")) == "0" else Status.FIRING


def _source_update(event: dict[str, Any], update: dict[str, Any], at: datetime) -> SourceUpdate:
    """What a person did in Zabbix (acknowledged, commented, closed), or bridge's own echo of it."""
    ack = clean(event.get("ack_status"))
    message = _text(update.get("message")) or ""
    return SourceUpdate(
        action=_text(update.get("action")) or "updated",
        message=message,
        user=fit(clean(update.get("user")) or "", USER_MAX),
        at=at,
        acknowledged=None if ack is None else ack.lower() == "yes",
        from_bridge=from_bridge(message),
    )


def _labels(
    tags: dict[str, str], host: dict[str, Any], host_name: str, trigger_id: str, instance: str
) -> dict[str, str]:
    """The event's tags, then what Zabbix says of the host and trigger (these win over a same-named tag)."""
    labels = dict(tags)
    labels.update(
        {
            "host": host_name,
            "host_name": _text(host.get("name")) or host_name,
            "trigger_id": trigger_id,
            "host_groups": fit(", ".join(_groups(host.get("groups"))), TEXT_MAX),
            "zabbix_instance": instance,
        }
    )
    if ip := _text(host.get("ip")):
        labels["host_ip"] = ip
    return labels


def _url(base_url: str | None, trigger_id: str, event_id: str) -> str:
    """The event's page in the Zabbix frontend; empty without the frontend's URL or a trigger."""
    if base_url and trigger_id:
        return f"{base_url.rstrip('/')}/tr_events.php?triggerid={trigger_id}&eventid={event_id}"
    return ""


def _annotations(name: str, trigger: dict[str, Any], event: dict[str, Any], url: str) -> dict[str, str]:
    """Summary, and the description, operational data and URL when there are any."""
    annotations = {"summary": name}
    for key, raw in (("description", trigger.get("description")), ("opdata", event.get("opdata"))):
        if text := _text(raw):
            annotations[key] = text
    if url:
        annotations["url"] = url
    return annotations


def _dedup_key(
    instance: str, kind: str, event_id: str, recovery_id: str | None, update: SourceUpdate | None
) -> str:
    """kind + event id + (recovery id or update time), as DESIGN section 3 defines it.

    An update also carries a short hash of what was done: two updates in the same second are
    different deliveries.
    """
    if update is not None:
        digest = hashlib.sha256(f"{update.action}\x00{update.message}\x00{update.user}".encode()).hexdigest()
        tail = f"{int(update.at.timestamp())}:{digest[:12]}"
    else:
        tail = recovery_id or "-"
    return f"zabbix:{instance}:{kind}:{event_id}:{tail}"


def _origin(value: Any) -> str:
    if value in (None, ""):
        return ""
    if value != "reconciliation":
        raise PayloadError("origin", f"must be 'reconciliation' when present, got {shown(value)}")
    return "reconciliation"


def _section(payload: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    value = payload.get(key)
    if value is None:
        if required:
            raise PayloadError(key, "missing")
        return {}
    if not isinstance(value, dict):
        raise PayloadError(key, "must be an object")
    return value


def _time(value: Any, where: str) -> datetime | None:
    """Unix seconds (ASCII digits) or an RFC 3339 time, between EARLIEST and LATEST; None when absent."""
    text = clean(value)
    if text is None:
        return None
    try:
        parsed = from_unix(float(text)) if _UNIX_RE.fullmatch(text) else parse_instant(text)
    except (ValueError, OverflowError, OSError):
        raise PayloadError(where, f"not Unix seconds or an RFC 3339 time: {shown(text)}") from None
    if not in_range(parsed):
        raise PayloadError(where, f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return parsed


def _severity(event: dict[str, Any]) -> Severity:
    nseverity = clean(event.get("nseverity"))
    if nseverity is not None:
        severity = _NSEVERITY.get(nseverity)
        if severity is None:
            raise PayloadError("event.nseverity", f"must be 0..5, got {shown(nseverity)}")
        return severity
    name = clean(event.get("severity"))
    return _SEVERITY_NAMES.get((name or "").lower(), Severity.WARNING)


def _tags(value: Any) -> dict[str, str]:
    """Event tags from parsed or still-encoded {EVENT.TAGSJSON}, minus bridge's own ``__zbx_*`` tags.

    A tag name may repeat (service=a, service=b): the values are joined with a comma.
    """
    if isinstance(value, str):
        if clean(value) is None:
            return {}
        value = decode_json(value.encode(), "event.tags")
    if value is None:
        return {}
    if not isinstance(value, list):
        raise PayloadError("event.tags", "must be a list of {tag, value} objects")
    tags: dict[str, str] = {}
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("tag"), str):
            raise PayloadError(f"event.tags[{i}]", "must be an object with a string 'tag'")
        name = item["tag"]
        if name.startswith("__zbx_"):
            continue
        if len(name) > TEXT_MAX:
            raise PayloadError(f"event.tags[{i}].tag", f"longer than {TEXT_MAX} characters")
        text = item.get("value")
        if text is not None and not isinstance(text, str | int | float):
            raise PayloadError(f"event.tags[{i}].value", "must be a string")
        text = "" if text is None else str(text)
        joined = f"{tags[name]},{text}" if name in tags and text not in tags[name].split(",") else text
        tags[name] = fit(joined, TEXT_MAX)
    return tags


def _groups(value: Any) -> list[str]:
    if isinstance(value, list):
        return sorted(fit(str(g).strip(), TEXT_MAX) for g in value if clean(g))
    text = clean(value)
    if text is None:
        return []
    return sorted(g.strip() for g in text.split(",") if g.strip())
