"""Zabbix webhook media type body (`bridge.zabbix.v1`, DESIGN section 3) into normalized alerts.

Zabbix sends every value as a string and leaves a macro it cannot resolve as its literal text
(``{EVENT.RECOVERY.ID}``) or ``*UNKNOWN*``: both mean absent. ``{EVENT.ID}`` is the problem's id
in problem, recovery and update messages alike, so instance + event id is the alert's identity.
Tags bridge writes back into Zabbix (``__zbx_*``) come back in later messages and are not
monitoring tags.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from bridge.alert import Alert, Severity, Source, SourceUpdate, Status
from bridge.errors import PayloadError
from bridge.sources.delivery import Delivery
from bridge.timeutil import from_unix, parse_instant

SCHEMA = "bridge.zabbix.v1"
MARKER = "in bridge incident"
"""Every message bridge writes into Zabbix says "<Did> in bridge incident N by <who>": the update
webhook Zabbix then sends is recognised as bridge's own echo and does not loop."""
_ECHO_RE = re.compile(rf"\b{MARKER} \d+ by ")
KINDS = ("problem", "recovery", "update")

_MACRO_RE = re.compile(r"^\{\$?[A-Za-z][A-Za-z0-9_.:\-]*\}$")
_NSEVERITY = {
    5: Severity.CRITICAL,  # Disaster
    4: Severity.HIGH,
    3: Severity.AVERAGE,
    2: Severity.WARNING,
    1: Severity.INFO,  # Information
    0: Severity.INFO,  # Not classified
}
# Default Zabbix severity names, for a body without NSEVERITY (names are configurable per install).
_SEVERITY_NAMES = {
    "disaster": Severity.CRITICAL,
    "high": Severity.HIGH,
    "average": Severity.AVERAGE,
    "warning": Severity.WARNING,
    "information": Severity.INFO,
    "not classified": Severity.INFO,
}


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
    event_id = _event_id(event)

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
    host_name = clean(host.get("host")) or clean(host.get("name")) or ""
    trigger_id = clean(trigger.get("id")) or ""
    name = (
        clean(event.get("name"))
        or clean(trigger.get("description"))
        or clean(alert_text.get("subject"))
        or f"Zabbix problem {event_id}"
    )
    url = _url(clean(zabbix.get("url")), trigger_id, event_id)
    alert = Alert(
        source=Source.ZABBIX,
        source_ref=event_id,
        fingerprint=f"zabbix:{instance}:{event_id}",
        status=status,
        name=name,
        host=host_name,
        severity=_severity(event),
        labels=_labels(tags, host, host_name, trigger_id, instance),
        annotations=_annotations(name, trigger, event, url),
        starts_at=starts_at,
        ends_at=ends_at,
        url=url,
        received_at=received_at,
        update=source_update,
        origin=_origin(payload.get("origin")),
        recurring=False,
    )
    return Delivery(
        source=Source.ZABBIX,
        dedup_key=_dedup_key(instance, kind, event_id, clean(recovery.get("id")), source_update),
        alerts=(alert,),
    )


def _kind(payload: Any) -> str:
    """The message kind of a body that is a bridge.zabbix.v1 object: problem, recovery or update."""
    if not isinstance(payload, dict):
        raise PayloadError("body", "must be a JSON object (a bridge.zabbix.v1 body)")
    schema = payload.get("schema")
    if schema != SCHEMA:
        raise PayloadError("schema", f"expected {SCHEMA!r}, got {schema!r}")
    kind = payload.get("kind")
    if kind not in KINDS:
        raise PayloadError("kind", f"must be one of problem, recovery, update; got {kind!r}")
    return str(kind)


def _recovery(event: dict[str, Any]) -> dict[str, Any]:
    """The event's recovery object; empty when there is none (a problem or an open update)."""
    recovery = event.get("recovery")
    if recovery is not None and not isinstance(recovery, dict):
        raise PayloadError("event.recovery", "must be an object")
    return recovery or {}


def _event_id(event: dict[str, Any]) -> str:
    """The problem's {EVENT.ID}: with the instance, the alert's identity."""
    event_id = clean(event.get("id"))
    if event_id is None:
        raise PayloadError("event.id", "missing (the {EVENT.ID} macro must be set)")
    if not event_id.isdigit():
        raise PayloadError("event.id", f"must be a number, got {event_id!r}")
    return event_id


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
    message = clean(update.get("message")) or ""
    return SourceUpdate(
        action=clean(update.get("action")) or "updated",
        message=message,
        user=clean(update.get("user")) or "",
        at=at,
        acknowledged=None if ack is None else ack.lower() == "yes",
        from_bridge=bool(_ECHO_RE.search(message)),
    )


def _labels(
    tags: dict[str, str], host: dict[str, Any], host_name: str, trigger_id: str, instance: str
) -> dict[str, str]:
    """The event's tags, then what Zabbix says of the host and trigger (these win over a same-named tag)."""
    labels = dict(tags)
    labels.update(
        {
            "host": host_name,
            "host_name": clean(host.get("name")) or host_name,
            "trigger_id": trigger_id,
            "host_groups": ", ".join(_groups(host.get("groups"))),
            "zabbix_instance": instance,
        }
    )
    if ip := clean(host.get("ip")):
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
        if text := clean(raw):
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
        raise PayloadError("origin", f"must be 'reconciliation' when present, got {value!r}")
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
    text = clean(value)
    if text is None:
        return None
    try:
        if text.replace(".", "", 1).isdigit():
            return from_unix(float(text))
        return parse_instant(text)
    except (ValueError, OverflowError):
        raise PayloadError(where, f"not Unix seconds or an ISO 8601 time: {text!r}") from None


def _severity(event: dict[str, Any]) -> Severity:
    nseverity = clean(event.get("nseverity"))
    if nseverity is not None:
        if not nseverity.isdigit() or int(nseverity) not in _NSEVERITY:
            raise PayloadError("event.nseverity", f"must be 0..5, got {nseverity!r}")
        return _NSEVERITY[int(nseverity)]
    name = clean(event.get("severity"))
    return _SEVERITY_NAMES.get((name or "").lower(), Severity.WARNING)


def _tags(value: Any) -> dict[str, str]:
    """Event tags from parsed or still-encoded {EVENT.TAGSJSON}, minus bridge's own ``__zbx_*`` tags.

    A tag name may repeat (service=a, service=b): the values are joined with a comma.
    """
    if isinstance(value, str):
        if clean(value) is None:
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise PayloadError("event.tags", "not a list of {tag, value} objects nor its JSON text") from None
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
        text = item.get("value")
        text = "" if text is None else str(text)
        tags[name] = f"{tags[name]},{text}" if name in tags and text not in tags[name].split(",") else text
    return tags


def _groups(value: Any) -> list[str]:
    if isinstance(value, list):
        return sorted(str(g).strip() for g in value if clean(g))
    text = clean(value)
    if text is None:
        return []
    return sorted(g.strip() for g in text.split(",") if g.strip())
