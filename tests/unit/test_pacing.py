"""IntervalPacer: a process-local limiter that spaces calls evenly."""

from __future__ import annotations

import threading
import time

import pytest

from queue_services.ratelimit import IntervalPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_first_call_is_immediate_then_calls_are_spaced() -> None:
    clock = FakeClock()
    pacer = IntervalPacer(10, clock=clock, sleep=clock.sleep)
    assert all(pacer.acquire(deadline=200) for _ in range(3))
    assert clock.slept == pytest.approx([0.1, 0.2])


def test_idle_time_is_not_banked_as_a_burst() -> None:
    clock = FakeClock()
    pacer = IntervalPacer(10, clock=clock, sleep=clock.sleep)
    pacer.acquire(deadline=200)
    clock.now += 5
    pacer.acquire(deadline=200)
    pacer.acquire(deadline=200)
    assert clock.slept == pytest.approx([0.1])


def test_refuses_a_slot_past_the_deadline_without_reserving_it() -> None:
    clock = FakeClock()
    pacer = IntervalPacer(2, clock=clock, sleep=clock.sleep)
    assert pacer.acquire(deadline=100.0)
    assert not pacer.acquire(deadline=100.4)
    assert pacer.acquire(deadline=100.5)


def test_threads_together_never_exceed_the_rate() -> None:
    pacer = IntervalPacer(100)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            pacer.acquire(deadline=time.monotonic() + 10)
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    # 40 calls at 100/s: the 40th no earlier than 0.39 s after the first (sleep never returns early).
    assert stamps[-1] - stamps[0] >= 0.39 - 0.005
    assert max(sum(1 for s in stamps if start <= s < start + 0.1) for start in stamps) <= 11


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        IntervalPacer(0)
