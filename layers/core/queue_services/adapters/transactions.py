"""TransactWriteItems refusals: the records a cancelled transaction refused, and when to try it again.

Counter items (a workspace's metrics, a broadcast's progress) are shared by concurrent batches: DynamoDB
cancels a transaction that meets another one on an item (TransactionConflict) and botocore does not retry
that, so the caller writes the same transaction again after a short random wait.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

CONFLICT_RETRIES = 5
CONFLICT_BACKOFF_SECONDS = 0.02


def refused(refusal: dict[str, Any], ids: Sequence[str]) -> set[str]:
    """The ids (in the transaction's first items, in order) whose condition failed."""
    reasons = refusal.get("CancellationReasons") or []
    return {
        item_id for item_id, reason in zip(ids, reasons, strict=False) if reason.get("Code") == "ConditionalCheckFailed"
    }


def met_a_conflict(refusal: dict[str, Any]) -> bool:
    """Whether the transaction was cancelled by a concurrent one (nothing was written: try it again)."""
    return any(reason.get("Code") == "TransactionConflict" for reason in refusal.get("CancellationReasons") or [])


def wait_before_retry(conflicts: int) -> None:
    """A random wait, doubling with each conflict met (conflicts: how many so far, from 1)."""
    time.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * 2**conflicts))
