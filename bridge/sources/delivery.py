"""One parsed webhook delivery, and what every source's parser shares: decoding the JSON body
and the host share a delivery is stored with."""

from __future__ import annotations

import json
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


def decode_json(body: bytes) -> Any:
    """Decode a JSON body, turning every decoding failure into a PayloadError."""
    try:
        return orjson.loads(body)  # 4x faster than json; replaying a long history is mostly this
    except orjson.JSONDecodeError:
        pass  # json's reading of it decides: the same answer and the same message as ever
    try:
        text = body.decode("utf-8")  # JSON over HTTP is UTF-8 (RFC 8259); no guessing at UTF-16
    except UnicodeDecodeError as exc:
        raise PayloadError("body", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            "body", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
