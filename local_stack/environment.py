"""The runtime of one local execution environment: INIT (import the handler), then invocations, one at a time.

Started by local_stack.runtime.ProcessEnvironment as `python -P environment.py ...` with exactly its
function's environment variables. Like Lambda's Python runtime it puts the function's code first on
sys.path and the layers after it, imports the handler module once, and then runs each event it reads
from the requests pipe, writing the result (or Lambda's error shape) to the responses pipe. It imports
nothing but the standard library before the handler, so the handler's INIT is what it would be on Lambda.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def _load_sibling(name: str) -> Any:
    """A stdlib-only module of local_stack, loaded by path: the stack's package is not importable here."""
    spec = importlib.util.spec_from_file_location(f"_local_stack_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _error(exc: BaseException) -> dict[str, Any]:
    """Lambda's error payload for an exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(exc),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests-fd", type=int, required=True)
    parser.add_argument("--responses-fd", type=int, required=True)
    parser.add_argument("--code", required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--layer", action="append", default=[])
    args = parser.parse_args()
    # Ctrl-C reaches the whole process group; the stack ends its environments itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Lambda's log capture is line by line; a pipe or file would otherwise buffer the handler's lines.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    _load_sibling("gc_pauses").freeze_after_full_collections()
    # A dozen environments share this machine's two cores, where Lambda gives each its own share: a shorter
    # GIL switch interval lets a sender that sleeps until its rate-limit slot wake on time behind the
    # invocation's other threads (Python's default is 5 ms).
    sys.setswitchinterval(0.001)
    lambda_context = _load_sibling("lambda_context")
    sys.path[:0] = [args.code, *args.layer]  # /var/task first, then /opt/python, as on Lambda
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
    memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    module_name, _, attribute = args.handler.rpartition(".")
    started = time.monotonic()
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:
        traceback.print_exc()
        lambda_context.write_frame(args.responses_fd, {"initError": _error(exc)})
        return 1
    gc.collect()
    lambda_context.write_frame(args.responses_fd, {"initMs": (time.monotonic() - started) * 1000})
    while True:
        try:
            request = lambda_context.read_frame(args.requests_fd)
        except EOFError:
            return 0
        context = lambda_context.LocalLambdaContext(
            function_name=function_name,
            memory_limit_in_mb=memory,
            timeout_seconds=float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3")),
            aws_request_id=request["requestId"],
            deadline=request["deadline"],
            log_stream_name=os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
        )
        try:
            answer = {"result": handler(request["event"], context)}
        except Exception as exc:
            # As Lambda's runtime does: the error goes to the log and back to the caller.
            print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
            answer = {"error": _error(exc)}
        try:
            lambda_context.write_frame(args.responses_fd, answer)
        except TypeError as exc:  # a result that is not JSON: Lambda fails such invocations too
            lambda_context.write_frame(args.responses_fd, {"error": _error(exc)})


if __name__ == "__main__":
    sys.exit(main())
