"""A worker process tunes the garbage collector for deciding (bridge.worker.process.tune_collector)."""

from __future__ import annotations

import json
import subprocess
import sys

from bridge.collector import YOUNG_COLLECTION

_PROBE = """
import gc, json
from bridge.worker.process import tune_collector
before = gc.get_threshold()
tune_collector()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_what_the_process_built_is_frozen_and_the_young_are_collected_less_often() -> None:
    # In a process of its own: freezing is for the rest of a process's life, not a test run's.
    out = subprocess.run([sys.executable, "-c", _PROBE], check=True, capture_output=True, text=True).stdout
    seen = json.loads(out)
    assert seen["after"] == [YOUNG_COLLECTION, *seen["before"][1:]]
    assert seen["before"][0] < YOUNG_COLLECTION
    assert seen["frozen"] > 10_000  # the modules and objects imported before: bridge, SQLAlchemy...
