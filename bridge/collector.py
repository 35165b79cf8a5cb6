"""The garbage collector as bridge's long-running deciders want it: the worker processes and a
replay. Deciding allocates tens of thousands of short-lived objects per batch (rows and their
states, parameter lists, texts, decisions) that reference counting frees; Python's collector
still walked them every 700 allocations, and every tenth walk the older generation too.
Measured: 5-10% of a replay's deciding process; 5.0-5.3 s of a 27 s in-process drain of 20,000
alerts each opening an incident (bench.pipeline on PostgreSQL), 0.6-0.7 s with the threshold
below."""

from __future__ import annotations

import gc

YOUNG_COLLECTION = 20_000
"""Allocations between collections of the youngest generation while deciding (Python: 700)."""


def collect_young_less_often() -> tuple[int, ...]:
    """Collect the youngest generation every YOUNG_COLLECTION allocations; the thresholds before."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, *before[1:])
    return before
