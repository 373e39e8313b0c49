"""Sends a batch of queued messages: workspace grouping, paced parallel sends, outcome per message."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)

from queue_services.errors import (
    DependencyUnavailable,
    PermanentProviderError,
    ProviderError,
    QueueServicesError,
    RateLimitedError,
    TransientProviderError,
)
from queue_services.masking import mask_recipient
from queue_services.models import Counters, ProviderReceipt, QueuedMessage
from queue_services.observability import logger
from queue_services.ratelimit import (
    CappedBesideOthers,
    CappedLimiter,
    RateLimiter,
    SharedRateLimiter,
    SlotClaimer,
    SlotPlan,
    WorkspaceCapReached,
)

EXPIRED = "expired"
# Deferred because another delivery of the same message is sending it now: its record is that one's to write.
BEING_SENT = "being sent by another delivery"


class OutcomeKind(StrEnum):
    SENT = "sent"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    # Not attempted: no rate-limit slot within the invocation's time budget, or arrived before its send
    # time (retry_after says how long to wait). Retried, never counted failed.
    DEFERRED = "deferred"
    # Not attempted and not to be: cancelled, already final, or a stale copy of a rescheduled message.
    SKIPPED = "skipped"

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
    # Sent by an earlier delivery of the same message (the idempotency record answered); not counted again.
    replayed: bool = False


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


def capped_attempts(batch_tokens: int, channel_slots_per_second: float, cap: float) -> int:
    """How many of a capped workspace's messages a batch beside uncapped ones tries: what its cap allows
    while the batch would drain at the channel's whole rate, and one more (pure).

    The rest go back to the workspace's waiting line untried (BatchSender.hold_over_caps): a first pass
    over a capped backlog otherwise claimed every one of its messages in the ledger, wrote and deleted
    an idempotency record and claimed a workspace slot for each, while the batch's other messages
    waited, and the channel went a fifth to a third unused (bench/RESULTS.md, tenants).
    """
    batch_seconds = max(1.0, batch_tokens / max(1.0, channel_slots_per_second))
    return math.ceil(SlotPlan.for_rate(cap).slots_per_second * batch_seconds) + 1


def spread_among(few: Sequence[QueuedMessage], many: Sequence[QueuedMessage]) -> list[QueuedMessage]:
    """few placed evenly among many, the first of them first: every thread of the pool is never busy with
    few at once, and the slots their calls give back find one of many still to take them."""
    if not many:
        return list(few)
    step = (len(many) + len(few)) / max(1, len(few))
    positions = {math.floor(index * step) for index in range(len(few))}
    ordered: list[QueuedMessage] = []
    rest, extra = iter(many), iter(few)
    for position in range(len(many) + len(few)):
        chosen = next(extra, None) if position in positions else None
        ordered.append(chosen if chosen is not None else next(rest))
    return ordered


def count_outcomes(outcomes: Iterable[DeliveryOutcome]) -> dict[str, Counters]:
    """Per-workspace counters of DESIGN §3 (deferred messages count nowhere: they were not attempted)."""
    counts: dict[str, Counters] = defaultdict(Counters)
    for outcome in outcomes:
        if outcome.replayed:
            continue
        step = Counters(
            success=int(outcome.kind is OutcomeKind.SENT),
            failed=int(outcome.kind is OutcomeKind.PERMANENT),
            rate_limited=int(outcome.kind is OutcomeKind.RATE_LIMITED),
        )
        step.total = step.success + step.failed
        counts[outcome.workspace_id] = counts[outcome.workspace_id] + step
    return dict(counts)


class NoRateSlot(QueueServicesError):
    """No rate-limit slot within the invocation's time budget: the message was not attempted."""


# A capped workspace's message waits at most this long for a slot of its workspace (messages coming back
# from its waiting line arrive in whole-second groups), then goes back to SQS until its place in the line.
CAP_WAIT_SECONDS = 1.0


def cap_wait_seconds(plan: SlotPlan) -> float:
    """How long a capped message waits for a slot of its workspace: CAP_WAIT_SECONDS, or a slot's length
    and a quarter for a cap under 2 a second (its slots are 1.1 s apart or more: a shorter wait would hand
    many of its messages back without a slot to be had)."""
    return max(CAP_WAIT_SECONDS, plan.slot_seconds * 1.25)


