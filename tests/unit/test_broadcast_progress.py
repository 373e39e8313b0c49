"""What ledger moves add to a broadcast's progress counters, and how a batch's writes are cut into transactions."""

from __future__ import annotations

from queue_services.adapters.ledger import TRANSACTION_LIMIT, transaction_chunks
from queue_services.broadcast_progress import ProgressStep, StatusMove, progress_steps, reported_state
from queue_services.statuses import MessageStatus as S


def test_a_claim_counts_sending_and_its_settlement_moves_it_on() -> None:
    claims = progress_steps([StatusMove("b1", S.QUEUED, S.SENDING)] * 3)
    assert claims == {"b1": ProgressStep({S.SENDING: 3})}
    settled = progress_steps(
        [
            StatusMove("b1", S.SENDING, S.SENT),
            StatusMove("b1", S.SENDING, S.FAILED, "HTTP 400"),
            StatusMove("b1", S.SENDING, S.QUEUED),  # a retry: back to the queued the total leaves
        ]
    )
    assert settled == {"b1": ProgressStep({S.SENDING: -3, S.SENT: 1, S.FAILED: 1}, {"HTTP 400": 1})}


def test_a_claim_taken_over_from_a_crashed_delivery_counts_nothing_again() -> None:
    assert progress_steps([StatusMove("b1", S.SENDING, S.SENDING)]) == {}


def test_moves_between_uncounted_statuses_and_single_messages_count_nothing() -> None:
    moves = [StatusMove("b1", S.SCHEDULED, S.QUEUED), StatusMove(None, S.QUEUED, S.CANCELLED)]
    assert progress_steps(moves) == {}


def test_cancels_count_per_broadcast_and_leave_the_status_they_came_from() -> None:
    moves = [
        StatusMove("b1", S.SCHEDULED, S.CANCELLED),
        StatusMove("b2", S.SENDING, S.CANCELLED),
        StatusMove("b2", S.QUEUED, S.CANCELLED),
    ]
    assert progress_steps(moves) == {
        "b1": ProgressStep({S.CANCELLED: 1}),
        "b2": ProgressStep({S.SENDING: -1, S.CANCELLED: 2}),
    }


def test_a_failure_without_a_reason_is_counted_as_unknown() -> None:
    assert progress_steps([StatusMove("b1", S.QUEUED, S.FAILED)]) == {"b1": ProgressStep({S.FAILED: 1}, {"unknown": 1})}


def test_transactions_hold_their_records_and_a_counter_item_per_group_within_the_limit() -> None:
    ids = [f"m{i}" for i in range(120)]
    # Every record its own group (a workspace counter and a broadcast counter each): 33 records a transaction
    chunks = transaction_chunks(ids, lambda m: [f"w-{m}", f"b-{m}"], limit=50)
    assert [m for chunk in chunks for m in chunk] == ids
    assert all(len(chunk) * 3 <= TRANSACTION_LIMIT for chunk in chunks)
    assert len(chunks[0]) == 33


def test_records_of_one_group_fill_a_transaction_up_to_the_record_limit() -> None:
    ids = [f"m{i}" for i in range(230)]
    chunks = transaction_chunks(ids, lambda _m: ["w", "b"], limit=TRANSACTION_LIMIT)
    assert [len(chunk) for chunk in chunks] == [98, 98, 34]
    chunks = transaction_chunks(ids, lambda _m: [], limit=50)
    assert [len(chunk) for chunk in chunks] == [50, 50, 50, 50, 30]


def test_a_broadcast_reads_done_once_nothing_is_queued_or_sending_and_cancelled_once_marked() -> None:
    # marked cancelled, total, sent, failed, cancelled
    assert reported_state(False, 10, 0, 0, 0) == "active"
    assert reported_state(False, 10, 9, 0, 0) == "active"  # one still queued or sending
    assert reported_state(False, 10, 10, 0, 0) == "done"
    assert reported_state(False, 10, 6, 3, 1) == "done"  # every outcome counts as finished
    assert reported_state(False, 10, 0, 0, 10) == "done"  # its messages cancelled one by one
    assert reported_state(True, 10, 4, 0, 6) == "cancelled"  # the caller's cancel is what they read
    assert reported_state(True, 10, 0, 0, 0) == "cancelled"
