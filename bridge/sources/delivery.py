"""One parsed webhook delivery, and what every source's parser shares: decoding the JSON body
and the host share a delivery is stored with."""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.alert import Alert, Source
from bridge.errors import PayloadError


@dataclass(frozen=True, slots=True)
class Delivery:
    """One parsed webhook delivery: its alerts and the key that makes redelivery idempotent."""

    source: Source
    dedup_key: str
    alerts: tuple[Alert, ...]
    test: bool = False
    """A test from the sender (Zabbix's media type **Test** button): its alerts must not stay firing."""

    @property
    def host_shard(self) -> int | None:
        """`host_shard` of the one host all its alerts are about; None when they are about
        several (or there are none). Stored with the delivery, so that a replay can split the
        history by host between processes without parsing what is not its share."""
        hosts = {alert.host for alert in self.alerts}
        return host_shard(hosts.pop()) if len(hosts) == 1 else None


def host_shard(host: str) -> int:
    """A stable, non-negative number for a host name (CRC-32): alerts of one host always land in
    the same share of a replay split `number % shares` ways."""
    return zlib.crc32(host.encode()) & 0x7FFFFFFF


def decode_json(body: bytes, where: str = "body") -> Any:
    """Decode a JSON text strictly, turning every failure into a PayloadError about `where`.

    What comes out is what every database stores: orjson refuses lone surrogates, numbers beyond
    a double, NaN and nesting deeper than 1024, and a NUL character in any string (key or value)
    is refused here. Python's json module reads what orjson refuses only to say what is wrong: in
    its familiar words when it refuses too, else with the path of the value it took (a lone
    surrogate, NaN, a 400-digit number), which is refused all the same.
    """
    try:
        value = orjson.loads(body)  # 4x faster than json; replaying a long history is mostly this
    except orjson.JSONDecodeError as exc:
        raise _refusal(body, where, str(exc)) from None
    if b"\\u0000" in body:  # the only way a NUL gets into valid JSON; rare, so only then a walk
        _refuse_unstorable(value, where)
    return value


def _refusal(body: bytes, where: str, reason: str) -> PayloadError:
    """Why orjson refused `body`."""
    try:
        text = body.decode("utf-8")  # JSON over HTTP is UTF-8 (RFC 8259); no guessing at UTF-16
    except UnicodeDecodeError as exc:
        return PayloadError(where, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return PayloadError(where, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        return PayloadError(where, f"not JSON bridge can store: {str(exc).split(':')[0]}")
    except RecursionError:  # nested deeper than Python reads
        return PayloadError(where, f"not JSON bridge can store: {reason}")
    _refuse_unstorable(value, where)
    return PayloadError(where, f"not JSON bridge can store: {reason}")


_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable_text(text: str) -> str | None:
    """Why no database stores `text` (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which no database stores"
    if _SURROGATE.search(text):
        return "contains a lone surrogate (half a UTF-16 pair), which is not Unicode text"
    return None


def _unstorable_number(number: int | float) -> str | None:
    if isinstance(number, float) and not math.isfinite(number):
        return "is not a finite number"
    if isinstance(number, int) and not -(2**63) <= number < 2**64:
        return "is a number beyond 64 bits"
    return None


def _refuse_unstorable(value: Any, where: str) -> None:
    """Raise a PayloadError with the path (``alerts[0].labels.host``; under `where` unless that
    is the whole body) of the first value no database stores: a string or key with a NUL or a lone
    surrogate, a number that is infinite, NaN or beyond 64 bits."""
    root = "" if where == "body" else where
    stack: list[tuple[Any, str]] = [(value, root)]
    while stack:  # no recursion: orjson takes nesting 1024 deep, deeper than Python's stack
        item, path = stack.pop()
        reason = None
        if isinstance(item, str):
            reason = unstorable_text(item)
        elif isinstance(item, int | float):
            reason = _unstorable_number(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                inner_path = f"{path}.{shown_key(key)}" if path else shown_key(key)
                if key_reason := unstorable_text(key):
                    raise PayloadError(_short(inner_path), f"a name that {key_reason}")
                stack.append((inner, inner_path))
        elif isinstance(item, list):
            stack.extend((inner, f"{path}[{i}]") for i, inner in enumerate(item))
        if reason is not None:
            raise PayloadError(_short(path or where), reason)


def _short(path: str) -> str:
    """A path as an error message shows it: its two ends when it is long (nesting 1,000 deep)."""
    return path if len(path) <= 120 else f"{path[:60]}…{path[-60:]}"


def shown_key(key: str) -> str:
    """A key as an error message shows it: NUL and surrogates replaced, cut after 60 characters."""
    key = _SURROGATE.sub("?", key.replace("\x00", "\\u0000"))
    return key if len(key) <= 60 else key[:60] + "…"


def shown(value: Any) -> str:
    """A payload value as an error message shows it: a short repr of a scalar, the JSON type of
    anything else (never the repr of a deep or huge structure)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:60] + "…")
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return "an object" if isinstance(value, dict) else "a list"
