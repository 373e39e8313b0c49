"""The provider sink of DESIGN §5: a fake SMS and email provider API that records and injects faults."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from local_stack.gc_pauses import freeze_after_full_collections

_CHANNEL_BY_PATH = {"/send-sms": "sms", "/send-email": "email"}


class Faults(BaseModel):
    """Fault injection settings; PUT /_sink/faults changes only the fields it names."""

    model_config = ConfigDict(extra="forbid")

    rate429: float = Field(default=0.0, ge=0, le=1)
    rate5xx: float = Field(default=0.0, ge=0, le=1)
    latencyMs: float = Field(default=0.0, ge=0, le=60_000)  # noqa: N815 - contract field name
    maxPerSecond: float | None = Field(default=None, gt=0)  # noqa: N815
    retryAfterSeconds: float = Field(default=1.0, ge=0)  # noqa: N815
    reject: list[str] = Field(default_factory=list)


class SinkState:
    """Everything the sink remembers; one lock guards it all."""

    def __init__(self, seed: int | None = None) -> None:
        self.lock = threading.Lock()
        self.faults = Faults()
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.accepted_times: deque[float] = deque()
        self.random = random.Random(seed)

    def decide(self, channel: str, body: dict[str, Any], arrived: float) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Status, JSON answer and headers for one provider call; records accepted messages (arrival time)."""
        with self.lock:
            faults = self.faults
            now = arrived
            while self.accepted_times and self.accepted_times[0] <= now - 1.0:
                self.accepted_times.popleft()
            retry_after = {"Retry-After": f"{faults.retryAfterSeconds:g}"}
            if body.get("to") in faults.reject:
                return 400, {"error": "recipient rejected by provider"}, {}
            if faults.maxPerSecond is not None and len(self.accepted_times) >= faults.maxPerSecond:
                return 429, {"error": "Too Many Requests: rate limit exceeded"}, retry_after
            if faults.rate429 and self.random.random() < faults.rate429:
                return 429, {"error": "Too Many Requests"}, retry_after
            if faults.rate5xx and self.random.random() < faults.rate5xx:
                return 503, {"error": "provider temporarily unavailable"}, {}
            self.accepted_times.append(now)
            provider_id = f"sink-{uuid.uuid4()}"
            self.messages.append({**body, "channel": channel, "receivedAt": now, "providerMessageId": provider_id})
            return 200, {"success": True, "messageId": provider_id}, {}


class _Handler(BaseHTTPRequestHandler):
    server: _SinkServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the sink's callers log what they need."""

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its read timeout); a real provider would not notice either.
            self.close_connection = True

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"null")

    def do_POST(self) -> None:
        arrived = time.time()
        state = self.server.state
        path = urlsplit(self.path).path
        channel = _CHANNEL_BY_PATH.get(path)
        if channel is None:
            self._reply(404, {"error": "not found"})
            return
        try:
            body = self._read_json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            self._reply(400, {"error": "body must be a JSON object"})
            return
        latency = state.faults.latencyMs
        if latency:
            time.sleep(latency / 1000)
        status, answer, headers = state.decide(channel, body, arrived)
        with state.lock:
            state.requests.append(
                {
                    "channel": channel,
                    "messageId": body.get("messageId"),
                    "idempotencyKey": self.headers.get("Idempotency-Key"),
                    "authorization": self.headers.get("Authorization"),
                    "status": status,
                    "at": time.time(),
                }
            )
        self._reply(status, answer, headers)

    def do_GET(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        channels = parse_qs(parts.query).get("channel")
        channel = channels[0] if channels else None
        with state.lock:
            if parts.path == "/_sink/messages":
                items = [m for m in state.messages if channel in (None, m["channel"])]
                self._reply(200, {"messages": items})
            elif parts.path == "/_sink/requests":
                items = [r for r in state.requests if channel in (None, r["channel"])]
                self._reply(200, {"requests": items})
            elif parts.path == "/_sink/faults":
                self._reply(200, state.faults.model_dump())
            else:
                self._reply(404, {"error": "not found"})

    def do_DELETE(self) -> None:
        state = self.server.state
        if urlsplit(self.path).path != "/_sink/messages":
            self._reply(404, {"error": "not found"})
            return
        with state.lock:
            state.messages.clear()
            state.requests.clear()
            state.accepted_times.clear()
        self._reply(200, {"cleared": True})

    def do_PUT(self) -> None:
        state = self.server.state
        if urlsplit(self.path).path != "/_sink/faults":
            self._reply(404, {"error": "not found"})
            return
        try:
            changes = self._read_json()
            if not isinstance(changes, dict):
                raise ValueError("body must be a JSON object")
            with state.lock:
                state.faults = Faults.model_validate({**state.faults.model_dump(), **changes})
                current = state.faults.model_dump()
        except ValidationError as exc:
            self._reply(422, {"error": "invalid faults", "detail": json.loads(exc.json(include_input=False))})
            return
        except ValueError as exc:
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, current)


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # bursts of parallel sends must not hit a full accept backlog
    state: SinkState


class ProviderSink:
    """Runs the sink on 127.0.0.1:port in a background thread (port 0 picks a free one)."""

    def __init__(self, port: int = 0, seed: int | None = None) -> None:
        self._server = _SinkServer(("127.0.0.1", port), _Handler)
        self._server.state = SinkState(seed)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="provider-sink", daemon=True
        )

    @property
    def state(self) -> SinkState:
        return self._server.state

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ProviderSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def prefer_the_sink_on_a_busy_machine(nice: Callable[[int], int]) -> bool:
    """Run the sink ahead of the stack's other processes where the OS allows it (root): a provider has
    machines of its own, so its receivedAt should not wait until the two cores the handlers and the
    emulator keep busy are free. Measured: a call's trip to the sink then varied by 15 ms, not 24 ms, at
    most (bench/RESULTS.md). Elsewhere the sink runs at the usual priority. True if it was raised."""
    try:
        nice(-10)
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """`python -m local_stack.sink --port 3001`: the sink in a process of its own, as a real provider is.

    Its clock then stamps receivedAt when a request arrives, not when the handlers' busy process lets it.
    """
    import argparse
    import os
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m local_stack.sink", description=__doc__)
    parser.add_argument("--port", type=int, default=3001)
    args = parser.parse_args(argv)
    try:
        sink = ProviderSink(args.port)
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); set QS_SINK_PORT", file=sys.stderr)
        return 2
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    freeze_after_full_collections()
    prefer_the_sink_on_a_busy_machine(os.nice)
    sink.start()
    print(f"sink ready on {sink.url}", flush=True)
    stopped.wait()
    sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
