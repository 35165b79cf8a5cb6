"""Sources: parse each monitoring system's webhook body into normalized `Alert`s.

`parse_delivery` is the one entry point: the webhook calls it to validate a body before storing
it, and the pipeline calls it again on the stored bytes. Payload dicts never leave this package.
"""

from __future__ import annotations

from datetime import datetime

from bridge.alert import Source
from bridge.sources import alertmanager, zabbix
from bridge.sources.delivery import Delivery, decode_json, host_shard

__all__ = ["Delivery", "decode_json", "host_shard", "parse_delivery"]


def parse_delivery(source: Source, body: bytes, received_at: datetime) -> Delivery:
    """Parse a raw webhook body from `source`; raises PayloadError naming the bad field."""
    payload = decode_json(body)
    if source is Source.ALERTMANAGER:
        return alertmanager.parse(payload, body, received_at)
    return zabbix.parse(payload, received_at)
