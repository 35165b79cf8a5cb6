"""Incident priorities, P1 (critical: the system does not work) to P5 (background improvements)."""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"

    @property
    def rank(self) -> int:
        """1 for P1 ... 5 for P5: lower is more urgent."""
        return int(self.value[1])

    def is_higher_than(self, other: Priority) -> bool:
        return self.rank < other.rank


SUPPORT_LINES = ("L1", "L2", "L3")
"""Who works on an incident: L1 solves simple cases and classifies the rest, L2 is an experienced
engineer, L3 the developers. An incident records its current line."""
