"""Loads a function's handler from template.yaml and invokes it in-process with a Lambda-like context."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local_stack.template import ACCOUNT_ID, REGION, function_setting

ROOT = Path(__file__).resolve().parent.parent

Handler = Callable[[dict[str, Any], Any], Any]


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
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def load_module(code_uri: str, module_file: str, unique_name: str) -> ModuleType:
    """Import functions/<name>/<module>.py under a unique module name (every handler file is app.py)."""
    path = ROOT / code_uri / f"{module_file}.py"
    spec = importlib.util.spec_from_file_location(unique_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LocalFunction:
    """One AWS::Serverless::Function of the template, callable from many threads.

    Like Lambda, an execution environment (here: a separately imported copy of the handler module) runs one
    invocation at a time; concurrent calls get environments of their own, created on demand. Module-level
    state such as a Powertools resolver is therefore never shared between concurrent invocations.
    """

    def __init__(
        self,
        logical_id: str,
        loader: Callable[[int], Handler],
        timeout_seconds: float,
        memory_mb: int,
        environments: int = 1,
    ):
        self.logical_id = logical_id
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self._loader = loader
        self._idle: list[Handler] = []
        self._created = 0
        self._lock = threading.Lock()
        # Warm environments made up front (as provisioned concurrency would): a module import in the
        # middle of a broadcast would stall every other handler thread of this process.
        self._idle.extend(self._new_environment() for _ in range(max(1, environments)))

    @property
    def environments(self) -> int:
        return self._created

    def _new_environment(self) -> Handler:
        with self._lock:
            self._created += 1
            number = self._created
        return self._loader(number)

    def new_context(self) -> LocalLambdaContext:
        return LocalLambdaContext(self.logical_id, self.memory_mb, self.timeout_seconds)

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            handler = self._idle.pop() if self._idle else None
        if handler is None:
            handler = self._new_environment()
        try:
            return handler(event, self.new_context())
        finally:
            with self._lock:
                self._idle.append(handler)


def load_function(template: dict[str, Any], logical_id: str, environments: int = 1) -> LocalFunction:
    """Load the handler named by CodeUri + Handler; the environment must already be set."""
    props = template["Resources"][logical_id]["Properties"]
    module_file, _, attribute = str(props["Handler"]).rpartition(".")
    code_uri = str(props["CodeUri"])

    def load(number: int) -> Handler:
        module = load_module(code_uri, module_file, f"qs_function_{logical_id}_{number}")
        handler: Handler = getattr(module, attribute)
        return handler

    return LocalFunction(
        logical_id=logical_id,
        loader=load,
        timeout_seconds=float(function_setting(template, logical_id, "Timeout", 3)),
        memory_mb=int(function_setting(template, logical_id, "MemorySize", 128)),
        environments=environments,
    )


def mount_layers(template: dict[str, Any]) -> list[Path]:
    """Put each layer's ContentUri on sys.path, as Lambda mounts layers under /opt/python."""
    mounted = []
    for spec in template.get("Resources", {}).values():
        if spec.get("Type") != "AWS::Serverless::LayerVersion":
            continue
        path = ROOT / str(spec["Properties"]["ContentUri"])
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
        mounted.append(path)
    return mounted
