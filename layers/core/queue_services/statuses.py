"""The message status rules in one place: which statuses are final, pending, claimable and cancellable.

queued → sending → sent | failed; scheduled → queued (when it fires) → ...; queued | scheduled → cancelled.
A message in `sending` whose worker died is claimed again by the next delivery of its SQS copy.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Never changes again: a queued copy of such a message is dropped.
FINAL = frozenset({MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.CANCELLED})
# Not yet handed to a worker: may still be cancelled or rescheduled.
PENDING = frozenset({MessageStatus.QUEUED, MessageStatus.SCHEDULED})
# A worker may claim it for sending (a claim left by a crashed worker included).
CLAIMABLE = PENDING | {MessageStatus.SENDING}


def is_final(status: MessageStatus) -> bool:
    return status in FINAL


def is_cancellable(status: MessageStatus) -> bool:
    """Cancel and reschedule are allowed only before a worker has claimed the message."""
    return status in PENDING


def accepted_status(via_scheduler: bool) -> MessageStatus:
    """The status of a newly accepted (or rescheduled) message."""
    return MessageStatus.SCHEDULED if via_scheduler else MessageStatus.QUEUED
