"""Grouping by workspace, paced parallel sending and outcome counting (no network)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from queue_services.delivery import (
    BatchSender,
    OutcomeKind,
    count_outcomes,
    group_by_workspace,
    interleave_workspaces,
)
from queue_services.errors import PermanentProviderError, RateLimitedError, TransientProviderError
from queue_services.models import Counters, ProviderReceipt, QueuedMessage, QueuedSms
from queue_services.ratelimit import IntervalPacer

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def sms(index: int, workspace: str) -> QueuedSms:
    return QueuedSms(
        message_id=f"m{index}",
        workspace_id=workspace,
        contact_id=f"c{index}",
        created_at=NOW,
        send_at=NOW,
        to=f"+1555000{index:04d}",
        message="hi",
    )


class Unlimited:
    def acquire(self, deadline: float) -> bool:
        return True


def test_group_by_workspace_keeps_arrival_order() -> None:
    messages = [sms(0, "a"), sms(1, "b"), sms(2, "a"), sms(3, "c"), sms(4, "a")]
    groups = group_by_workspace(messages)
    assert {ws: [m.message_id for m in group] for ws, group in groups.items()} == {
        "a": ["m0", "m2", "m4"],
        "b": ["m1"],
        "c": ["m3"],
    }


def test_interleave_round_robins_workspaces() -> None:
    messages = [sms(i, "big") for i in range(4)] + [sms(10, "small")]
    order = [m.message_id for m in interleave_workspaces(group_by_workspace(messages))]
    assert order == ["m0", "m10", "m1", "m2", "m3"]


def test_send_all_returns_one_outcome_per_message_in_order() -> None:
    failures = {
        "m1": RateLimitedError("HTTP 429", 429, retry_after=2),
        "m2": TransientProviderError("HTTP 503", 503),
        "m3": PermanentProviderError("HTTP 400: bad number", 400),
    }

    def send(message: QueuedMessage) -> ProviderReceipt:
        if message.message_id in failures:
            raise failures[message.message_id]
        return ProviderReceipt(messageId=f"p-{message.message_id}")

    messages = [sms(i, "a" if i % 2 else "b") for i in range(5)]
    outcomes = BatchSender(send, Unlimited, max_workers=4).send_all(messages, time.monotonic() + 10)

    assert [o.message_id for o in outcomes] == ["m0", "m1", "m2", "m3", "m4"]
    assert [o.kind for o in outcomes] == [
        OutcomeKind.SENT,
        OutcomeKind.RATE_LIMITED,
        OutcomeKind.TRANSIENT,
        OutcomeKind.PERMANENT,
        OutcomeKind.SENT,
    ]
    assert outcomes[0].provider_message_id == "p-m0"
    assert outcomes[1].retry_after == 2
    assert outcomes[3].reason == "HTTP 400: bad number"
    assert [o.kind.retryable for o in outcomes] == [False, True, True, False, False]


def test_sends_run_in_parallel_on_a_bounded_pool() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def send(message: QueuedMessage) -> ProviderReceipt:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return ProviderReceipt()

    messages = [sms(i, f"ws{i % 3}") for i in range(12)]
    BatchSender(send, Unlimited, max_workers=4).send_all(messages, time.monotonic() + 10)
    assert peak == 4


def test_messages_without_a_rate_slot_before_the_deadline_are_deferred_not_failed() -> None:
    sent: list[str] = []

    def send(message: QueuedMessage) -> ProviderReceipt:
        sent.append(message.message_id)
        return ProviderReceipt()

    # 10 per second and a 0.25 s budget: the slots at 0, 0.1 and 0.2 s fit, the rest do not.
    pacer = IntervalPacer(10)
    messages = [sms(i, "a") for i in range(6)]
    outcomes = BatchSender(send, lambda: pacer, max_workers=6).send_all(messages, time.monotonic() + 0.25)
    kinds = [o.kind for o in outcomes]
    assert kinds.count(OutcomeKind.SENT) == 3
    assert kinds.count(OutcomeKind.DEFERRED) == 3
    assert len(sent) == 3
    assert count_outcomes(outcomes) == {"a": Counters(total=3, success=3)}


def test_count_outcomes_follows_the_metric_meanings() -> None:
    def send(message: QueuedMessage) -> ProviderReceipt:
        errors = {
            "m0": PermanentProviderError("x", 400),
            "m1": RateLimitedError("x", 429),
            "m2": TransientProviderError("x", 500),
        }
        if message.message_id in errors:
            raise errors[message.message_id]
        return ProviderReceipt()

    messages = [sms(0, "a"), sms(1, "a"), sms(2, "b"), sms(3, "b"), sms(4, "a")]
    outcomes = BatchSender(send, Unlimited, max_workers=2).send_all(messages, time.monotonic() + 10)
    assert count_outcomes(outcomes) == {
        "a": Counters(total=2, success=1, failed=1, rate_limited=1),
        "b": Counters(total=1, success=1),
    }
