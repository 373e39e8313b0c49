"""What a batch's outcomes mean for retries, the ledger and the log (pure decisions, no I/O)."""

from __future__ import annotations

from datetime import timedelta

from queue_services.batch_outcomes import (
    ReceivedMessage,
    RetryActions,
    earned_counts,
    ledger_updates,
    message_reports,
    plan_retries,
)
from queue_services.delivery import BEING_SENT, DeliveryOutcome, OutcomeKind
from queue_services.models import Counters
from queue_services.retry import RetryPolicy
from queue_services.statuses import MessageStatus
from tests.support.builders import NOW, ledger_record, queued_sms

POLICY = RetryPolicy(base_seconds=2, cap_seconds=300, max_attempts=8)
MAX_RECEIVE_COUNT = 10


def received(index: int, receive_count: int = 1, attempts: int = 0) -> ReceivedMessage:
    return ReceivedMessage(f"sqs-{index}", f"rh-{index}", receive_count, queued_sms(index, attempts=attempts))


def outcome(index: int, kind: OutcomeKind, **fields: object) -> DeliveryOutcome:
    return DeliveryOutcome(f"m{index}", "ws", kind, fields.pop("reason", "why"), **fields)  # type: ignore[arg-type]


def test_sent_failed_and_dropped_messages_need_no_retry() -> None:
    items = [received(1), received(2), received(3)]
    outcomes = {
        "sqs-1": outcome(1, OutcomeKind.SENT),
        "sqs-2": outcome(2, OutcomeKind.PERMANENT),
        "sqs-3": outcome(3, OutcomeKind.SKIPPED),
    }
    assert plan_retries(items, outcomes, POLICY, MAX_RECEIVE_COUNT) == RetryActions()


def test_a_rate_limited_message_is_hidden_for_retry_after() -> None:
    actions = plan_retries(
        [received(1)], {"sqs-1": outcome(1, OutcomeKind.RATE_LIMITED, retry_after=3.2)}, POLICY, MAX_RECEIVE_COUNT
    )
    assert actions == RetryActions(hide={"rh-1": 4})


def test_an_early_message_is_held_until_its_send_time_without_counting_an_attempt() -> None:
    actions = plan_retries(
        [received(1, receive_count=9)],
        {"sqs-1": outcome(1, OutcomeKind.DEFERRED, retry_after=40.0)},
        POLICY,
        MAX_RECEIVE_COUNT,
    )
    # At receive count 9 of 10, a fresh copy (SQS counts receives, not failures: a long pause or a cap
    # would otherwise dead-letter it), its attempts unchanged: holding is not an attempt.
    copy, delay = actions.requeue["sqs-1"]
    assert (copy.attempts, copy.last_error, delay) == (0, None, 40)
    assert actions.hide == {}


def test_a_held_message_is_hidden_while_it_has_receives_left() -> None:
    actions = plan_retries(
        [received(1, receive_count=3)],
        {"sqs-1": outcome(1, OutcomeKind.DEFERRED, retry_after=4.0, reason="workspace paused")},
        POLICY,
        MAX_RECEIVE_COUNT,
    )
    assert actions == RetryActions(hide={"rh-1": 4})


def test_one_short_of_max_receive_count_a_fresh_copy_carries_the_attempts() -> None:
    actions = plan_retries(
        [received(1, receive_count=9)],
        {"sqs-1": outcome(1, OutcomeKind.RATE_LIMITED, retry_after=1.0, reason="429")},
        POLICY,
        MAX_RECEIVE_COUNT,
    )
    copy, delay = actions.requeue["sqs-1"]
    assert (copy.attempts, copy.last_error, delay) == (9, "429", 1)
    assert actions.hide == {}
    assert actions.dead_letter == {}


def test_transient_failures_past_max_attempts_are_dead_lettered_with_the_last_error() -> None:
    actions = plan_retries(
        [received(1, receive_count=3, attempts=5)],
        {"sqs-1": outcome(1, OutcomeKind.TRANSIENT, reason="503")},
        POLICY,
        MAX_RECEIVE_COUNT,
    )
    copy = actions.dead_letter["sqs-1"]
    assert (copy.attempts, copy.last_error) == (8, "503")
    assert actions.hide == {}


def test_rate_limits_never_dead_letter_however_many_attempts() -> None:
    actions = plan_retries(
        [received(1, receive_count=3, attempts=50)],
        {"sqs-1": outcome(1, OutcomeKind.RATE_LIMITED, retry_after=1.0)},
        POLICY,
        MAX_RECEIVE_COUNT,
    )
    assert actions.dead_letter == {}
    assert actions.hide == {"rh-1": 1}


