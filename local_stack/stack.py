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

from local_stack.gateway import LocalGateway
from local_stack.gc_pauses import freeze_after_full_collections
from local_stack.pollers import QueuePoller, mappings_from_template
from local_stack.provision import provision
from local_stack.runtime import ROOT, LocalFunction, load_function, mount_layers
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
    log_level: str = "WARNING"  # of the handlers' Powertools loggers
    emf: bool = False

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
        # Many handler threads share this process's GIL; a shorter switch interval lets a sender that
        # sleeps until its rate-limit slot wake on time instead of 5 ms+ late behind busy threads.
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
            self._set_environment()
            session = boto3.Session()
            provision(self.resolver, session)
            self._set_function_environment()
            mount_layers(self.template)
            self._seed_api_keys(session)
            mappings = mappings_from_template(self.resolver)
            concurrency = {m.function_id: m.maximum_concurrency for m in mappings}
            for logical_id in resources_of_type(self.template, "AWS::Serverless::Function"):
                self.functions[logical_id] = load_function(
                    self.template, logical_id, environments=concurrency.get(logical_id, 1)
                )
            self.gateway = LocalGateway(self.template, self.functions, config.api_port).start()
            sqs = session.client("sqs")
            self.pollers = [QueuePoller(m, self.functions[m.function_id], sqs).start() for m in mappings]
            self.scheduler = ScheduleFirer(session.client("scheduler"), sqs).start()
        except BaseException:
            self.stop()
            raise
        return self

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

    def _set_environment(self) -> None:
        os.environ.update(
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - the emulator accepts any credentials
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            AWS_ENDPOINT_URL=self.aws_url,
            POWERTOOLS_TRACE_DISABLED="1",
            POWERTOOLS_METRICS_DISABLED="false" if self.config.emf else "true",
        )
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)

    def _set_function_environment(self) -> None:
        """Globals plus each function's Environment. Handlers share this process, so two functions may not
        give one variable different values."""
        assert self.resolver is not None
        merged: dict[str, tuple[str, str]] = {}
        for logical_id in resources_of_type(self.template, "AWS::Serverless::Function"):
            for name, value in function_environment(self.template, self.resolver, logical_id).items():
                if name in merged and merged[name][1] != value:
                    raise StackError(
                        f"{name} differs between {merged[name][0]} and {logical_id}; the local stack runs"
                        " every handler in one process and needs one value"
                    )
                merged[name] = (logical_id, value)
        os.environ.update({name: value for name, (_, value) in merged.items()})
        os.environ["POWERTOOLS_LOG_LEVEL"] = self.config.log_level

    def _seed_api_keys(self, session: Any) -> None:
        """DESIGN §5's keys, in the table the authorizer reads (hashed as the service stores them)."""
        from queue_services.tenancy import ADMIN, WORKSPACE, Principal, api_key_item

        assert self.resolver is not None
        table = self.resolver.resources["ApiKeysTable"].ref
        client = session.client("dynamodb")
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
        for child in self._children:
            if child.poll() is None:
                child.terminate()
        for child in self._children:
            try:
                child.wait(3)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
