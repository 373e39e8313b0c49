"""Grouping by workspace, paced parallel sending and outcome counting (no network)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from queue_services.delivery import (
    EXPIRED,
    BatchSender,
    OutcomeKind,
    cap_wait_seconds,
    capped_attempts,
    count_outcomes,
    group_by_workspace,
    interleave_workspaces,
    make_send_once,
    spread_among,
)
from queue_services.errors import PermanentProviderError, RateLimitedError, TransientProviderError
from queue_services.models import Counters, ProviderReceipt, QueuedMessage, QueuedSms
from queue_services.ratelimit import SlotPlan
from tests.support.builders import NOW, queued_sms


def sms(index: int, workspace: str) -> QueuedSms:
    return queued_sms(index, workspace)


class Unlimited:
    def __init__(self, demand: int | None = None) -> None:
        self.demand = demand
        self.pauses: list[float | None] = []
        self.tokens: list[int] = []

    def acquire(self, deadline: float, tokens: int = 1) -> bool:
        self.tokens.append(tokens)
        return True

    def slow_down(self, retry_after: float | None) -> None:
        self.pauses.append(retry_after)


class Budget:
    """Grants a fixed number of calls, then none (as a limiter whose next slot is past the deadline)."""

    def __init__(self, calls: int) -> None:
        self.left = calls
        self.lock = threading.Lock()

    def acquire(self, deadline: float, tokens: int = 1) -> bool:
        with self.lock:
            self.left -= 1
            return self.left >= 0

    def slow_down(self, retry_after: float | None) -> None:
        pass


def sender(send: Callable[[QueuedMessage], ProviderReceipt], limiter: Any = None, workers: int = 4) -> BatchSender:
    chosen = limiter if limiter is not None else Unlimited()
    return BatchSender(make_send_once(lambda message, _: send(message)), lambda demand: chosen, max_workers=workers)


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
    outcomes = sender(send).send_all(messages, time.monotonic() + 10)

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
    sender(send).send_all(messages, time.monotonic() + 10)
    assert peak == 4


def test_messages_without_a_rate_slot_before_the_deadline_are_deferred_not_failed() -> None:
    sent: list[str] = []

    def send(message: QueuedMessage) -> ProviderReceipt:
        sent.append(message.message_id)
        return ProviderReceipt()

    outcomes = sender(send, Budget(3), workers=6).send_all([sms(i, "a") for i in range(6)], time.monotonic() + 1)
    kinds = [o.kind for o in outcomes]
    assert kinds.count(OutcomeKind.SENT) == 3
    assert kinds.count(OutcomeKind.DEFERRED) == 3
    assert len(sent) == 3
    assert count_outcomes(outcomes) == {"a": Counters(total=3, success=3)}


def test_a_429_slows_the_whole_channel_down_for_retry_after() -> None:
    def send(message: QueuedMessage) -> ProviderReceipt:
        raise RateLimitedError("HTTP 429", 429, retry_after=3)

    limiter = Unlimited()
    outcomes = sender(send, limiter).send_all([sms(0, "a")], time.monotonic() + 1)
    assert outcomes[0].kind is OutcomeKind.RATE_LIMITED
    assert limiter.pauses == [3]


def test_expired_messages_are_failed_without_a_provider_call() -> None:
    calls: list[str] = []

    def send(message: QueuedMessage) -> ProviderReceipt:
        calls.append(message.message_id)
        return ProviderReceipt()

    stale = sms(0, "a").model_copy(update={"expires_at": NOW - timedelta(seconds=1)})
    fresh = sms(1, "a").model_copy(update={"expires_at": datetime.now(UTC) + timedelta(minutes=5)})
    outcomes = sender(send).send_all([stale, fresh], time.monotonic() + 1)
    assert [(o.kind, o.reason) for o in outcomes] == [(OutcomeKind.PERMANENT, EXPIRED), (OutcomeKind.SENT, None)]
    assert calls == ["m1"]
    assert count_outcomes(outcomes) == {"a": Counters(total=2, success=1, failed=1)}


def test_replayed_sends_are_not_counted_twice() -> None:
    first_attempts: dict[str, str] = {}

    def remembering_send_once(**kwargs: Any) -> dict[str, Any]:
        # What the idempotency layer answers for a message sent before: the first call's result.
        message_id = kwargs["payload"]["messageId"]
        first_attempts.setdefault(message_id, kwargs["attempt_id"])
        return {"providerMessageId": "p", "attemptId": first_attempts[message_id]}

    batch_sender = BatchSender(remembering_send_once, Unlimited, max_workers=2)
    first = batch_sender.send_all([sms(0, "a")], time.monotonic() + 1)
    again = batch_sender.send_all([sms(0, "a")], time.monotonic() + 1)
    assert (first[0].replayed, again[0].replayed) == (False, True)
    assert count_outcomes(again) == {}


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
    outcomes = sender(send, workers=2).send_all(messages, time.monotonic() + 10)
    assert count_outcomes(outcomes) == {
        "a": Counters(total=2, success=1, failed=1, rate_limited=1),
        "b": Counters(total=1, success=1),
    }


def test_a_message_due_in_a_moment_is_sent_at_its_time() -> None:
    sent_at: list[float] = []

    def send(message: QueuedMessage) -> ProviderReceipt:
        sent_at.append(time.time())
        return ProviderReceipt()

    due = datetime.now(UTC) + timedelta(seconds=0.3)
    outcomes = sender(send).send_all([sms(0, "a").model_copy(update={"send_at": due})], time.monotonic() + 5)
    assert outcomes[0].kind is OutcomeKind.SENT
    assert sent_at[0] >= due.timestamp()


def test_a_message_due_after_the_deadline_is_deferred_until_then() -> None:
    def send(message: QueuedMessage) -> ProviderReceipt:
        raise AssertionError("must not be sent early")

    due = datetime.now(UTC) + timedelta(seconds=30)
    outcomes = sender(send).send_all([sms(0, "a").model_copy(update={"send_at": due})], time.monotonic() + 1)
    assert outcomes[0].kind is OutcomeKind.DEFERRED
    assert outcomes[0].retry_after == pytest.approx(30, abs=1)


def test_a_message_that_expires_while_waiting_for_its_slot_is_not_sent() -> None:
    calls: list[str] = []

    def send(message: QueuedMessage) -> ProviderReceipt:
        calls.append(message.message_id)
        return ProviderReceipt()

    class SlowLimiter(Unlimited):
        def acquire(self, deadline: float, tokens: int = 1) -> bool:
            time.sleep(0.3)  # the channel was slowed down by a 429
            return True

    expires = datetime.now(UTC) + timedelta(seconds=0.2)
    message = sms(0, "a").model_copy(update={"expires_at": expires})
    outcomes = sender(send, SlowLimiter()).send_all([message], time.monotonic() + 5)
    assert (outcomes[0].kind, outcomes[0].reason) == (OutcomeKind.PERMANENT, EXPIRED)
    assert calls == []


def test_each_message_acquires_its_own_tokens_and_the_batch_asks_for_their_sum() -> None:
    # Given a sender that counts a message's tokens as its index + 1 (as segments would)
    made: list[Unlimited] = []

    def new_limiter(demand: int) -> Unlimited:
        made.append(Unlimited(demand))
        return made[-1]

    batch_sender = BatchSender(
        make_send_once(lambda message, sender: ProviderReceipt()),
        new_limiter,
        max_workers=1,
        tokens_for=lambda message: int(message.message_id[1:]) + 1,
    )
    # When a batch of three is sent
    batch_sender.send_all([sms(0, "a"), sms(1, "a"), sms(2, "a")], time.monotonic() + 10)
    # Then the batch's limiter was sized for 1 + 2 + 3 tokens and each call took its own
    assert made[0].demand == 6
    assert sorted(made[0].tokens) == [1, 2, 3]


def test_each_workspace_gets_its_sender_and_a_capped_one_waits_for_its_own_slots() -> None:
    # Given a batch of two workspaces, "capped" with a cap whose limiter grants one call and no more
    calls: list[tuple[str, str | None]] = []
    made: dict[str, tuple[float, int]] = {}

    def new_workspace_limiter(workspace: str, cap: float, demand: int) -> Budget:
        made[workspace] = (cap, demand)
        return Budget(1)

    batch_sender = BatchSender(
        make_send_once(lambda message, sender: calls.append((message.message_id, sender)) or ProviderReceipt()),
        lambda demand: Unlimited(demand),
        max_workers=2,
        new_workspace_limiter=new_workspace_limiter,
    )
    messages = [sms(0, "capped"), sms(1, "capped"), sms(2, "free"), sms(3, "free")]
    # When it is sent with senders and caps by workspace
    outcomes = batch_sender.send_all(
        messages, time.monotonic() + 10, senders={"capped": "Acme", "free": None}, caps={"capped": 10, "free": None}
    )
    # Then only the capped workspace got a limiter of its own, sized for its two messages
    assert made == {"capped": (10, 2)}
    # And its second message went back to SQS for a second, unattempted, while the other workspace's went
    kinds = {outcome.message_id: (outcome.kind, outcome.reason) for outcome in outcomes}
    assert sorted(kind for kind, _ in kinds.values()).count(OutcomeKind.DEFERRED) == 1
    deferred = next(outcome for outcome in outcomes if outcome.kind is OutcomeKind.DEFERRED)
    assert (deferred.workspace_id, deferred.reason, deferred.retry_after) == ("capped", "workspace rate cap", 1.0)
    # And each call carried its workspace's sender
    sent_capped = "m1" if deferred.message_id == "m0" else "m0"
    assert sorted(calls) == sorted([(sent_capped, "Acme"), ("m2", None), ("m3", None)])


def test_capped_messages_without_a_slot_go_back_until_their_places_in_the_line_booked_once() -> None:
    booked: list[tuple[str, float, int]] = []

    def cap_line(workspace: str, cap: float, count: int) -> list[float]:
        booked.append((workspace, cap, count))
        return [12.5 + n for n in range(count)]

    batch_sender = BatchSender(
        make_send_once(lambda message, sender: ProviderReceipt()),
        lambda demand: Unlimited(demand),
        max_workers=2,
        new_workspace_limiter=lambda workspace, cap, demand: Budget(0),
        cap_line=cap_line,
    )
    outcomes = batch_sender.send_all([sms(0, "capped"), sms(1, "capped")], time.monotonic() + 10, caps={"capped": 10})
    # One booking for the batch's two, each with its own place
    assert booked == [("capped", 10, 2)]
    assert [(o.kind, o.reason, o.retry_after) for o in outcomes] == [
        (OutcomeKind.DEFERRED, "workspace rate cap", 12.5),
        (OutcomeKind.DEFERRED, "workspace rate cap", 13.5),
    ]


def test_a_batch_spreads_capped_workspaces_messages_among_the_others_first_first() -> None:
    # Capped calls that find no workspace slot give their channel slot back; an uncapped call after each
    # is there to take it, and the threads are never all on the capped workspace.
    attempted: list[str] = []
    batch_sender = BatchSender(
        make_send_once(lambda message, sender: attempted.append(message.message_id) or ProviderReceipt()),
        lambda demand: Unlimited(demand),
        max_workers=1,
        new_workspace_limiter=lambda workspace, cap, demand: Unlimited(demand),
    )
    messages = [sms(0, "free"), sms(1, "capped"), sms(2, "other"), sms(3, "capped"), sms(4, "free")]
    batch_sender.send_all(messages, time.monotonic() + 10, caps={"capped": 10})
    assert attempted == ["m1", "m0", "m3", "m2", "m4"]


@pytest.mark.parametrize(
    ("few", "many", "expected"),
    [
        (["c0", "c1"], ["u0", "u1", "u2"], ["c0", "u0", "c1", "u1", "u2"]),
        (
            ["c0", "c1", "c2"],
            ["u0", "u1", "u2", "u3", "u4", "u5"],
            ["c0", "u0", "u1", "c1", "u2", "u3", "c2", "u4", "u5"],
        ),
        (["c0", "c1"], [], ["c0", "c1"]),
        ([], ["u0", "u1"], ["u0", "u1"]),
        (["c0", "c1", "c2", "c3"], ["u0"], ["c0", "c1", "c2", "c3", "u0"]),  # more few than many: as far as they go
    ],
)
def test_spread_among_places_the_few_evenly_and_keeps_every_message_once(
    few: list[str], many: list[str], expected: list[str]
) -> None:
    by_id = {name: sms(index, name[0]).model_copy(update={"message_id": name}) for index, name in enumerate(few + many)}
    ordered = spread_among([by_id[n] for n in few], [by_id[n] for n in many])
    assert [m.message_id for m in ordered] == expected


@pytest.mark.parametrize(
    ("batch_tokens", "slots_per_second", "cap", "attempts"),
    [
        (50, 49, 10, 11),  # 1.02 s of the channel at 9 workspace slots a second: 10, and one more
        (20, 49, 10, 10),  # a small batch still counts a whole second
        (100, 49, 5, 10),  # 2.04 s at 4 slots a second: 9, and one more
        (50, 49, 50, 51),  # a cap at the channel's rate: the whole batch, and one more
    ],
)
def test_capped_attempts_are_what_the_cap_allows_while_the_batch_drains(
    batch_tokens: int, slots_per_second: int, cap: float, attempts: int
) -> None:
    assert capped_attempts(batch_tokens, slots_per_second, cap) == attempts


def over_cap_sender(booked: list[tuple[str, float, int]], plan: SlotPlan | None) -> BatchSender:
    def cap_line(workspace: str, cap: float, count: int) -> list[float]:
        booked.append((workspace, cap, count))
        return [3.0 + n for n in range(count)]

    return BatchSender(
        make_send_once(lambda message, sender: ProviderReceipt()),
        lambda demand: Unlimited(demand),
        max_workers=2,
        cap_line=cap_line,
        channel_plan=plan,
    )


def test_a_capped_workspaces_messages_past_its_batch_share_go_back_untried_to_their_places_in_line() -> None:
    # Given a batch of 50 at 50/s: 30 from a workspace capped at 10/s (11 tried) and 20 uncapped
    booked: list[tuple[str, float, int]] = []
    batch_sender = over_cap_sender(booked, SlotPlan.for_rate(50))
    messages = {f"sqs{n}": sms(n, "capped" if n < 30 else "free") for n in range(50)}
    # When the batch's over-cap messages are held
    held = batch_sender.hold_over_caps(messages, {"capped": 10, "free": None})
    # Then the capped workspace's 12th to 30th go back, each to its own place in the line, booked once
    assert sorted(held, key=lambda key: int(key[3:])) == [f"sqs{n}" for n in range(11, 30)]
    assert booked == [("capped", 10, 19)]
    assert [(o.kind, o.reason, o.retry_after) for o in held.values()] == [
        (OutcomeKind.DEFERRED, "workspace rate cap", 3.0 + n) for n in range(19)
    ]


def test_nothing_is_held_over_cap_without_uncapped_messages_or_without_the_channel_plan() -> None:
    booked: list[tuple[str, float, int]] = []
    only_capped = {f"sqs{n}": sms(n, "capped") for n in range(30)}
    mixed = {**only_capped, "sqs99": sms(99, "free")}
    # A batch of one capped workspace only waits for its own slots (CappedLimiter): nothing to make room for
    assert over_cap_sender(booked, SlotPlan.for_rate(50)).hold_over_caps(only_capped, {"capped": 10}) == {}
    assert over_cap_sender(booked, None).hold_over_caps(mixed, {"capped": 10}) == {}
    assert booked == []


@pytest.mark.parametrize(("cap", "wait"), [(10, 1.0), (1, 1.375), (0.5, 2.55)])
def test_a_capped_message_waits_for_a_workspace_slot_at_least_a_second_or_a_slot_and_a_quarter(
    cap: float, wait: float
) -> None:
    assert cap_wait_seconds(SlotPlan.for_rate(cap)) == pytest.approx(wait)
