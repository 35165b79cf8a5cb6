"""Reference server 2: parse the webhook's JSON and answer 202 (no storage at all)."""

from __future__ import annotations

from bench.reference.common import Row, make_app


def _discard(rows: list[Row]) -> None:
    return None


app = make_app(_discard)
