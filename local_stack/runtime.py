"""Execution environments for the template's functions, as Lambda runs them: one invocation at a time each.

The local stack runs every environment in a process of its own (`ProcessEnvironment`): the handler module
is imported there with exactly its function's environment variables (Globals plus its own, as Lambda
gives them), so no module-level or class-level state (a Powertools resolver's current event, a Logger's
keys, an IdempotencyConfig's Lambda context) is ever shared by two invocations. Events go in and results
come back over a pipe; warm environments are reused. The integration tier, whose AWS is moto inside the
test process, loads handlers in-process instead (`InProcessEnvironment`).
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from local_stack.lambda_context import LocalLambdaContext, read_frame, write_frame
from local_stack.template import function_setting

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().with_name("environment.py")

Handler = Callable[[dict[str, Any], Any], Any]

# Seconds an environment may take for its INIT (importing the handler module) before the stack gives up.
INIT_TIMEOUT_SECONDS = 60.0
# Added to the function's Timeout before a silent environment is killed (the pipe round trip).
TIMEOUT_GRACE_SECONDS = 2.0


class FunctionError(Exception):
    """The handler raised (Lambda's function error); str() is its errorMessage, as API Gateway reads it."""

    def __init__(self, message: str, error_type: str = "Exception", stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.stack_trace = stack_trace or []


class EnvironmentLost(FunctionError):
    """The environment timed out or its runtime exited mid-invocation; Lambda discards it, so does the stack."""


@dataclass(frozen=True)
class Invocation:
    """What one invocation hands its environment: the event and the fields of its context."""

    event: dict[str, Any]
    request_id: str
    deadline: float  # epoch seconds


class Environment(Protocol):
    """One execution environment: runs one invocation at a time."""

    alive: bool

    def invoke(self, invocation: Invocation) -> Any: ...

    def close(self) -> None: ...


def load_module(code_uri: str, module_file: str, unique_name: str) -> ModuleType:
    """Import functions/<name>/<module>.py under a unique module name (every handler file is app.py)."""
    path = ROOT / code_uri / f"{module_file}.py"
    spec = importlib.util.spec_from_file_location(unique_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class InProcessEnvironment:
    """A handler called in this process (integration tests, whose moto lives in the test process)."""

    alive = True

    def __init__(self, handler: Handler, function_name: str, memory_mb: int, timeout_seconds: float) -> None:
        self._handler = handler
        self._function_name = function_name
        self._memory_mb = memory_mb
        self._timeout = timeout_seconds

    def invoke(self, invocation: Invocation) -> Any:
        context = LocalLambdaContext(
            self._function_name,
            self._memory_mb,
            self._timeout,
            aws_request_id=invocation.request_id,
            deadline=invocation.deadline,
        )
        try:
            return self._handler(invocation.event, context)
        except Exception as exc:  # as the runtime reports it: a function error with the handler's message
            raise FunctionError(str(exc), type(exc).__name__, traceback.format_exception(exc)) from exc

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class FunctionSpec:
    """What an environment of one function needs: where its code is and what environment it gets."""

    logical_id: str
    code_uri: str
    handler: str  # module.attribute, as in the template
    layers: tuple[str, ...]  # layer ContentUris (mounted as /opt/python would be)
    environment: dict[str, str]
    timeout_seconds: float
    memory_mb: int


class ProcessEnvironment:
    """One environment in a process of its own (`local_stack/environment.py`), spoken to over two pipes."""

    def __init__(self, spec: FunctionSpec, number: int, log_line: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        self.number = number
        self.alive = False
        requests_read, requests_write = os.pipe()
        responses_read, responses_write = os.pipe()
        command = [
            sys.executable,
            "-P",  # nothing of the stack's own directory on sys.path: the runner sets Lambda's paths
            str(RUNNER),
            "--requests-fd",
            str(requests_read),
            "--responses-fd",
            str(responses_write),
            "--code",
            str(ROOT / spec.code_uri),
            "--handler",
            spec.handler,
            *(arg for layer in spec.layers for arg in ("--layer", str(ROOT / layer))),
        ]
        self.process = subprocess.Popen(  # noqa: S603 - our own runner, fixed arguments
            command,
            env=spec.environment,
            cwd=ROOT / spec.code_uri,
            pass_fds=(requests_read, responses_write),
            stdin=subprocess.DEVNULL,
            # The handler's log (stdout and stderr, as Lambda captures both), relayed line by line.
            stdout=subprocess.PIPE if log_line else None,
            stderr=subprocess.STDOUT if log_line else None,
            text=True,
            errors="replace",
        )
        if log_line is not None:
            threading.Thread(
                target=_relay, args=(self.process.stdout, log_line), daemon=True, name=f"log-{spec.logical_id}"
            ).start()
        os.close(requests_read)
        os.close(responses_write)
        self._requests: int | None = requests_write
        self._responses: int | None = responses_read
        self.pid = self.process.pid
        self._await_init()
        self.alive = True

    def _await_init(self) -> None:
        answer = self._read(INIT_TIMEOUT_SECONDS, "INIT")
        if "initError" in answer:
            self.close()
            error = answer["initError"]
            raise FunctionError(
                f"{self.spec.logical_id} INIT failed: {error['errorType']}: {error['errorMessage']}",
                error["errorType"],
                error.get("stackTrace"),
            )

    def _read(self, timeout: float, what: str) -> dict[str, Any]:
        """The next answer, or EnvironmentLost (and the process killed) if none comes within timeout."""
        try:
            assert self._responses is not None
            answer: dict[str, Any] = read_frame(self._responses, timeout)
        except (TimeoutError, EOFError, OSError, ValueError, AssertionError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else f"runtime exited ({self.process.poll()})"
            self.close()
            raise EnvironmentLost(f"{self.spec.logical_id} {what} {reason}", "Runtime.ExitError") from None
        return answer

    def invoke(self, invocation: Invocation) -> Any:
        try:
            assert self._requests is not None
            write_frame(
                self._requests,
                {"event": invocation.event, "requestId": invocation.request_id, "deadline": invocation.deadline},
            )
        except (OSError, AssertionError):
            self.close()
            raise EnvironmentLost(f"{self.spec.logical_id} runtime is gone", "Runtime.ExitError") from None
        wait = max(0.0, invocation.deadline - time.time()) + TIMEOUT_GRACE_SECONDS
        answer = self._read(wait, f"invocation {invocation.request_id}")
        if "error" in answer:
            error = answer["error"]
            raise FunctionError(error["errorMessage"], error["errorType"], error.get("stackTrace"))
        return answer["result"]

    def close(self) -> None:
        self.alive = False
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for fd in (self._requests, self._responses):
            if fd is not None:
                os.close(fd)
        self._requests = self._responses = None


def _relay(stream: Any, log_line: Callable[[str], None]) -> None:
    for line in stream:
        log_line(line)


class LocalFunction:
    """One AWS::Serverless::Function: a pool of execution environments, callable from many threads.

    As on Lambda, an environment runs one invocation at a time. A call takes an idle warm environment,
    or starts a new one while fewer than `limit` exist, or waits for one to come free (Lambda would
    throttle instead; a development stack waits). A lost environment (timeout, crash) is replaced.
    """

    def __init__(
        self,
        logical_id: str,
        spawn: Callable[[int], Environment],
        timeout_seconds: float,
        memory_mb: int,
        warm: int = 1,
        limit: int | None = None,
    ) -> None:
        self.logical_id = logical_id
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self.limit = max(limit or warm, warm, 1)
        self._spawn = spawn
        self._idle: list[Environment] = []
        self._all: list[Environment] = []
        self._starting = 0
        self._created = 0
        self._available = threading.Condition()
        self.usage: dict[str, float] = {"invocations": 0.0, "durationMs": 0.0, "billedMs": 0.0}
        # The bytes its environments have logged so far, when the stack relays their output (else none).
        self.log_bytes: Callable[[], int] = lambda: 0
        self._log_bytes_cleared = 0
        # Warm environments made up front (as provisioned concurrency would), in parallel.
        starters = [threading.Thread(target=self._start_idle) for _ in range(max(1, warm))]
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()
        if len(self._all) < max(1, warm):
            raise FunctionError(f"{logical_id}: could not start its environments")

    @classmethod
    def in_process(
        cls, logical_id: str, handler: Handler, timeout_seconds: float = 3, memory_mb: int = 128
    ) -> LocalFunction:
        """A function whose environments call handler in this process (tests)."""
        return cls(
            logical_id,
            lambda number: InProcessEnvironment(handler, logical_id, memory_mb, timeout_seconds),
            timeout_seconds,
            memory_mb,
            limit=64,
        )

    @property
    def environments(self) -> int:
        """How many environments were started in all (replacements included)."""
        return self._created

    @property
    def pids(self) -> list[int]:
        return [int(pid) for env in self._all if (pid := getattr(env, "pid", None)) is not None]

    def _new_environment(self) -> Environment:
        with self._available:
            self._created += 1
            number = self._created
        return self._spawn(number)

    def _start_idle(self) -> None:
        try:
            env = self._new_environment()
        except FunctionError:
            return
        with self._available:
            self._all.append(env)
            self._idle.append(env)

    def _take(self) -> Environment:
        with self._available:
            while True:
                if self._idle:
                    return self._idle.pop()
                if len(self._all) + self._starting < self.limit:
                    self._starting += 1
                    break
                self._available.wait()
        try:
            env = self._new_environment()
        finally:
            with self._available:
                self._starting -= 1
                self._available.notify()
        with self._available:
            self._all.append(env)
        return env

    def _give_back(self, env: Environment) -> None:
        with self._available:
            if env.alive:
                self._idle.append(env)
            else:
                self._all.remove(env)
            self._available.notify()

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Any:
        env = self._take()
        invocation = Invocation(event, request_id or str(uuid.uuid4()), time.time() + self.timeout_seconds)
        started = time.monotonic()
        try:
            return env.invoke(invocation)
        finally:
            self._bill((time.monotonic() - started) * 1000)
            self._give_back(env)

    def _bill(self, duration_ms: float) -> None:
        # What Lambda bills: each invocation's duration rounded up to the millisecond (INIT not included).
        with self._available:
            self.usage["invocations"] += 1
            self.usage["durationMs"] += duration_ms
            self.usage["billedMs"] += math.ceil(duration_ms)

    def usage_report(self, clear: bool = False) -> dict[str, float]:
        """Invocations, their summed and billed milliseconds, and the memory size (GET /_local/invocations)."""
        logged = self.log_bytes()
        with self._available:
            report = {
                **self.usage,
                "memoryMb": float(self.memory_mb),
                "logBytes": float(logged - self._log_bytes_cleared),
            }
            if clear:
                self.usage = {"invocations": 0.0, "durationMs": 0.0, "billedMs": 0.0}
                self._log_bytes_cleared = logged
        return report

    def close(self) -> None:
        with self._available:
            envs, self._all, self._idle = list(self._all), [], []
        for env in envs:
            env.close()


def layer_content_uris(template: dict[str, Any]) -> tuple[str, ...]:
    """Each layer's ContentUri (Lambda mounts layers under /opt/python)."""
    return tuple(
        str(spec["Properties"]["ContentUri"])
        for spec in template.get("Resources", {}).values()
        if spec.get("Type") == "AWS::Serverless::LayerVersion"
    )


def function_spec(template: dict[str, Any], logical_id: str, environment: dict[str, str]) -> FunctionSpec:
    props = template["Resources"][logical_id]["Properties"]
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=str(props["CodeUri"]),
        handler=str(props["Handler"]),
        layers=layer_content_uris(template),
        environment=environment,
        timeout_seconds=float(function_setting(template, logical_id, "Timeout", 3)),
        memory_mb=int(function_setting(template, logical_id, "MemorySize", 128)),
    )


def spawn_function(
    spec: FunctionSpec, warm: int, limit: int, log_line: Callable[[str], None] | None = None
) -> LocalFunction:
    """A function whose environments are processes of their own (the local stack); log_line receives each
    line the handler prints (None: straight to this process's stdout)."""
    return LocalFunction(
        spec.logical_id,
        lambda number: ProcessEnvironment(spec, number, log_line),
        spec.timeout_seconds,
        spec.memory_mb,
        warm=warm,
        limit=limit,
    )


def load_function(template: dict[str, Any], logical_id: str) -> LocalFunction:
    """The handler named by CodeUri + Handler, imported into this process (the environment must be set).

    For the integration tier only: moto runs in the test process there, so handlers must too.
    """
    props = template["Resources"][logical_id]["Properties"]
    module_file, _, attribute = str(props["Handler"]).rpartition(".")
    code_uri = str(props["CodeUri"])
    timeout = float(function_setting(template, logical_id, "Timeout", 3))
    memory = int(function_setting(template, logical_id, "MemorySize", 128))

    def spawn(number: int) -> Environment:
        module = load_module(code_uri, module_file, f"qs_function_{logical_id}_{number}")
        return InProcessEnvironment(getattr(module, attribute), logical_id, memory, timeout)

    return LocalFunction(logical_id, spawn, timeout, memory, limit=64)


def mount_layers(template: dict[str, Any]) -> list[Path]:
    """Put each layer's ContentUri on sys.path, as Lambda mounts layers under /opt/python (tests)."""
    mounted = []
    for uri in layer_content_uris(template):
        path = ROOT / uri
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
        mounted.append(path)
    return mounted
