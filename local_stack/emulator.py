"""The AWS emulator process: moto's server on 127.0.0.1, with the patches of local_stack.moto_patches.

Run as `python -m local_stack.emulator --port 4566`. It runs in a process of its own so the emulator
gets a core and a GIL of its own, apart from the handlers (DESIGN §5).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from local_stack import iam
from local_stack.gc_pauses import freeze_after_full_collections
from local_stack.moto_patches import ALL_PATCHES, PARSED_BODY, apply_clock_fix
from local_stack.sqs_metrics import start_publisher

EMULATOR_SWITCH_INTERVAL = 0.01  # seconds; see serve()

# DynamoDB calls that write or read a varying number of items (what a cost model needs: bench/cost.py).
ITEM_COUNTED = frozenset({"BatchWriteItem", "TransactWriteItems", "BatchGetItem", "TransactGetItems", "Query"})


def dynamodb_items(action: str, request: bytes, response: bytes) -> int:
    """How many items a DynamoDB call wrote or read: asked for in its request, found for a Query."""
    try:
        if action == "Query":
            return int(json.loads(response).get("Count", 0))
        data = json.loads(request)
        if action == "BatchWriteItem":
            return sum(len(requests) for requests in data.get("RequestItems", {}).values())
        if action == "BatchGetItem":
            return sum(len(table.get("Keys", [])) for table in data.get("RequestItems", {}).values())
        return len(data.get("TransactItems", []))
    except (ValueError, AttributeError, TypeError):
        return 0


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    """A control request's JSON object body ({} if it has none, or not an object)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return iam.json_object(environ["wsgi.input"].read(length) if length else b"") or {}


