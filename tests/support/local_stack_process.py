"""The e2e tier's stack: the whole local stack (`python -m local_stack`) on free ports, driven over real HTTP."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.support.seeds import seed_body

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


ADMIN_KEY = "local-admin-key"
SCHEDULER_THRESHOLD_SECONDS = 5


def keyed_session(api_key: str | None) -> requests.Session:
    session = requests.Session()
    if api_key:
        session.headers["x-api-key"] = api_key
    return session


@dataclass
class LocalStackProcess:
    api: str
    sink: str
    aws: str
    process: subprocess.Popen[str]
    log_path: Path
    # Calls to the API carry the admin key unless a test uses another session.
    http: requests.Session = field(default_factory=lambda: keyed_session(ADMIN_KEY))

    def aws_client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def sink_messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        params = {"channel": channel} if channel else None
        messages: list[dict[str, Any]] = requests.get(f"{self.sink}/_sink/messages", params=params, timeout=5).json()[
            "messages"
        ]
        return messages

    def sink_requests(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = requests.get(f"{self.sink}/_sink/requests", timeout=5).json()["requests"]
        return found

    def set_faults(self, **faults: Any) -> None:
        requests.put(f"{self.sink}/_sink/faults", json=faults, timeout=5).raise_for_status()

    def metrics(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get(f"{self.api}/api/metrics", timeout=5).json()
        return answer

    def log(self) -> str:
        return self.log_path.read_text()


def busiest_window(stamps: list[float], window: float = 1.0) -> int:
    """The most of the (sorted) stamps in any sliding window of that length: what a provider's limit sees."""
    best = start = 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(interval)


# An E.164 number or an email address written out in full (masked ones have * in them, so never match).
_PHONE = re.compile(r"(?<![\w*])\+[1-9]\d{6,14}(?!\d)")
_ADDRESS = re.compile(r"(?<![\w*.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# The last line of the banner `python -m local_stack` prints at start (local_stack/__main__.py).
BANNER_END = "Ctrl-C stops everything."
# Senders are not recipients: a workspace's own From address may be logged.
_SENDER_DOMAINS = ("@acme.example",)


def personal_data_in(log: str) -> list[str]:
    """Full phone numbers, email addresses and the seed's message texts found in a stack's log."""
    texts = [SEED_SMS["message"], SEED_EMAIL["subject"], SEED_EMAIL["html"], SEED_EMAIL.get("text") or ""]
    found = _PHONE.findall(log) + [a for a in _ADDRESS.findall(log) if not a.endswith(_SENDER_DOMAINS)]
    found += [text for text in texts if text and text in log]
    return sorted(set(found))


@contextlib.contextmanager
def running_stack(log_dir: Path, *params: str) -> Iterator[LocalStackProcess]:
    """`python -m local_stack --param ...` on free ports, until the block ends."""
    ports = {"QS_API_PORT": free_port(), "QS_AWS_PORT": free_port(), "QS_SINK_PORT": free_port()}
    log_path = log_dir / "stack.log"
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}}
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    arguments = [argument for param in params for argument in ("--param", param)]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "local_stack", *arguments],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
    stack = LocalStackProcess(
        api=f"http://127.0.0.1:{ports['QS_API_PORT']}",
        sink=f"http://127.0.0.1:{ports['QS_SINK_PORT']}",
        aws=f"http://127.0.0.1:{ports['QS_AWS_PORT']}",
        process=process,
        log_path=log_path,
    )

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"local stack exited early:\n{stack.log()}")
        try:
            return requests.get(f"{stack.api}/health", timeout=2).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            # Not up yet, or the api's first environment still starting (INIT took over 2 s on a loaded
            # machine): ask again until the minute is up.
            return False

    try:
        wait_until(healthy, timeout=60)
        yield stack
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Everything every test did through this stack is in its log: none of it may show a recipient or a text.
    # (The start-up banner's example request is the stack's own text, not a caller's: it is left out.)
    log = stack.log()
    leaked = personal_data_in(log.split(BANNER_END, 1)[-1])
    assert not leaked, f"the local stack's log ({log_path}) shows personal data: {leaked[:10]}"
    # Each function's calls were checked against its template policies: any refusal is a missing permission
    # that would fail the same way on AWS (local_stack/iam.py).
    refused = sorted({line.split("IAM denied: ", 1)[1] for line in log.splitlines() if "IAM denied: " in line})
    assert not refused, f"calls the template's policies do not allow ({log_path}): {refused[:10]}"


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    # Anything due more than 5 s ahead goes through the Scheduler path, so schedules fire within a test.
    with running_stack(
        tmp_path_factory.mktemp("local_stack"), f"MaxSqsDelaySeconds={SCHEDULER_THRESHOLD_SECONDS}"
    ) as stack:
        yield stack


def messages_in_flight(stack: LocalStackProcess) -> int:
    """Messages of the send queues not visible: held by a running batch, or hidden until later (a message
    handed back for a retry, a pause or a cap is not visible either)."""
    sqs = stack.aws_client("sqs")
    total = 0
    for name in ("send-sms-queue", "send-email-queue", "send-sms-bulk-queue", "send-email-bulk-queue"):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
        total += int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])
    return total


def no_batch_in_flight(stack: LocalStackProcess) -> bool:
    """No message of any send queue is in flight (a worker holds every message of its batch until done)."""
    return messages_in_flight(stack) == 0


def wait_for_batches_to_finish(stack: LocalStackProcess, timeout: float = 60, quiet_seconds: float = 5) -> None:
    """Until no message is in flight, or until those in flight and the sink have not changed for
    quiet_seconds: then they are hidden until later, not in a running batch (an earlier test left a message
    hidden for its visibility timeout, and every later test of the stack waited a minute and failed)."""
    deadline = time.monotonic() + timeout
    last: tuple[int, int] | None = None
    since = time.monotonic()
    while True:
        in_flight = messages_in_flight(stack)
        if in_flight == 0:
            return
        state = (in_flight, len(stack.sink_messages()))
        if state != last:
            last, since = state, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{in_flight} messages still in flight after {timeout} s")
        time.sleep(0.5)  # the sink's whole list each time: thousands of messages after a drain


@pytest.fixture
def stack(local_stack: LocalStackProcess) -> LocalStackProcess:
    """The shared stack, with the sink emptied, faults off and metrics zeroed for this test."""
    local_stack.set_faults(rate429=0, rate5xx=0, latencyMs=0, maxPerSecond=None, retryAfterSeconds=1, reject=[])
    # A batch of the previous test can still be finishing (its last sends reached the sink, its counters are
    # not written yet): resetting now would let those counters land in this test's metrics.
    wait_for_batches_to_finish(local_stack)
    requests.delete(f"{local_stack.sink}/_sink/messages", timeout=5).raise_for_status()
    local_stack.http.post(f"{local_stack.api}/api/metrics/reset", json={"type": "all"}, timeout=5).raise_for_status()
    return local_stack


SEED_SMS = seed_body("api_schedule_sms", workspaceId="workspace-123")


SEED_EMAIL = seed_body("api_schedule_email", workspaceId="workspace-123")


def post(stack: LocalStackProcess, route: str, body: dict[str, Any]) -> str:
    response = stack.http.post(f"{stack.api}/api/{route}", json=body, timeout=10)
    assert response.status_code == 202, response.text
    message_id: str = response.json()["messageId"]
    return message_id


def delivered(stack: LocalStackProcess, message_id: str) -> dict[str, Any] | None:
    return next((m for m in stack.sink_messages() if m["messageId"] == message_id), None)
