"""`bridge worker` lowers its CPU priority by BRIDGE_WORKER_NICE (the real process's niceness is
checked in tests/e2e/test_production_stack.py); here the cases a live process cannot show."""

from __future__ import annotations

import logging

import pytest

from bridge.worker import process


def test_the_priority_is_lowered_by_the_setting_and_left_alone_at_0(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def nice(increment: int) -> int:
        asked.append(increment)
        return increment

    monkeypatch.setattr(process.os, "nice", nice)
    process.lower_priority(10)
    process.lower_priority(0)
    assert asked == [10]


def test_a_refused_nice_is_logged_and_the_worker_runs_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def nice(increment: int) -> int:
        raise PermissionError("operation not permitted")

    monkeypatch.setattr(process.os, "nice", nice)
    with caplog.at_level(logging.WARNING, logger=process.__name__):
        process.lower_priority(5)
    assert "cannot lower the worker's CPU priority by 5: operation not permitted" in caplog.text
