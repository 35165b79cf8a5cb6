"""The side-by-side matrix takes its workloads in a balanced order across rounds."""

from __future__ import annotations

from bench.sidebyside import WORKLOADS, round_order


def test_odd_rounds_reverse_the_workloads_and_keep_the_storm_last() -> None:
    assert round_order(WORKLOADS, 0) == WORKLOADS
    assert round_order(WORKLOADS, 1) == ["zbx_unique", "am_duplicates", "am_flap", "am_unique", "am_storm"]
    assert round_order(WORKLOADS, 2) == WORKLOADS
    assert round_order(["am_storm", "am_unique", "am_flap"], 0) == ["am_unique", "am_flap", "am_storm"]


def test_over_two_rounds_each_workload_runs_as_often_before_as_after_each_other() -> None:
    for workloads in (WORKLOADS, ["am_unique", "am_flap"], ["am_flap", "am_storm", "am_unique"]):
        before: dict[tuple[str, str], int] = {}
        for round_number in (0, 1):
            order = round_order(workloads, round_number)
            assert sorted(order) == sorted(workloads)
            assert "am_storm" not in workloads or order[-1] == "am_storm"
            for i, first in enumerate(order):
                for second in order[i + 1 :]:
                    before[(first, second)] = before.get((first, second), 0) + 1
        others = [w for w in workloads if w != "am_storm"]
        for a in others:
            for b in others:
                if a != b:
                    assert before.get((a, b), 0) == before.get((b, a), 0) == 1