CAP_RETRY_SECONDS = 1.0
CAPPED = "workspace rate cap"


class ExpiredWhileWaiting(QueueServicesError):
    """The message's expiresAt passed while it waited for a rate-limit slot: it must not be sent."""


class SendOnce(Protocol):
    """Sends one message at most once (Powertools Idempotency keyed by messageId), the rate-limit acquire
    of its tokens included; returns {"providerMessageId", "attemptId"} of the call that did send it."""

    def __call__(
        self,
        *,
        payload: dict[str, Any],
        message: QueuedMessage,
        limiter: RateLimiter,
        tokens: int,
        deadline: float,
        attempt_id: str,
        sender: str | None = None,
    ) -> dict[str, Any]: ...


def make_send_once(
    send: Callable[[QueuedMessage, str | None], ProviderReceipt],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SendOnce:
    """The body of the idempotent unit: wait for its slots, call the provider, push back on a 429."""

    def send_once(
        *,
        payload: dict[str, Any],
        message: QueuedMessage,
        limiter: RateLimiter,
        tokens: int,
        deadline: float,
        attempt_id: str,
        sender: str | None = None,
    ) -> dict[str, Any]:
        if not limiter.acquire(deadline, tokens):
            raise NoRateSlot("no rate-limit slot before the invocation's deadline")
        if message.is_expired(clock()):
            # A slowed channel can make a message wait past its deadline for its slot.
            raise ExpiredWhileWaiting(EXPIRED)
        try:
            receipt = send(message, sender)
        except RateLimitedError as error:
            try:
                limiter.slow_down(error.retry_after)
            except DependencyUnavailable as exc:
                # The 429 still counts and the message is still retried; only the channel-wide pause is lost.
                logger.warning("could not slow the channel down", extra={"error": str(exc)})
            raise
        return {"providerMessageId": receipt.provider_message_id, "attemptId": attempt_id}

    return send_once


class BatchSender:
    """Sends one batch on a bounded thread pool; every message goes through the idempotent send_once.

    new_limiter is called once per batch with the rate-limit tokens its messages take (tokens_for: 1 per
    message, or an SMS's segments): the invocation's handle on the channel's shared limiter.
    new_workspace_limiter(workspace, cap, demand) does the same for each capped workspace of the batch; its
    messages take a slot of their workspace (waiting at most cap_wait_seconds), then one of the channel.
    """

    def __init__(
        self,
        send_once: SendOnce,
        new_limiter: Callable[[int], RateLimiter],
        max_workers: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tokens_for: Callable[[QueuedMessage], int] = lambda message: 1,
        new_workspace_limiter: Callable[[str, float, int], RateLimiter] | None = None,
        cap_line: Callable[[str, float, int], list[float]] | None = None,
        workspace_claimer: Callable[[str, float], SlotClaimer] | None = None,
        new_bulk_limiter: Callable[[int], RateLimiter] | None = None,
        channel_plan: SlotPlan | None = None,
    ) -> None:
        # The channel's slots (hold_over_caps); None: every capped message is tried.
        self._channel_plan = channel_plan
        self._workspace_claimer = workspace_claimer
        # A broadcast's batch: the same channel, claiming only a little ahead, so single sends go first.
        self._new_bulk_limiter = new_bulk_limiter or new_limiter
        self._send_once = send_once
        self._new_limiter = new_limiter
        self._tokens_for = tokens_for
        self._new_workspace_limiter = new_workspace_limiter
        self._cap_line = cap_line
        self._max_workers = max_workers
        self._clock = clock

    def send_all(
        self,
        messages: Sequence[QueuedMessage],
        deadline: float,
        senders: Mapping[str, str | None] | None = None,
        caps: Mapping[str, float | None] | None = None,
        bulk: bool = False,
    ) -> list[DeliveryOutcome]:
        """One outcome per message, in the order given. deadline is a time.monotonic() value; senders and
        caps, by workspace: the provider's `from`, and the workspace's most messages a second; bulk: the
        batch is a broadcast's (from a bulk queue), which single sends go before."""
        if not messages:
            return []
        new_limiter = self._new_bulk_limiter if bulk else self._new_limiter
        channel_limiter = new_limiter(sum(self._tokens_for(message) for message in messages))
        caps = caps or {}
        limiters = self._limiters_by_workspace(messages, channel_limiter, caps, new_limiter)
        senders = senders or {}
        order = {id(message): index for index, message in enumerate(messages)}
        groups = group_by_workspace(messages)
        capped = {workspace: group for workspace, group in groups.items() if caps.get(workspace) is not None}
        others = {workspace: group for workspace, group in groups.items() if workspace not in capped}
        outcomes: list[DeliveryOutcome | None] = [None] * len(messages)
        # Capped messages spread among the uncapped ones: a capped call's channel slot that finds no
        # workspace slot goes back to the batch's handle, and an uncapped call after it takes it; and the
        # pool's threads are never all waiting on one capped workspace while uncapped messages wait.
        ordered = spread_among(interleave_workspaces(capped), interleave_workspaces(others))
        with ThreadPoolExecutor(max_workers=min(self._max_workers, len(ordered)), thread_name_prefix="send") as pool:
            results = pool.map(
                lambda m: self._send_one(m, limiters[m.workspace_id], deadline, senders.get(m.workspace_id)),
                ordered,
            )
            for message, outcome in zip(ordered, results, strict=True):
                outcomes[order[id(message)]] = outcome
        self._place_in_lines(outcomes, caps)
        logger.debug(
            "batch paced",
            extra={
                "claims": getattr(channel_limiter, "claims", None),
                "slots_dropped": getattr(channel_limiter, "dropped", None),
            },
        )
        return [outcome for outcome in outcomes if outcome is not None]

    def hold_over_caps(
        self, messages: Mapping[str, QueuedMessage], caps: Mapping[str, float | None]
    ) -> dict[str, DeliveryOutcome]:
        """The messages of a batch (by any key) not to try in it: those of each capped workspace past what
        its cap lets the batch send (capped_attempts), when the batch also holds uncapped messages. They go
        back to their workspace's waiting line untried, before the batch claims them in the ledger."""
        plan = self._channel_plan
        if plan is None or all(caps.get(message.workspace_id) is not None for message in messages.values()):
            return {}
        batch_tokens = sum(self._tokens_for(message) for message in messages.values())
        allowed = {
            workspace: capped_attempts(batch_tokens, plan.slots_per_second, cap)
            for workspace, cap in caps.items()
            if cap is not None
        }
        seen: dict[str, int] = defaultdict(int)
        held: dict[str, DeliveryOutcome | None] = {}
        for key, message in messages.items():
            if message.workspace_id not in allowed:
                continue
            seen[message.workspace_id] += 1
            if seen[message.workspace_id] > allowed[message.workspace_id]:
                held[key] = DeliveryOutcome(message.message_id, message.workspace_id, OutcomeKind.DEFERRED, CAPPED)
        placed = list(held.values())
        self._place_in_lines(placed, caps)
        return {key: outcome for key, outcome in zip(held, placed, strict=True) if outcome is not None}

    def _limiters_by_workspace(
        self,
        messages: Sequence[QueuedMessage],
        channel_limiter: RateLimiter,
        caps: Mapping[str, float | None],
        new_limiter: Callable[[int], RateLimiter],
    ) -> dict[str, RateLimiter]:
        groups = group_by_workspace(messages)
        capped = {workspace for workspace in groups if caps.get(workspace) is not None}
        limiters: dict[str, RateLimiter] = {}
        for workspace, group in groups.items():
            cap = caps.get(workspace)
            if cap is None or self._new_workspace_limiter is None:
                limiters[workspace] = channel_limiter
                continue
            beside_others = len(capped) < len(groups)
            if beside_others and self._workspace_claimer is not None and isinstance(channel_limiter, SharedRateLimiter):
                # Channel slot first; the batch's uncapped messages take those its calls give back.
                limiters[workspace] = CappedBesideOthers(self._workspace_claimer(workspace, cap), channel_limiter)
                continue
            demand = sum(self._tokens_for(message) for message in group)
            own = self._new_workspace_limiter(workspace, cap, demand)
            plan = SlotPlan.for_rate(cap)
            # Each capped call claims its own channel slots (CappedLimiter): none left over to go stale.
            limiters[workspace] = CappedLimiter(
                own, channel_limiter, cap_wait_seconds(plan), plan.follow_seconds, channel_for_call=new_limiter
            )
        return limiters

    def _place_in_lines(self, outcomes: list[DeliveryOutcome | None], caps: Mapping[str, float | None]) -> None:
        """Capped workspaces' messages handed back go back to SQS until their places in their workspace's
        waiting line (one place per workspace slot, across every worker; one write per workspace and
        batch), so that they return at about the cap's pace instead of flooding the queue."""
        if self._cap_line is None:
            return
        waiting: dict[str, list[int]] = defaultdict(list)
        for index, outcome in enumerate(outcomes):
            if outcome is not None and outcome.reason == CAPPED:
                waiting[outcome.workspace_id].append(index)
        for workspace, indexes in waiting.items():
            cap = caps.get(workspace)
            if cap is None:
                continue
            try:
                waits = self._cap_line(workspace, cap, len(indexes))
            except DependencyUnavailable:
                continue  # they come back in CAP_RETRY_SECONDS instead
            for index, wait in zip(indexes, waits, strict=True):
                handed_back = outcomes[index]
                assert handed_back is not None
                outcomes[index] = dataclasses.replace(handed_back, retry_after=max(CAP_RETRY_SECONDS, wait))

    def _send_one(
        self, message: QueuedMessage, limiter: RateLimiter, deadline: float, sender: str | None
    ) -> DeliveryOutcome:
        started = time.monotonic()
        outcome = self._attempt(message, limiter, deadline, sender)
        logger.debug(
            "provider call",
            extra={
                "message_id": message.message_id,
                "workspace_id": message.workspace_id,
                "to": mask_recipient(message.to),
                "outcome": str(outcome.kind),
                "replayed": outcome.replayed,
                "reason": outcome.reason,
                "ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return outcome

    def _attempt(
        self, message: QueuedMessage, limiter: RateLimiter, deadline: float, sender: str | None
    ) -> DeliveryOutcome:
        ids = (message.message_id, message.workspace_id)
        early = (message.send_at - self._clock()).total_seconds()
        if early > 0:
            # Due in a moment (a scheduled message handed over just before its time): wait, then send.
            if time.monotonic() + early > deadline:
                return DeliveryOutcome(*ids, OutcomeKind.DEFERRED, "before its send time", retry_after=early)
            time.sleep(early)
        if message.is_expired(self._clock()):
            return DeliveryOutcome(*ids, OutcomeKind.PERMANENT, EXPIRED)
        attempt_id = uuid.uuid4().hex
        try:
            result = self._send_once(
                payload={"messageId": message.message_id},
                message=message,
                limiter=limiter,
                tokens=self._tokens_for(message),
                deadline=deadline,
                attempt_id=attempt_id,
                sender=sender,
            )
        except WorkspaceCapReached:
            # Its place in the workspace's waiting line is given with the batch's others (_place_in_lines).
            return DeliveryOutcome(*ids, OutcomeKind.DEFERRED, CAPPED, retry_after=CAP_RETRY_SECONDS)
        except NoRateSlot:
            return DeliveryOutcome(*ids, OutcomeKind.DEFERRED, "no rate-limit slot in time")
        except DependencyUnavailable as error:
            # The rate-limit table did not answer: nothing was sent; try again on redelivery.
            return DeliveryOutcome(*ids, OutcomeKind.DEFERRED, str(error))
        except ExpiredWhileWaiting:
            return DeliveryOutcome(*ids, OutcomeKind.PERMANENT, EXPIRED)
        except IdempotencyAlreadyInProgressError:
            # Another delivery of the same message is sending it right now; look again shortly.
            return DeliveryOutcome(*ids, OutcomeKind.DEFERRED, BEING_SENT)
        except ProviderError as error:
            return outcome_for_error(message, error)
        except IdempotencyPersistenceLayerError as error:
            return DeliveryOutcome(*ids, OutcomeKind.TRANSIENT, f"idempotency store: {type(error).__name__}")
        return DeliveryOutcome(
            *ids,
            OutcomeKind.SENT,
            provider_message_id=result.get("providerMessageId"),
            replayed=result.get("attemptId") != attempt_id,
        )
