"""A scheduled broadcast's fan-out: when its one schedule fires, the worker that gets the order queues the
broadcast's messages from their stored copies, or cancels them if the broadcast was cancelled meanwhile."""

from __future__ import annotations

import json
import math
from datetime import datetime

from queue_services.adapters.broadcasts import BroadcastStore
from queue_services.adapters.ledger import Ledger
from queue_services.adapters.send_queue import SendQueue
from queue_services.broadcasts import enqueue_all
from queue_services.codec import decode_queued_message
from queue_services.errors import DependencyUnavailable
from queue_services.models import MAX_SQS_DELAY_SECONDS
from queue_services.observability import logger
from queue_services.statuses import MessageStatus


def fanout_order(body: str) -> str | None:
    """The broadcastId of a fan-out order (the schedule's body: {"fanout": id, "channel": ...}), else None."""
    if '"fanout"' not in body:
        return None
    try:
        order = json.loads(body)
    except ValueError:
        return None
    broadcast_id = order.get("fanout") if isinstance(order, dict) else None
    return broadcast_id if isinstance(broadcast_id, str) and broadcast_id else None


class BroadcastFanout:
    """Runs fan-out orders. Safe to run again: only records still `scheduled` are queued, the copies go
    before the status write (a crash in between queues a copy twice, which the ledger claim and the send's
    idempotency turn into one send), and a copy is queued once its record says so."""

    def __init__(self, ledger: Ledger, broadcasts: BroadcastStore, bulk_queue: SendQueue) -> None:
        self._ledger = ledger
        self._broadcasts = broadcasts
        self._queue = bulk_queue

    def run(self, broadcast_id: str, now: datetime) -> int:
        """Queue (or cancel) the broadcast's scheduled messages; returns how many were queued. Raises
        DependencyUnavailable if some could not be, so that the order is retried for the rest."""
        pending = self._ledger.broadcast_versions(broadcast_id, MessageStatus.SCHEDULED)
        if not pending:
            return 0
        if self._broadcasts.cancelled_among([broadcast_id]):
            self._ledger.cancel_many(pending, now, dict.fromkeys(pending, (broadcast_id, MessageStatus.SCHEDULED)))
            return 0
        records = self._ledger.get_many(pending)
        copies = [decode_queued_message(r.payload) for r in records.values() if r.payload is not None]
        # The order lands up to a minute early (Scheduler's precision): the copies wait in SQS for the rest.
        delay = (
            max(0, min(MAX_SQS_DELAY_SECONDS, math.floor((copies[0].send_at - now).total_seconds()))) if copies else 0
        )
        not_queued = enqueue_all(self._queue, copies, delay)
        queued = {message.message_id: pending[message.message_id] for message in copies}
        for message_id in not_queued:
            queued.pop(message_id, None)
        self._ledger.mark_queued(queued, now)
        logger.info("broadcast fanned out", extra={"broadcast_id": broadcast_id, "queued": len(queued)})
        if not_queued:
            raise DependencyUnavailable(f"{len(not_queued)} of the broadcast's messages could not be queued yet")
        return len(queued)
