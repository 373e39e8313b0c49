"""The Lambda context object and the pipe framing shared by the stack and its environments (stdlib only).

local_stack/environment.py loads this file by path: an environment's sys.path holds only the function's
code and layers, as on Lambda.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda context object handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    # Epoch seconds at which the invocation times out; set from timeout_seconds when not given.
    deadline: float = 0.0

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.time() + self.timeout_seconds
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


def write_frame(fd: int, payload: Any) -> None:
    """One length-prefixed JSON message on a pipe."""
    data = json.dumps(payload, separators=(",", ":")).encode()
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_frame(fd: int, timeout: float | None = None) -> Any:
    """The next length-prefixed JSON message; EOFError if the other end has gone, TimeoutError if nothing
    arrives within timeout seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout

    def read_exact(count: int) -> bytes:
        chunks, missing = [], count
        while missing:
            if deadline is not None:
                ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise TimeoutError("no answer in time")
            chunk = os.read(fd, missing)
            if not chunk:
                raise EOFError("pipe closed")
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    (length,) = struct.unpack(">I", read_exact(4))
    return json.loads(read_exact(length))
