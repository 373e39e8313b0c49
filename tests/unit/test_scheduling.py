"""Turning delay / sendAt into a send time and SQS DelaySeconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from queue_services.adapters.ledger import retention_epoch
from queue_services.adapters.schedules import fire_plan
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


def test_beyond_fifteen_minutes_goes_through_the_scheduler() -> None:
    plan = plan_delivery(None, NOW + timedelta(seconds=901), NOW)
    assert plan.via_scheduler
    assert plan.send_at == NOW + timedelta(seconds=901)
    assert plan_delivery(3_600_000, None, NOW).via_scheduler


def test_a_lower_threshold_sends_shorter_delays_through_the_scheduler() -> None:
    assert plan_delivery(10_000, None, NOW, max_sqs_delay_seconds=5).via_scheduler
    assert not plan_delivery(5_000, None, NOW, max_sqs_delay_seconds=5).via_scheduler


@pytest.mark.parametrize(
    ("delay_ms", "send_at", "field"),
    [(365 * 86400 * 1000 + 1000, None, "delay"), (None, NOW + timedelta(days=366), "sendAt")],
)
def test_more_than_a_year_ahead_is_refused(delay_ms: int | None, send_at: datetime | None, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        plan_delivery(delay_ms, send_at, NOW)
    assert caught.value.field == field
    assert "one year" in caught.value.message


def test_send_at_exactly_fifteen_minutes_ahead_stays_on_sqs() -> None:
    plan = plan_delivery(None, NOW + timedelta(seconds=900), NOW)
    assert (plan.delay_seconds, plan.via_scheduler) == (900, False)


def test_delay_and_send_at_together_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        plan_delivery(1000, NOW, NOW)


@pytest.mark.parametrize("ahead", [901, 3600, 86400 * 30])
def test_schedules_fire_two_minutes_early_and_land_a_minute_early(ahead: int) -> None:
    send_at = NOW + timedelta(seconds=ahead)
    fire_at, delay = fire_plan(send_at, NOW)
    assert fire_at.microsecond == 0
    assert send_at - timedelta(seconds=121) <= fire_at <= send_at - timedelta(seconds=119)
    # Scheduler may fire up to 60 s late; the message still lands before its send time.
    assert fire_at + timedelta(seconds=delay + 60) <= send_at + timedelta(seconds=1)
    assert delay >= 55


def test_a_near_schedule_fires_a_few_seconds_from_now() -> None:
    fire_at, delay = fire_plan(NOW + timedelta(seconds=10), NOW)
    assert NOW + timedelta(seconds=5) < fire_at <= NOW + timedelta(seconds=7)
    assert delay == 0


def test_a_record_is_kept_its_retention_after_the_send_time_not_after_creation() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    in_sixty_days = now + timedelta(days=60)
    # A message due in 60 days keeps its record 30 days after that, not 30 after it was accepted
    assert retention_epoch(now, 30, in_sixty_days) == int((in_sixty_days + timedelta(days=30)).timestamp())
    # One due now, or already past its send time, counts from now
    assert retention_epoch(now, 30, now - timedelta(hours=1)) == int((now + timedelta(days=30)).timestamp())
    assert retention_epoch(now, 30, now) == int((now + timedelta(days=30)).timestamp())
