"""Turning delay / sendAt into a send time and SQS DelaySeconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from queue_services.errors import InvalidRequest
from queue_services.scheduling import iso_utc, plan_delivery

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delay_ms", "delay_seconds"),
    [(None, 0), (0, 0), (1, 1), (999, 1), (1000, 1), (1001, 2), (3000, 3), (900_000, 900)],
)
def test_delay_rounds_up_to_whole_seconds(delay_ms: int | None, delay_seconds: int) -> None:
    plan = plan_delivery(delay_ms, None, NOW)
    assert plan.delay_seconds == delay_seconds
    assert plan.send_at == NOW + timedelta(milliseconds=delay_ms or 0)


def test_send_at_with_offset_is_converted_to_utc() -> None:
    at = datetime(2026, 11, 28, 13, 5, 0, 500_000, tzinfo=timezone(timedelta(hours=1)))
    plan = plan_delivery(None, at, NOW)
    assert plan.delay_seconds == 301
    assert iso_utc(plan.send_at) == "2026-11-28T12:05:00.500Z"


def test_past_send_at_means_now() -> None:
    plan = plan_delivery(None, NOW - timedelta(days=1), NOW)
    assert plan == plan_delivery(0, None, NOW)


def test_send_at_beyond_fifteen_minutes_is_refused_naming_the_limit() -> None:
    with pytest.raises(InvalidRequest) as caught:
        plan_delivery(None, NOW + timedelta(seconds=901), NOW)
    assert caught.value.field == "sendAt"
    assert "900" in caught.value.message


def test_send_at_exactly_fifteen_minutes_ahead_is_accepted() -> None:
    assert plan_delivery(None, NOW + timedelta(seconds=900), NOW).delay_seconds == 900


def test_delay_and_send_at_together_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        plan_delivery(1000, NOW, NOW)