class CallCounter:
    """WSGI wrapper counting AWS calls by operation, and the emulator's CPU seconds they took.

    GET /_emulator/calls reads the counts, GET /_emulator/cpu the CPU seconds (the serving thread's own
    CPU time: waits for the GIL are not in it); DELETE clears both (benchmarks use them). Items of the
    DynamoDB calls in ITEM_COUNTED are counted once PUT /_emulator/items turns it on (it parses their
    bodies, which costs emulator CPU the other benchmarks should not pay), until PUT {"count": false}
    turns it off; GET reads them, DELETE clears.
    PUT /_emulator/latency {"ms": n} delays every AWS call by n ms from then on (a round trip to AWS from
    Lambda, for benchmarks; a sleep of the serving thread, no CPU); 0 turns it off.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._counts: dict[str, int] = {}
        self._cpu: dict[str, float] = {}
        self._items: dict[str, int] = {}
        self._count_items = False
        self._latency_seconds = 0.0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO")
        if path in ("/_emulator/calls", "/_emulator/cpu", "/_emulator/items"):
            method = environ.get("REQUEST_METHOD", "GET")
            options = _json_body(environ) if path == "/_emulator/items" and method == "PUT" else {}
            return self._answer(path, method, bool(options.get("count", True)), start_response)
        if path == "/_emulator/latency" and environ.get("REQUEST_METHOD") == "PUT":
            asked = _json_body(environ).get("ms", 0)
            self._latency_seconds = max(0.0, float(asked)) / 1000
            start_response("204 No Content", [("Content-Length", "0")])
            return [b""]
        if self._latency_seconds:
            time.sleep(self._latency_seconds)
        operation = environ.get("HTTP_X_AMZ_TARGET") or environ.get("PATH_INFO", "?")
        action = operation.split(".", 1)[1] if operation.startswith("DynamoDB_") else ""
        request = b""
        if self._count_items and action in ITEM_COUNTED:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(request)  # moto reads the body again
        started = time.thread_time()
        items = None
        try:
            # moto answers with a complete body list, so the work is done when the app returns.
            answer = self._app(environ, start_response)
            if self._count_items and action in ITEM_COUNTED:
                answer = list(answer)
                items = dynamodb_items(action, request, b"".join(answer))
            return answer
        finally:
            spent = time.thread_time() - started
            with self._lock:
                self._counts[operation] = self._counts.get(operation, 0) + 1
                self._cpu[operation] = self._cpu.get(operation, 0.0) + spent
                if items is not None:
                    self._items[operation] = self._items.get(operation, 0) + items

    def _answer(self, path: str, method: str, count: bool, start_response: Any) -> list[bytes]:
        with self._lock:
            if path == "/_emulator/items" and method == "PUT":
                self._count_items = count
            elif method == "DELETE":
                if path == "/_emulator/items":
                    self._items.clear()
                else:
                    self._counts.clear()
                    self._cpu.clear()
            found = {"/_emulator/calls": self._counts, "/_emulator/cpu": self._cpu, "/_emulator/items": self._items}
            body = json.dumps(found[path]).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class IamGuard:
    """WSGI wrapper refusing, as AWS would, a function's call that its role in the template does not allow.

    The stack PUTs every function's grants to /_emulator/iam once it has provisioned (local_stack.iam);
    until then, and for calls not signed with a function's key, nothing is checked (and no body is read).
    Each refusal is printed: the stack logs it, and the e2e tier fails on any.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._grants: dict[str, list[iam.Grant]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/_emulator/iam" and environ.get("REQUEST_METHOD") == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            self._grants = iam.grants_from_json(json.loads(environ["wsgi.input"].read(length)))
            start_response("204 No Content", [("Content-Length", "0")])
            return [b""]
        caller = iam.caller_of(environ)
        if caller is None or caller not in self._grants:
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads the body again
        payload = iam.json_object(body)
        if payload is not None:
            # moto's JSON read takes it from here rather than decoding the body a second time.
            environ[PARSED_BODY] = (body, payload)
        request = iam.request_of(environ, caller, payload or {})
        refused = iam.denied(self._grants, request)
        if refused is None:
            return self._app(environ, start_response)
        action, resource = refused
        print(f"IAM denied: {request.caller} may not {action} on {resource} (its role in template.yaml)", flush=True)
        status, headers, answer = iam.access_denied(request, action, resource)
        start_response(status, headers)
        return [answer]


def serve(port: int, clock_fix: bool = True) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from waitress.server import create_server

    # A longer GIL switch interval than Python's 5 ms: a request's handling (a few ms of moto) mostly runs
    # to its end instead of being preempted midway by waitress's I/O thread or a long poll waking. While a
    # broadcast was accepted this process was busy only ~80 % of the time though it was the bottleneck.
    # Side by side on the local stack (10,000-recipient accepts, fresh stacks alternating), 10 and 20 ms
    # answered faster than 5 ms in 7 of 8 sets; 50 ms came in between (bench/RESULTS.md, "The emulator's GIL
    # switch interval"). Long polls and single sends wait at most this much longer for the GIL.
    sys.setswitchinterval(EMULATOR_SWITCH_INTERVAL)
    if clock_fix:
        apply_clock_fix()
    for patch in ALL_PATCHES:
        patch()
    logging.getLogger("waitress").setLevel(logging.ERROR)
    app = CallCounter(IamGuard(DomainDispatcherApplication(create_backend_app)))
    # waitress, not moto's werkzeug server: werkzeug closes the connection after every response, so each
    # AWS call paid for a new TCP connection and a new server thread (measured: 545 vs 896 PutItem/s from
    # 10 threads). Threads cover the pollers' long polls with room to spare; botocore pools up to 10
    # connections per client, hence the connection limit.
    server = create_server(app, host="127.0.0.1", port=port, threads=48, connection_limit=2000, ident=None)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    freeze_after_full_collections()
    start_publisher()
    print(f"emulator ready on 127.0.0.1:{port}", flush=True)
    try:
        server.run()
    except SystemExit:
        pass
    finally:
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--no-clock-fix", action="store_true", help="keep moto's slow SQS clock (for measuring)")
    args = parser.parse_args(argv)
    try:
        serve(args.port, clock_fix=not args.no_clock_fix)
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); set QS_AWS_PORT", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
