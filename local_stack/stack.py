"""Starts and stops the whole local stack: emulator, provisioning, sink, handlers, gateway, pollers, scheduler."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from local_stack import iam
from local_stack.gateway import LocalGateway
from local_stack.gc_pauses import freeze_after_full_collections
from local_stack.handler_logs import HandlerLogRelay
from local_stack.pollers import MappingConfig, QueuePoller, mappings_from_template
from local_stack.provision import provision
from local_stack.routing import ApiRouter
from local_stack.runtime import ROOT, FunctionError, LocalFunction, function_spec, mount_layers, spawn_function
from local_stack.scheduler import ScheduleFirer
from local_stack.template import (
    DEFAULT_TEMPLATE,
    REGION,
    Resolver,
    function_environment,
    load_template,
    resources_of_type,
)

log = logging.getLogger("local_stack")

SEED_API_KEYS = {"local-key-123": "workspace-123", "local-key-456": "workspace-456", "local-admin-key": "admin"}


class StackError(Exception):
    """A reason the stack cannot start, worded for the operator (one line)."""


@dataclass
class StackConfig:
    api_port: int = 3000
    aws_port: int = 4566
    sink_port: int = 3001
    template: Path = DEFAULT_TEMPLATE
    parameters: dict[str, str] = field(default_factory=dict)
    log_level: str = "INFO"  # of the handlers' Powertools loggers
    raw_logs: bool = False  # the handlers' JSON log lines as they are, not as one-line summaries
    emf: bool = False
    # Environments of an API-invoked function (api, authorizer): warm at start, and the most started on
    # demand (more would only share the same two cores); workers get their event sources' MaximumConcurrency.
    api_warm_environments: int = 2
    api_environments: int = 4

    @classmethod
    def from_environment(cls, **overrides: Any) -> StackConfig:
        config = cls(
            api_port=int(os.environ.get("QS_API_PORT", 3000)),
            aws_port=int(os.environ.get("QS_AWS_PORT", 4566)),
            sink_port=int(os.environ.get("QS_SINK_PORT", 3001)),
        )
        for name, value in overrides.items():
            if value is not None:
                setattr(config, name, value)
        return config


def check_port_free(port: int, variable: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(f"port {port} is already in use; set {variable} to a free port") from None


class LocalStack:
    """The running stack; start() returns once everything answers, stop() ends it within a few seconds."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.template = load_template(config.template)
        self._children: list[subprocess.Popen[str]] = []
        self.gateway: LocalGateway | None = None
        self.pollers: list[QueuePoller] = []
        self.scheduler: ScheduleFirer | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.resolver: Resolver | None = None

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.config.aws_port}"

    @property
    def sink_url(self) -> str:
        return f"http://127.0.0.1:{self.config.sink_port}"

    def start(self) -> LocalStack:
        # The gateway's and the pollers' threads share this process's GIL; a shorter switch interval keeps a
        # waiting poller or request from queueing 5 ms+ behind a busy thread.
        sys.setswitchinterval(0.001)
        freeze_after_full_collections()
        config = self.config
        for port, variable in (
            (config.api_port, "QS_API_PORT"),
            (config.aws_port, "QS_AWS_PORT"),
            (config.sink_port, "QS_SINK_PORT"),
        ):
            check_port_free(port, variable)
        try:
            self._start_child("AWS emulator", "local_stack.emulator", config.aws_port)
            self._start_child("provider sink", "local_stack.sink", config.sink_port)
            self.resolver = Resolver(
                self.template, {"SmsApiUrl": self.sink_url, "EmailApiUrl": self.sink_url, **config.parameters}
            )
            session = boto3.Session(
                aws_access_key_id="local",
                aws_secret_access_key="local",  # noqa: S106 - the emulator accepts any credentials
                region_name=REGION,
            )
            provision(self.resolver, session, endpoint_url=self.aws_url)
            mount_layers(self.template)  # the stack itself imports queue_services to hash the seeded keys
            self._seed_api_keys(session)
            # From here on, each function's calls are checked against its template policies (local_stack.iam).
            grants = iam.grants_to_json(iam.function_grants(self.template, self.resolver))
            requests.put(f"{self.aws_url}/_emulator/iam", json=grants, timeout=10).raise_for_status()
            mappings = mappings_from_template(self.resolver)
            self._start_functions(mappings)
            self.gateway = LocalGateway(ApiRouter(self.template, self.functions), config.api_port).start()
            sqs = session.client("sqs", endpoint_url=self.aws_url)
            self.pollers = [QueuePoller(m, self.functions[m.function_id], sqs).start() for m in mappings]
            scheduler = session.client("scheduler", endpoint_url=self.aws_url)
            self.scheduler = ScheduleFirer(scheduler, sqs).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_functions(self, mappings: list[MappingConfig]) -> None:
        """A pool of environments per function: its SQS event sources' MaximumConcurrency in all (warm), or
        a few warm and more on demand for the API's functions."""
        assert self.resolver is not None
        concurrency: dict[str, int] = {}
        for mapping in mappings:
            concurrency[mapping.function_id] = concurrency.get(mapping.function_id, 0) + mapping.maximum_concurrency
        ids = list(resources_of_type(self.template, "AWS::Serverless::Function"))
        specs = {
            logical_id: function_spec(self.template, logical_id, self.lambda_environment(logical_id))
            for logical_id in ids
        }
        errors: list[BaseException] = []

        def start(logical_id: str) -> None:
            workers = concurrency.get(logical_id)
            relay = HandlerLogRelay(logical_id, raw=self.config.raw_logs)
            try:
                self.functions[logical_id] = spawn_function(
                    specs[logical_id],
                    warm=workers or self.config.api_warm_environments,
                    limit=workers or self.config.api_environments,
                    log_line=relay,
                )
                self.functions[logical_id].log_bytes = lambda: relay.bytes
            except FunctionError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(logical_id,)) for logical_id in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise StackError(str(errors[0]))

    def lambda_environment(self, logical_id: str) -> dict[str, str]:
        """Exactly what Lambda gives one function's environments: its variables from the template (Globals
        plus its own), the runtime's reserved variables, and the local wiring (emulator, log level)."""
        assert self.resolver is not None
        spec = function_spec(self.template, logical_id, {})
        runtime = {
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{spec.timeout_seconds:g}",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{logical_id}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # The function's own key: the emulator checks its calls against its template policies (local_stack.iam).
            "AWS_ACCESS_KEY_ID": logical_id,
            "AWS_SECRET_ACCESS_KEY": "local",
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": str(ROOT / spec.code_uri),
            "TZ": ":UTC",
            "LANG": "C.UTF-8",  # en_US.UTF-8 on Lambda; C.UTF-8 is the UTF-8 locale every Debian has
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        local = {
            "AWS_ENDPOINT_URL": self.aws_url,
            # No X-Ray daemon locally; EMF lines only when asked for.
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "false" if self.config.emf else "true",
            "POWERTOOLS_LOG_LEVEL": self.config.log_level,
        }
        return {**function_environment(self.template, self.resolver, logical_id), **runtime, **local}

    def _start_child(self, name: str, module: str, port: int) -> None:
        """Start `python -m module --port port` and wait for its ready line (emulator and sink run apart)."""
        child = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", module, "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._children.append(child)
        ready = threading.Event()
        lines: list[str] = []

        def pump(stream: Any) -> None:
            for line in stream:
                lines.append(line.rstrip())
                if "ready" in line:
                    ready.set()
                elif ready.is_set():
                    log.warning("%s: %s", name, line.rstrip())

        threading.Thread(target=pump, args=(child.stdout,), daemon=True).start()
        deadline = time.monotonic() + 60
        while not ready.wait(0.1):
            if child.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"the {name} did not start: " + (" | ".join(lines[-3:]) or "no output"))

    def _seed_api_keys(self, session: Any) -> None:
        """DESIGN §5's keys, in the table the authorizer reads (hashed as the service stores them)."""
        from queue_services.adapters.api_keys import api_key_item
        from queue_services.tenancy import ADMIN, WORKSPACE, Principal

        assert self.resolver is not None
        table = self.resolver.resources["ApiKeysTable"].ref
        client = session.client("dynamodb", endpoint_url=self.aws_url)
        for key, owner in SEED_API_KEYS.items():
            principal = Principal(role=ADMIN) if owner == ADMIN else Principal(role=WORKSPACE, workspace_id=owner)
            client.put_item(TableName=table, Item=api_key_item(key, principal))

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        for poller in self.pollers:
            poller.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        for poller in self.pollers:
            poller.join(3.0)
        for function in self.functions.values():
            function.close()
        for child in self._children:
            if child.poll() is None:
                child.terminate()
        for child in self._children:
            try:
                child.wait(3)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
