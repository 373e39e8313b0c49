"""How long SQS should hide a message before redelivering it: Retry-After, or exponential backoff with full jitter."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from queue_services.delivery import DeliveryOutcome, OutcomeKind


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    cap_seconds: float
    max_attempts: int


# ChangeMessageVisibility takes whole seconds up to 12 h; nothing here needs more than the cap.
MAX_VISIBILITY_SECONDS = 43_200


def retry_delay_seconds(
    outcome: DeliveryOutcome,
    receive_count: int,
    base_seconds: float,
    cap_seconds: float,
    uniform: Callable[[float, float], float] = random.uniform,
) -> int:
    """Seconds until the message should be seen again.

    Rate-limited: the provider's Retry-After if it gave one, else the base. Transient: full jitter,
    uniform(0, min(cap, base * 2 ** (receive_count - 1))). Deferred (never attempted): at once.
    """
    if outcome.kind is OutcomeKind.DEFERRED:
        return 0 if outcome.retry_after is None else math.ceil(outcome.retry_after)
    if outcome.kind is OutcomeKind.RATE_LIMITED:
        wait = outcome.retry_after if outcome.retry_after is not None else base_seconds
    else:
        ceiling = min(cap_seconds, base_seconds * 2 ** max(0, receive_count - 1))
        wait = uniform(0, ceiling)
    return min(MAX_VISIBILITY_SECONDS, max(0, math.ceil(wait)))
