"""A probe handler for the local runtime's tests: reports what its execution environment sees."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, ClassVar

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig


class Current:
    """Class-level state, as Powertools' resolver keeps the current event (BaseRouter.current_event)."""

    event: ClassVar[dict[str, Any]] = {}


INVOCATIONS = {"count": 0}
# Module-level, as the workers keep theirs: each invocation registers its context here.
IDEMPOTENCY = IdempotencyConfig(event_key_jmespath="id")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    Current.event = event
    INVOCATIONS["count"] += 1
    IDEMPOTENCY.register_lambda_context(context)
    remaining_at_start = context.get_remaining_time_in_millis()
    if event.get("fail"):
        raise ValueError(f"probe failed as asked ({event['id']})")
    time.sleep(float(event.get("sleep", 0)))
    return {
        "id": event["id"],
        "seen": Current.event["id"],  # another invocation's event here would mean shared state
        "pid": os.getpid(),
        "requestId": context.aws_request_id,
        "functionName": context.function_name,
        "remainingAtStart": remaining_at_start,
        "remainingAtEnd": context.get_remaining_time_in_millis(),
        "invocations": INVOCATIONS["count"],
        # What Powertools would use for this invocation's in-progress expiry: its registered context.
        "idempotencyRequestId": IDEMPOTENCY.lambda_context.aws_request_id if IDEMPOTENCY.lambda_context else None,
        "idempotencyRemainingMs": (
            IDEMPOTENCY.lambda_context.get_remaining_time_in_millis() if IDEMPOTENCY.lambda_context else None
        ),
        "environ": dict(os.environ),
        "path": sys.path[:2],
    }