def test_ledger_updates_follow_each_outcome() -> None:
    messages = [queued_sms(n) for n in range(1, 6)]
    records = {m.message_id: ledger_record(m, attempts=1) for m in messages}
    records["m5"] = ledger_record(messages[4], status=MessageStatus.QUEUED)
    outcomes = {
        "sqs-1": outcome(1, OutcomeKind.SENT, provider_message_id="p-1"),
        "sqs-2": outcome(2, OutcomeKind.PERMANENT, reason="invalid number"),
        "sqs-3": outcome(3, OutcomeKind.TRANSIENT, reason="503"),
        "sqs-4": outcome(4, OutcomeKind.SKIPPED),
        "sqs-5": outcome(5, OutcomeKind.DEFERRED, retry_after=30.0),  # held before its claim
    }
    later = NOW + timedelta(seconds=5)
    updated = {r.message_id: r for r in ledger_updates(outcomes, records, {"sqs-3"}, later)}
    assert set(updated) == {"m1", "m2", "m3"}
    assert (updated["m1"].status, updated["m1"].attempts, updated["m1"].provider_message_id) == ("sent", 2, "p-1")
    assert updated["m1"].sent_at == later
    assert (updated["m2"].status, updated["m2"].last_error) == ("failed", "invalid number")
    assert (updated["m3"].status, updated["m3"].dead_lettered, updated["m3"].last_error) == ("queued", True, "503")
    assert all(r.updated_at == later for r in updated.values())


def test_a_replayed_send_is_not_counted_as_another_attempt() -> None:
    message = queued_sms(1)
    records = {"m1": ledger_record(message, attempts=1)}
    (record,) = ledger_updates({"sqs-1": outcome(1, OutcomeKind.SENT, replayed=True)}, records, set(), NOW)
    assert (record.status, record.attempts) == ("sent", 1)


def test_each_message_is_reported_with_what_happened_to_it() -> None:
    items = [received(n, receive_count=9 if n == 5 else 1) for n in range(1, 8)]
    outcomes = {
        "sqs-1": outcome(1, OutcomeKind.SENT),
        "sqs-2": outcome(2, OutcomeKind.PERMANENT, reason="invalid number"),
        "sqs-3": outcome(3, OutcomeKind.SKIPPED, reason="ledger says cancelled"),
        "sqs-4": outcome(4, OutcomeKind.RATE_LIMITED, retry_after=2.0),
        "sqs-5": outcome(5, OutcomeKind.RATE_LIMITED, retry_after=2.0),
        "sqs-6": outcome(6, OutcomeKind.DEFERRED, retry_after=30.0),
        "sqs-7": outcome(7, OutcomeKind.SENT, replayed=True),
    }
    actions = plan_retries(items, outcomes, POLICY, MAX_RECEIVE_COUNT)
    reports = {r.message_id: r for r in message_reports(items, outcomes, actions, {"sqs-5"}, set())}
    assert {m: r.event for m, r in reports.items()} == {
        "m1": "sent",
        "m2": "failed",
        "m3": "dropped",
        "m4": "retried",
        "m5": "retried",
        "m6": "held",
        "m7": "already sent",
    }
    assert [m for m, r in reports.items() if r.warning] == ["m2"]
    assert reports["m2"].reason == "invalid number"
    assert (reports["m4"].retry_in_seconds, reports["m5"].attempts) == (2, 9)


def test_a_dead_lettered_message_is_a_warning_with_its_attempts() -> None:
    items = [received(1, receive_count=8)]
    outcomes = {"sqs-1": outcome(1, OutcomeKind.TRANSIENT, reason="503")}
    actions = plan_retries(items, outcomes, POLICY, MAX_RECEIVE_COUNT)
    (report,) = message_reports(items, outcomes, actions, {"sqs-1"}, {"sqs-1"})
    assert (report.event, report.warning, report.attempts, report.reason) == ("dead-lettered", True, 8, "503")


def test_final_statuses_earn_their_counts_by_workspace_and_retries_earn_none() -> None:
    sent, failed, retry, other = (queued_sms(n, "w1") for n in range(1, 5))
    records = [
        ledger_record(sent, status=MessageStatus.SENT),
        ledger_record(failed, status=MessageStatus.FAILED),
        ledger_record(retry, status=MessageStatus.QUEUED),
        ledger_record(queued_sms(5, "w2"), status=MessageStatus.SENT),
        ledger_record(other, status=MessageStatus.SENT),
    ]
    assert earned_counts(records) == {
        "w1": Counters(total=3, success=2, failed=1),
        "w2": Counters(total=1, success=1),
    }
    assert earned_counts([]) == {}


def test_a_message_another_delivery_is_sending_leaves_its_record_to_that_delivery() -> None:
    message = queued_sms(1)
    records = {"m1": ledger_record(message)}
    deferred = outcome(1, OutcomeKind.DEFERRED, reason=BEING_SENT)
    assert ledger_updates({"sqs-1": deferred}, records, set(), NOW) == []
