"""Turns the handlers' log output (Powertools JSON lines, EMF blobs, plain text) into the stack's log lines."""

from __future__ import annotations

import json
import logging
from typing import Any

# Keys every Powertools line carries; the rest are what the line is about.
_CONTEXT_KEYS = {
    "level",
    "location",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "xray_trace_id",
    "sampling_rate",
    "correlation_id",
    "exception",
    "exception_name",
    "stack_trace",
}


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return json.dumps(text) if (not text or any(c in text for c in ' "=')) else text


def format_handler_line(line: str) -> tuple[int, str]:
    """The logging level and the one-line text for one line a handler printed.

    A Powertools line becomes `<message> key=value ... request=<first 8 of the request id>` (and its
    exception below it); an EMF blob and plain text pass unchanged ("[ERROR] ..." lines at ERROR).
    """
    stripped = line.rstrip("\n")
    try:
        record = json.loads(stripped) if stripped.startswith("{") else None
    except ValueError:
        record = None
    if not isinstance(record, dict) or "_aws" in record or "message" not in record:
        level = logging.ERROR if stripped.startswith("[ERROR]") else logging.INFO
        return level, stripped
    level = logging.getLevelName(str(record.get("level", "INFO")).upper())
    fields = [f"{key}={_value(value)}" for key, value in record.items() if key not in _CONTEXT_KEYS]
    request_id = record.get("function_request_id")
    if request_id:
        fields.append(f"request={str(request_id)[:8]}")
    text = " ".join([str(record["message"]), *fields])
    if record.get("exception"):
        text += "\n" + str(record["exception"])
    return (level if isinstance(level, int) else logging.INFO), text


class HandlerLogRelay:
    """Receives one function's output lines and logs them under its logical id (or prints them as they are)."""

    def __init__(self, logical_id: str, raw: bool = False) -> None:
        self._logger = logging.getLogger(logical_id)
        self._raw = raw
        # What CloudWatch Logs would ingest from this function (bytes of its lines): benchmarks' cost model.
        self.bytes = 0

    def __call__(self, line: str) -> None:
        self.bytes += len(line.encode("utf-8", "replace"))
        if self._raw:
            print(line.rstrip("\n"), flush=True)
            return
        level, text = format_handler_line(line)
        self._logger.log(level, "%s", text)
