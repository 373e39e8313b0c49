"""Sends a batch of queued messages: workspace grouping, paced parallel sends, outcome per message."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from queue_services.errors import PermanentProviderError, ProviderError, RateLimitedError, TransientProviderError
from queue_services.masking import mask_recipient
from queue_services.models import Counters, ProviderReceipt, QueuedMessage
from queue_services.observability import logger
from queue_services.ratelimit import RateLimiter


class OutcomeKind(StrEnum):
    SENT = "sent"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    # Not attempted: no rate-limit slot within the invocation's time budget. Retried, never counted failed.
    DEFERRED = "deferred"

    @property
    def retryable(self) -> bool:
        return self in (OutcomeKind.RATE_LIMITED, OutcomeKind.TRANSIENT, OutcomeKind.DEFERRED)


@dataclass(frozen=True)
class DeliveryOutcome:
    message_id: str
    workspace_id: str
    kind: OutcomeKind
    reason: str | None = None
    provider_message_id: str | None = None
    retry_after: float | None = None


def outcome_for_error(message: QueuedMessage, error: ProviderError) -> DeliveryOutcome:
    """The retry/fail decision for a provider error, made here and nowhere else."""
    if isinstance(error, RateLimitedError):
        kind = OutcomeKind.RATE_LIMITED
    elif isinstance(error, PermanentProviderError):
        kind = OutcomeKind.PERMANENT
    elif isinstance(error, TransientProviderError):
        kind = OutcomeKind.TRANSIENT
    else:
        kind = OutcomeKind.TRANSIENT
    retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
    return DeliveryOutcome(message.message_id, message.workspace_id, kind, error.reason, retry_after=retry_after)


def group_by_workspace(messages: Iterable[QueuedMessage]) -> dict[str, list[QueuedMessage]]:
    """Messages per workspace, each list in arrival order."""
    groups: dict[str, list[QueuedMessage]] = defaultdict(list)
    for message in messages:
        groups[message.workspace_id].append(message)
    return dict(groups)


def interleave_workspaces(groups: dict[str, list[QueuedMessage]]) -> list[QueuedMessage]:
    """Round-robin across workspaces so one tenant's burst does not starve the others within a batch."""
    rounds = itertools.zip_longest(*groups.values())
    return [message for row in rounds for message in row if message is not None]


def count_outcomes(outcomes: Iterable[DeliveryOutcome]) -> dict[str, Counters]:
    """Per-workspace counters of DESIGN §3 (deferred messages count nowhere: they were not attempted)."""
    counts: dict[str, Counters] = defaultdict(Counters)
    for outcome in outcomes:
        step = Counters(
            success=int(outcome.kind is OutcomeKind.SENT),
            failed=int(outcome.kind is OutcomeKind.PERMANENT),
            rate_limited=int(outcome.kind is OutcomeKind.RATE_LIMITED),
        )
        step.total = step.success + step.failed
        counts[outcome.workspace_id] = counts[outcome.workspace_id] + step
    return dict(counts)


SendFunction = Callable[[QueuedMessage], ProviderReceipt]


class BatchSender:
    """Sends one batch through a provider on a bounded thread pool, each call gated by a rate limiter.

    new_limiter is called once per batch: the limiter paces one invocation (see ratelimit.IntervalPacer).
    """

    def __init__(self, send: SendFunction, new_limiter: Callable[[], RateLimiter], max_workers: int) -> None:
        self._send = send
        self._new_limiter = new_limiter
        self._max_workers = max_workers

    def send_all(self, messages: Sequence[QueuedMessage], deadline: float) -> list[DeliveryOutcome]:
        """One outcome per message, in the order given. deadline is a time.monotonic() value."""
        if not messages:
            return []
        limiter = self._new_limiter()
        order = {id(message): index for index, message in enumerate(messages)}
        ordered = interleave_workspaces(group_by_workspace(messages))
        outcomes: list[DeliveryOutcome | None] = [None] * len(messages)
        with ThreadPoolExecutor(max_workers=min(self._max_workers, len(ordered)), thread_name_prefix="send") as pool:
            for message, outcome in zip(
                ordered, pool.map(lambda m: self._send_one(m, limiter, deadline), ordered), strict=True
            ):
                outcomes[order[id(message)]] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def _send_one(self, message: QueuedMessage, limiter: RateLimiter, deadline: float) -> DeliveryOutcome:
        if not limiter.acquire(deadline):
            return DeliveryOutcome(message.message_id, message.workspace_id, OutcomeKind.DEFERRED, "no time left")
        started = time.monotonic()
        try:
            receipt = self._send(message)
        except ProviderError as error:
            outcome = outcome_for_error(message, error)
        else:
            outcome = DeliveryOutcome(
                message.message_id,
                message.workspace_id,
                OutcomeKind.SENT,
                provider_message_id=receipt.provider_message_id,
            )
        logger.info(
            "provider call",
            extra={
                "message_id": message.message_id,
                "workspace_id": message.workspace_id,
                "to": mask_recipient(message.to),
                "outcome": str(outcome.kind),
                "reason": outcome.reason,
                "ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return outcome
