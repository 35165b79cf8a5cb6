"""Adversarial webhook bodies made from the real captures in tests/fixtures, for hypothesis.

`bodies()` draws a captured delivery and mutates it 1 to 3 times: a value deleted or replaced by
another JSON type, a huge, deep, NUL, lone-surrogate or non-ASCII-digit value, an out-of-range
number or time, a loose time format, an odd label name, invalid UTF-8 bytes, a cut-off body. Some
values cannot be written by `json.dumps` (a 5,000-digit number, `1e309`, invalid UTF-8, nesting
10,000 deep): they go in as placeholders that are swapped for their raw bytes once serialized.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from bridge.alert import Source
from tests.support.payloads import all_captured, captured

FUZZ_EXAMPLES = int(os.environ.get("BRIDGE_FUZZ_EXAMPLES", "0") or 0)
"""Examples per fuzz test when set (the benchmark machine's long mode, e.g. 50000); else each
test's CI default."""
FUZZ_REPORT = os.environ.get("BRIDGE_FUZZ_REPORT", "")
"""A JSON file for the status-code histograms of the fuzz tests through the app, when set.
Both are read on import: every test runs with the BRIDGE_* settings of the shell removed."""

CAPTURES = all_captured("alertmanager") + all_captured("zabbix")

RAW_TOKENS: tuple[bytes, ...] = (
    b"1" + b"0" * 5000,  # more than 4,300 digits: Python's int() refuses to read it
    b"-" + b"9" * 400,
    b"1e309",  # beyond a double
    b"-1e309",
    b"NaN",
    b"Infinity",
    b"18446744073709551616",  # 2**64
    b"9223372036854775808",  # 2**63
    b"[" * 10_000 + b"]" * 10_000,  # RecursionError for a recursive reader
    b"[" * 1025 + b"]" * 1025,
    b'{"a":' * 1030 + b"1" + b"}" * 1030,
    b'"\\ud800"',  # a lone surrogate, as JSON writes it
    b'"host\\udfff-01"',
    b'"\\u0000"',
    b'"db-01\\u0000"',
    b'"\xff\xfe"',  # not UTF-8
    b'"\xed\xa0\x80"',  # a surrogate encoded in UTF-8 (CESU): not UTF-8 either
    b'"caf\xc3"',  # a cut multi-byte sequence
)

TEXTS: tuple[str, ...] = (
    "",
    " ",
    "x" * 199,
    "x" * 200,
    "x" * 201,
    "h" * 250,
    "h" * 256,
    "n" * 501,
    "a" * 20_000,
    "a" * 1_100_000,  # a 1 MB annotation
    "\x00",
    "db-01\x00",
    "\ud800",
    "web-\udc00",
    "²",
    "٣",
    "\uff11\uff12",
    "١٢٣",
    "0x10",
    "-1",
    "99999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "1e309",
    "NaN",
    "*UNKNOWN*",
    "{EVENT.RECOVERY.ID}",
    "9999-12-31T23:00:00-05:00",
    "0001-01-01T00:00:00+05:00",
    "0001-01-01T00:00:00Z",
    "2026-12-04T10:00:00\x00Z",
    "2026-W49-5T10:00:00Z",
    "20261204T100000Z",
    "2026-12-04T10:00Z",
    "2026-12-04",
    "2026-02-30T10:00:00Z",
    "2026-12-04T10:00:60Z",
    "1969-12-31T23:59:59Z",
    "3000-01-01T00:00:00Z",
    "2026-11-22T06:51:30.123456789123Z",
    "99999999999",
    "999999999999999999999",
    "1795331703.5",
    "firing",
    "resolved",
    "problem",
    "recovery",
    "update",
    "bridge.zabbix.v1",
    "reconciliation",
    "in bridge incident 1 by x",
    "bridge incident 1 opened: x",
    "=~.*",
    "{host}",
    "%s%n",
    "line\r\nBcc: x@example.org",
    "\u2028\u0085\x0b",
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    "\u202ertl",
    "😀" * 100,
)

ODD_NAMES: tuple[str, ...] = (
    "",
    " ",
    "a b",
    "labels.x",
    "annotations.summary",
    "__name__",
    "__zbx_bridge_incident",
    "test",
    "host",
    "alertname",
    "fingerprint",
    "severity",
    "name",
    "source",
    "{",
    "%s",
    "0",
    "ä",
    "\u2028",
    "x" * 300,
    "k" * 20_000,
    "\x00",
    "\ud800",
)

NUMBERS: tuple[Any, ...] = (0, 1, -1, 5, 6, 2**31, 2**63 - 1, 2**63, 2**64 - 1, 1.5, -0.0, 1e308, True, False)


@dataclass(frozen=True)
class Body:
    """A mutated delivery: which endpoint it goes to, its bytes, and how it was made."""

    source: Source
    raw: bytes
    made: tuple[str, ...]


def paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document (the root is ())."""
    found = [here]
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(paths(inner, (*here, key)))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found.extend(paths(inner, (*here, i)))
    return found


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        document = document[step]
    return document


@st.composite
def bodies(draw: st.DrawFn) -> Body:
    name = draw(st.sampled_from(CAPTURES))
    capture = captured(name)
    document: Any = copy.deepcopy(capture.body)
    raws: list[bytes] = []
    made = [name]
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(document)))
        kind = draw(
            st.sampled_from(
                ("delete", "type", "text", "raw", "odd-name", "number", "deep", "time-text", "list-of")
            )
        )
        value: Any
        if kind == "delete":
            if not where:
                continue
            parent = _parent(document, where)
            del parent[where[-1]]
            made.append(f"delete {list(where)}")
            continue
        if kind == "odd-name":
            target = document
            for step in where:
                target = target[step]
            if not isinstance(target, dict):
                continue
            odd = draw(st.sampled_from(ODD_NAMES))
            target[odd] = draw(st.sampled_from((*TEXTS[:20], "value")))
            made.append(f"name {odd[:20]!r} at {list(where)}")
            continue
        if kind == "type":
            value = draw(st.sampled_from((None, True, 0, 1.5, "", [], {}, "x", ["a"], {"a": "b"})))
        elif kind in {"text", "time-text"}:
            value = draw(st.sampled_from(TEXTS))
        elif kind == "number":
            value = draw(st.sampled_from(NUMBERS))
        elif kind == "deep":
            value = "deep"
            for _ in range(draw(st.integers(2, 300))):
                value = [value]
        elif kind == "list-of":
            value = [draw(st.sampled_from(TEXTS)) for _ in range(draw(st.integers(0, 3)))]
        else:  # raw bytes, swapped in after serializing
            raws.append(draw(st.sampled_from(RAW_TOKENS)))
            value = f"@@raw{len(raws) - 1}@@"
        made.append(f"{kind} {str(value)[:30]!r} at {list(where)}")
        if not where:
            document = value
        else:
            _parent(document, where)[where[-1]] = value
    raw = json.dumps(document).encode()  # ensure_ascii: a lone surrogate goes out as \udXXX
    for i, token in enumerate(raws):
        raw = raw.replace(f'"@@raw{i}@@"'.encode(), token)
    tail = draw(st.sampled_from(("keep",) * 17 + ("cut", "bom", "garbage")))
    if tail == "cut":
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    elif tail == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif tail == "garbage":
        raw += b"\x00\xff"
    made.append(tail)
    return Body(capture.source, raw, tuple(made))
