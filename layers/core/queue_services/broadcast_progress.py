"""A broadcast's progress counters: what each ledger status move adds to them (pure).

The broadcast's item counts its messages in `sending`, `sent`, `failed` (and by reason) and `cancelled`;
`queued` is what the total leaves. Each count is added in the same transaction as the conditional status
writes that earn it (adapters.settlement, adapters.ledger), so only a move that lands counts: a crash, a
redelivery or a replay never counts a message twice or loses it (README "Metrics").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from queue_services.statuses import MessageStatus

# The statuses counted on the broadcast's item; queued and scheduled are the rest of its total.
COUNTED = frozenset({MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.CANCELLED})


# What callers read as a broadcast's state (README "Broadcasts").
ReportedState = Literal["active", "done", "cancelled"]


def reported_state(marked_cancelled: bool, total: int, sent: int, failed: int, cancelled: int) -> ReportedState:
    """cancelled once a DELETE marked it so; done when none of its messages is left queued or sending (each
    one sent, failed or cancelled on its own); active otherwise. Derived from the counters on every read, so
    no write has to notice the last message."""
    if marked_cancelled:
        return "cancelled"
    return "done" if sent + failed + cancelled >= total else "active"


@dataclass(frozen=True)
class ProgressStep:
    """What one transaction adds to one broadcast's counters (negative: messages that left a status)."""

    by_status: Mapping[MessageStatus, int] = field(default_factory=dict)
    failed_by_reason: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_zero(self) -> bool:
        return not any(self.by_status.values()) and not any(self.failed_by_reason.values())


@dataclass(frozen=True)
class StatusMove:
    """One message's status move in the ledger: from, to, and the failure reason if it ends failed."""

    broadcast_id: str | None
    before: MessageStatus
    after: MessageStatus
    reason: str | None = None


def progress_steps(moves: Iterable[StatusMove]) -> dict[str, ProgressStep]:
    """Each broadcast's counter changes for these moves, broadcasts with no change left out."""
    by_status: dict[str, dict[MessageStatus, int]] = {}
    reasons: dict[str, dict[str, int]] = {}
    for move in moves:
        if move.broadcast_id is None or move.before == move.after:
            continue
        counts = by_status.setdefault(move.broadcast_id, {})
        if move.before in COUNTED:
            counts[move.before] = counts.get(move.before, 0) - 1
        if move.after in COUNTED:
            counts[move.after] = counts.get(move.after, 0) + 1
        if move.after is MessageStatus.FAILED:
            reason = move.reason or "unknown"
            per_reason = reasons.setdefault(move.broadcast_id, {})
            per_reason[reason] = per_reason.get(reason, 0) + 1
    steps = {
        broadcast_id: ProgressStep({status: n for status, n in counts.items() if n}, reasons.get(broadcast_id, {}))
        for broadcast_id, counts in by_status.items()
    }
    return {broadcast_id: step for broadcast_id, step in steps.items() if not step.is_zero}
