"""Worker overhead benchmark: CPU milliseconds per message in the SMS worker's handler, provider wait left
out, broken down by concern.

Usage: python bench/worker_overhead.py [--batches 20] [--record]

A fresh interpreter loads functions/sms_worker/app.py with the function's environment, its AWS calls
going to the emulator (a process of its own, so moto's CPU is not the worker's) and its provider calls to
the sink (another process, answering at once), the channel's rate set to 100,000/s so that nothing waits
for a slot. Each batch of 50 messages is accepted first (through the api's own intake, untimed), received
from the queue as the event source would, and handed to the handler. The process's CPU time (all its
threads) over each handler call is the total; the parts are the CPU time (per thread, so a sender thread's
time counts once) spent inside each concern's functions, less what nested concerns took:

- parse: reading the SQS records into messages (ChannelWorker._parse)
- ledger: the ledger's batched read, claim and settlement (Ledger, Settlement)
- limiter: the shared rate limiter and its slot claims (SharedRateLimiter, DynamoDbSlotClaimer)
- idempotency: Powertools Idempotency around each send, and its batched record writes
- metrics: the DynamoDB counters (MetricsStore) and the EMF metrics and their flush
- HTTP: the provider calls (ProviderClient.send: requests, urllib3, the socket)
- other: the rest (the batch's bookkeeping, outcomes, retries, logging, settings and broadcast checks)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from cold_start import probe_environment, start_emulator  # noqa: E402
from recording import RESULTS, ROOT, current_commit, publish  # noqa: E402 - bench/ is not a package

CATEGORIES = ("parse", "ledger", "limiter", "idempotency", "metrics", "HTTP", "other")
PROBE = r"""
import collections, json, os, sys, threading, time
from datetime import UTC, datetime
batches, size = int(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, os.path.join(sys.argv[3], "functions", "sms_worker"))
sys.path.insert(0, sys.argv[3])
import app
import boto3
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.utilities.idempotency.base import IdempotencyHandler
from local_stack.lambda_context import LocalLambdaContext
from local_stack.pollers import to_lambda_record
from queue_services import composition, worker
from queue_services.adapters.idempotency_store import BatchingDynamoDBPersistenceLayer, BatchPutWriter
from queue_services.adapters.ledger import Ledger
from queue_services.adapters.metrics_store import MetricsStore
from queue_services.adapters.rate_limit_table import DynamoDbSlotClaimer
from queue_services.adapters.settlement import Settlement
from queue_services.models import ScheduleSmsRequest
from queue_services.providers import ProviderClient
from queue_services.ratelimit import SharedRateLimiter
from queue_services.settings import get_settings
from queue_services.tenancy import Principal

totals = collections.defaultdict(float)
lock = threading.Lock()
local = threading.local()

def timed(category, function):
    def wrapper(*args, **kwargs):
        stack = getattr(local, "stack", None)
        if stack is None:
            stack = local.stack = []
        started = time.thread_time()
        stack.append(0.0)
        try:
            return function(*args, **kwargs)
        finally:
            spent = time.thread_time() - started
            nested = stack.pop()
            with lock:
                totals[category] += spent - nested
            if stack:
                stack[-1] += spent
    return wrapper

def patch(category, owner, *names):
    for name in names:
        setattr(owner, name, timed(category, getattr(owner, name)))

patch("parse", worker.ChannelWorker, "_parse")
patch("ledger", Ledger, "get_many", "claim_for_sending", "cancel_many", "save_many")
patch("ledger", Settlement, "settle")
patch("limiter", SharedRateLimiter, "acquire", "reserve", "wait_for", "release", "forgo", "slow_down")
patch("limiter", DynamoDbSlotClaimer, "claim", "slow_down")
patch("idempotency", IdempotencyHandler, "handle")
patch("idempotency", BatchingDynamoDBPersistenceLayer, "_update_record")
patch("idempotency", BatchPutWriter, "put")
patch("metrics", MetricsStore, "record", "record_minute")
patch("metrics", AmazonCloudWatchEMFProvider, "flush_metrics")
patch("metrics", worker, "add_batch_metrics")
patch("HTTP", ProviderClient, "send")

settings = get_settings()
sqs = boto3.client("sqs")
url = settings.sms_queue_url
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
intake = composition.message_intake()
admin = Principal(role="admin")
results = []
devnull = open(os.devnull, "w")
for batch in range(batches + 1):  # the first batch warms the environment up and is not counted
    for index in range(size):
        body = {"phoneNumber": f"+1555{batch:03d}{index:04d}", "message": "Overhead benchmark",
                "contactId": f"c-{index}", "workspaceId": f"workspace-{index % 4}"}
        intake.schedule(ScheduleSmsRequest(**body), admin, datetime.now(UTC))
    received = []
    while len(received) < size:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                     MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
        received += answer.get("Messages", [])
    event = {"Records": [to_lambda_record(message, arn) for message in received]}
    totals.clear()
    stdout, sys.stdout = sys.stdout, devnull  # the EMF lines
    started = time.process_time()
    response = app.lambda_handler(event, LocalLambdaContext("SmsWorkerFunction", 512, 30))
    spent = time.process_time() - started
    sys.stdout = stdout
    assert response == {"batchItemFailures": []}, response
    if batch:
        results.append({"total": spent, **dict(totals)})
print(json.dumps(results))
"""


def measure(batches: int, size: int) -> list[dict[str, float]]:
    emulator, _ = start_emulator()
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    sink = subprocess.Popen(
        [sys.executable, "-m", "local_stack.sink", "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None
        sink.stdout.readline()  # "sink ready on ..."
        sink_url = f"http://127.0.0.1:{port}"
        environment = {
            **probe_environment("SmsWorkerFunction"),
            "SMS_API_URL": sink_url,
            "SMS_RATE_PER_SECOND": "100000",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        answer = subprocess.run(
            [sys.executable, "-c", PROBE, str(batches), str(size), str(ROOT)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=environment,
            check=True,
        )
        rows: list[dict[str, float]] = json.loads(answer.stdout.strip().splitlines()[-1])
        return rows
    finally:
        sink.terminate()
        emulator.terminate()
        emulator.wait(timeout=15)


def report(rows: list[dict[str, float]], size: int) -> str:
    per_message = {
        category: statistics.median(row.get(category, 0.0) for row in rows) * 1000 / size
        for category in ("total", *CATEGORIES[:-1])
    }
    per_message["other"] = per_message["total"] - sum(per_message[c] for c in CATEGORIES[:-1])
    lines = [
        f"### Worker overhead ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"{platform.python_version()}, commit {current_commit()})",
        "",
        f"`python bench/worker_overhead.py --batches {len(rows)}`: the SMS worker's handler fed {len(rows)} batches of "
        f"{size} (after one to warm up), the sink answering at once, the rate at 100,000/s; CPU ms per message, "
        "medians over the batches.",
        "",
        "| " + " | ".join(CATEGORIES) + " | **total** |",
        "|" + "---|" * (len(CATEGORIES) + 1),
        "| " + " | ".join(f"{per_message[c]:.2f}" for c in CATEGORIES) + f" | **{per_message['total']:.2f}** |",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--size", type=int, default=50)
    parser.add_argument("--record", action="store_true", help=f"append the table to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    text = report(measure(args.batches, args.size), args.size)
    publish(text, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
