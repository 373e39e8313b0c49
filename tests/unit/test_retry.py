"""Retry delays: Retry-After for rate limits, full-jitter exponential backoff for transient errors."""

from __future__ import annotations

import pytest

from queue_services.delivery import DeliveryOutcome, OutcomeKind
from queue_services.retry import retry_delay_seconds


def outcome(kind: OutcomeKind, retry_after: float | None = None) -> DeliveryOutcome:
    return DeliveryOutcome("m", "ws", kind, "reason", retry_after=retry_after)


def upper_bound(low: float, high: float) -> float:
    return high


def test_rate_limited_honours_retry_after_rounded_up() -> None:
    assert retry_delay_seconds(outcome(OutcomeKind.RATE_LIMITED, 7.2), 1, 2, 300) == 8


def test_rate_limited_without_retry_after_waits_the_base() -> None:
    assert retry_delay_seconds(outcome(OutcomeKind.RATE_LIMITED), 3, 2, 300) == 2


@pytest.mark.parametrize(("receive_count", "ceiling"), [(1, 2), (2, 4), (3, 8), (6, 64), (9, 300), (30, 300)])
def test_transient_backoff_doubles_up_to_the_cap(receive_count: int, ceiling: int) -> None:
    assert retry_delay_seconds(outcome(OutcomeKind.TRANSIENT), receive_count, 2, 300, uniform=upper_bound) == ceiling


def test_transient_backoff_is_jittered_from_zero() -> None:
    seen: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        seen.append((low, high))
        return 0.0

    assert retry_delay_seconds(outcome(OutcomeKind.TRANSIENT), 4, 2, 300, uniform=record) == 0
    assert seen == [(0, 16)]


def test_deferred_messages_come_back_at_once() -> None:
    assert retry_delay_seconds(outcome(OutcomeKind.DEFERRED), 1, 2, 300) == 0
