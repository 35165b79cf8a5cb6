"""The web tier's hand-off to the rq queue wakes it at most once per interval: the first
delivery of a quiet moment at once, those right behind it together, a moment later."""

from __future__ import annotations

import threading

from bridge.integrations.queue import IntakeQueue, QueueHandoff


class RecordingQueue:
    """Stands in for `IntakeQueue` (a real Redis is in tests/integration/test_queue.py): records
    the wakes it is asked for."""

    def __init__(self) -> None:
        self.woken: list[int] = []
        self.paused = False
        self.called = threading.Event()

    def wake(self, intake_id: int) -> bool:
        self.woken.append(intake_id)
        self.called.set()
        return True


def handoff(queue: RecordingQueue, interval: float) -> QueueHandoff:
    return QueueHandoff(queue, interval)  # type: ignore[arg-type]


def test_a_lone_delivery_wakes_the_queue_at_once() -> None:
    queue = RecordingQueue()
    assert handoff(queue, 60).deliveries([7])
    assert queue.woken == [7]


def test_deliveries_right_behind_it_are_woken_for_together_once_the_interval_is_over() -> None:
    queue = RecordingQueue()
    batched = handoff(queue, 1.0)
    assert batched.deliveries([1])
    queue.called.clear()
    for intake_id in (2, 5, 3):
        assert batched.deliveries([intake_id])  # handed over: the background thread wakes
    assert queue.woken == [1]
    assert queue.called.wait(10)
    assert queue.woken == [1, 5]  # one wake, for the highest id: its job takes all pending
    batched.close()


def test_closing_wakes_the_queue_for_what_is_left() -> None:
    queue = RecordingQueue()
    batched = handoff(queue, 3600)
    batched.deliveries([1])
    batched.deliveries([2])
    batched.close()
    assert queue.woken == [1, 2]
    assert batched.deliveries([3])  # closed: at once
    assert queue.woken == [1, 2, 3]


def test_while_redis_is_paused_nothing_is_handed_over() -> None:
    queue = RecordingQueue()
    queue.paused = True
    assert not handoff(queue, 0).deliveries([1])
    assert queue.woken == []


def test_the_recording_queue_has_the_methods_the_hand_off_uses() -> None:
    assert callable(IntakeQueue.wake) and isinstance(IntakeQueue.paused, property)
