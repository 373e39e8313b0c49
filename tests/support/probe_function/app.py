"""A probe handler for the local runtime's tests: reports what its execution environment sees."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, ClassVar


class Current:
    """Class-level state, as Powertools' resolver keeps the current event (BaseRouter.current_event)."""

    event: ClassVar[dict[str, Any]] = {}


INVOCATIONS = {"count": 0}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    Current.event = event
    INVOCATIONS["count"] += 1
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
        "environ": dict(os.environ),
        "path": sys.path[:2],
    }
