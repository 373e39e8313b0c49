"""The AWS emulator process: moto's server on 127.0.0.1, with SQS's slow clock helper replaced.

Run as `python -m local_stack.emulator --port 4566`. It runs in a process of its own so the emulator
gets a core and a GIL of its own, apart from the handlers (DESIGN §5).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any


def fast_unix_time(dt: object = None) -> float:
    """moto.core.utils.unix_time without the datetime arithmetic: SQS calls it per message per request."""
    if dt is None:
        return time.time()
    from moto.core.utils import unix_time

    return unix_time(dt)  # type: ignore[arg-type]


def fast_unix_time_millis(dt: object = None) -> float:
    return fast_unix_time(dt) * 1000.0


def apply_clock_fix() -> None:
    """Replace the clock helpers moto's SQS module imported (DESIGN §5: 37 s → 1.7 s to fill 2,000)."""
    import moto.sqs.models as sqs_models

    setattr(sqs_models, "unix_time", fast_unix_time)  # noqa: B010 - the module does not re-export it
    setattr(sqs_models, "unix_time_millis", fast_unix_time_millis)  # noqa: B010


def serialize_receives() -> None:
    """Make ReceiveMessage atomic per queue.

    moto picks visible messages and marks them received without a lock, so two concurrent receives (five
    pollers per queue here) can both take the same message: a duplicate AWS would not produce that way.
    Long polling is kept, but waits outside the lock so one poller never blocks another.
    """
    from moto.sqs.models import SQSBackend

    original = SQSBackend.receive_message
    locks: dict[str, threading.Lock] = {}
    guard = threading.Lock()

    def receive_message(
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        with guard:
            lock = locks.setdefault(queue_name, threading.Lock())
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with lock:
                result = original(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            remaining = deadline - time.monotonic()
            if result or remaining <= 0:
                return result
            self.get_queue(queue_name).wait_for_messages(min(0.2, remaining))  # type: ignore[arg-type]

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


def serve(port: int, clock_fix: bool = True) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    if clock_fix:
        apply_clock_fix()
    serialize_receives()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"emulator ready on 127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()


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
