"""AWS calls and cost per message: count every AWS call of the single-send and the bulk path on the local
stack, then price them at list prices (bench/prices.toml) per million messages.

Usage: python bench/cost.py [--count 2000] [--record]

For each path it sends `count` SMS (single: one POST /api/schedule-sms each, 16 at a time; bulk: one POST
/api/bulk-sms), all due at one instant, and waits until the provider sink has them all. Counted over the
whole run, accept and drain: the emulator's calls by service and action and the DynamoDB items each call
wrote or read (GET /_emulator/calls, /_emulator/items), and each function's invocations, billed
milliseconds and log bytes (GET /_local/invocations). The local pollers' ReceiveMessage and
DeleteMessageBatch calls are counted too: on AWS the event source mapping makes them, billed to you. Left
out of the cost: the authorizer's invocations and key reads (the local stack asks it on every request; API
Gateway caches its answer per key for 300 s) and the local scheduler's listings (the Scheduler service's
own work on AWS).

DynamoDB units are derived from the counted items with these rules (on-demand; every item here is under
1 KB): one write unit per item written, two inside a transaction, plus one per index whose keys or
projected attributes the write sets (ledger records: byContact, byRecipient, byBroadcast for a broadcast's,
and byBroadcast again at each status change); one read unit per item read consistently (GetItem,
BatchGetItem), a Query's items at 4 KB per unit (half for the eventually consistent index reads).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import signal
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broadcast import API_KEY, stack_is_up, start_stack
from recording import RESULTS, ROOT, current_commit, publish

PRICES = tomllib.loads((ROOT / "bench" / "prices.toml").read_text())
PER_MILLION = 1_000_000
# Indexes a new ledger record lands in (base table apart), by path; and those a status change rewrites.
NEW_RECORD_INDEXES = {"single": 2, "bulk": 3}
STATUS_CHANGE_INDEXES = {"single": 0, "bulk": 1}


def reset(api: str, sink: str, aws: str) -> None:
    requests.delete(f"{sink}/_sink/messages", timeout=10).raise_for_status()
    requests.delete(f"{aws}/_emulator/calls", timeout=10).raise_for_status()
    requests.put(f"{aws}/_emulator/items", timeout=10).raise_for_status()
    requests.delete(f"{aws}/_emulator/items", timeout=10).raise_for_status()
    requests.delete(f"{api}/_local/invocations", timeout=10).raise_for_status()


def send(path: str, count: int, api: str, lead: float) -> tuple[int, set[str]]:
    """Post count SMS by path; returns the API requests made and the message ids (single path only)."""
    session = requests.Session()
    session.headers["x-api-key"] = API_KEY
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))
    send_at = (datetime.now(UTC) + timedelta(seconds=lead)).isoformat()

    def body(index: int) -> dict[str, Any]:
        return {"phoneNumber": f"+1555{index:07d}", "contactId": f"cost-{index}"}

    if path == "single":

        def post(index: int) -> str:
            payload = {**body(index), "message": "Cost benchmark", "workspaceId": f"workspace-{index % 4}"}
            answer = session.post(f"{api}/api/schedule-sms", json={**payload, "sendAt": send_at}, timeout=30)
            answer.raise_for_status()
            return str(answer.json()["messageId"])

        with ThreadPoolExecutor(max_workers=16) as pool:
            return count, set(pool.map(post, range(count)))
    requests_made = 0
    for start in range(0, count, 10_000):
        recipients = [body(index) for index in range(start, min(count, start + 10_000))]
        bulk = {"workspaceId": "workspace-0", "message": "Cost benchmark", "recipients": recipients, "sendAt": send_at}
        session.post(f"{api}/api/bulk-sms", json=bulk, timeout=120).raise_for_status()
        requests_made += 1
    return requests_made, set()


def wait_for(sink: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = requests.get(f"{sink}/_sink/messages", params={"channel": "sms"}, timeout=30).json()["messages"]
        if len({m["messageId"] for m in messages}) >= count:
            return
        time.sleep(1)
    raise SystemExit(f"the sink did not get {count} messages in {timeout:.0f} s")


def dynamodb_units(calls: dict[str, int], items: dict[str, int], path: str) -> tuple[float, float]:
    """Write and read units of the run, by the rules in the module docstring."""
    writes = reads = 0.0
    for operation, number in calls.items():
        if not operation.startswith("DynamoDB_"):
            continue
        action = operation.split(".", 1)[1]
        counted = items.get(operation, number)
        if action in ("PutItem", "UpdateItem", "DeleteItem") or action == "BatchWriteItem":
            writes += counted
        elif action == "TransactWriteItems":
            writes += 2 * counted
        elif action in ("GetItem", "BatchGetItem"):
            reads += counted
        elif action == "Query":
            reads += max(number, math.ceil(counted * 0.2 / 4) * 0.5)  # ~200-byte index entries, 4 KB a unit
    return writes, reads


def index_writes(messages: int, path: str) -> float:
    """Index writes the counted calls do not show: at creation, and each status change that an index
    projects (queued -> sending -> sent: two)."""
    return messages * (NEW_RECORD_INDEXES[path] + 2 * STATUS_CHANGE_INDEXES[path])


def aws_usage(usage: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The invocations AWS would bill. The local stack asks the authorizer on every request; API Gateway
    caches its answer per key for ReauthorizeEvery (300 s), so at volume its invocations round to none."""
    return {function: u for function, u in usage.items() if function != "AuthorizerFunction"}


def cost_rows(run: dict[str, Any]) -> dict[str, float]:
    """USD per million messages, by service."""
    n = run["messages"]
    billed = aws_usage(run["usage"])
    lambda_gb_s = sum(u["billedMs"] / 1000 * u["memoryMb"] / 1024 for u in billed.values())
    invocations = sum(u["invocations"] for u in billed.values())
    log_gb = sum(u.get("logBytes", 0) for u in billed.values()) / 1e9
    sqs = sum(number for op, number in run["calls"].items() if op.startswith("AmazonSQS."))
    # Named schedules only (create, delete): the local scheduler's own listings stand for the AWS service.
    scheduler = sum(number for op, number in run["calls"].items() if op.startswith("/schedules/"))
    calls = dict(run["calls"])
    # The authorizer's key reads: one GetItem per invocation, cached away on AWS (see aws_usage).
    key_reads = run["usage"].get("AuthorizerFunction", {}).get("invocations", 0)
    calls["DynamoDB_20120810.GetItem"] = max(0, calls.get("DynamoDB_20120810.GetItem", 0) - key_reads)
    writes, reads = dynamodb_units(calls, run["items"], run["path"])
    writes += index_writes(n, run["path"])
    scale = PER_MILLION / n
    return {
        "Lambda": (
            lambda_gb_s * PRICES["lambda"]["arm64_gb_second"]
            + invocations * PRICES["lambda"]["requests_per_million"] / PER_MILLION
        )
        * scale,
        "API Gateway": run["api_requests"] * PRICES["api_gateway"]["rest_requests_per_million"] / PER_MILLION * scale,
        "SQS": sqs * PRICES["sqs"]["requests_per_million"] / PER_MILLION * scale,
        "DynamoDB": (
            writes * PRICES["dynamodb"]["write_request_units_per_million"]
            + reads * PRICES["dynamodb"]["read_request_units_per_million"]
        )
        / PER_MILLION
        * scale,
        "Scheduler": scheduler * PRICES["scheduler"]["invocations_per_million"] / PER_MILLION * scale,
        "CloudWatch Logs": log_gb * PRICES["cloudwatch"]["logs_ingested_per_gb"] * scale,
    }


def naive_rows(single: dict[str, Any]) -> dict[str, float]:
    """A naive design, per million messages: one request per message everywhere. Per message: 1 API
    request and api invocation (this run's api cost per message); SQS SendMessage, ReceiveMessage and
    DeleteMessage (3); a worker invocation per message of 100 ms at 512 MB; DynamoDB: ledger put at accept,
    ledger update and counter update at send, idempotency put and update, one limiter write (6 WRU) and a
    ledger read (1 RRU)."""
    ours = cost_rows(single)
    worker = 0.1 * 0.5 * PRICES["lambda"]["arm64_gb_second"] + PRICES["lambda"]["requests_per_million"] / PER_MILLION
    api_usage = single["usage"].get("ApiFunction", {"billedMs": 0, "memoryMb": 512, "invocations": 1})
    api_lambda = (
        api_usage["billedMs"] / 1000 * api_usage["memoryMb"] / 1024 * PRICES["lambda"]["arm64_gb_second"]
        + api_usage["invocations"] * PRICES["lambda"]["requests_per_million"] / PER_MILLION
    )
    api_per_message = api_lambda / single["messages"]
    return {
        "Lambda": (worker + api_per_message) * PER_MILLION,
        "API Gateway": ours["API Gateway"],
        "SQS": 3 * PRICES["sqs"]["requests_per_million"],
        "DynamoDB": 6 * PRICES["dynamodb"]["write_request_units_per_million"]
        + PRICES["dynamodb"]["read_request_units_per_million"],
        "Scheduler": 0.0,
        "CloudWatch Logs": ours["CloudWatch Logs"],
    }


def measure(path: str, count: int, api: str, sink: str, aws: str) -> dict[str, Any]:
    reset(api, sink, aws)
    lead = count / 150 + 5 if path == "single" else 3
    api_requests, _ = send(path, count, api, lead)
    wait_for(sink, count, timeout=lead + count / 50 * 3 + 60)
    time.sleep(3)  # the last batches' ledger and counter writes
    return {
        "path": path,
        "messages": count,
        "api_requests": api_requests,
        "calls": requests.get(f"{aws}/_emulator/calls", timeout=10).json(),
        "items": requests.get(f"{aws}/_emulator/items", timeout=10).json(),
        "usage": requests.get(f"{api}/_local/invocations", timeout=10).json(),
    }


def report(runs: list[dict[str, Any]], count: int) -> str:
    commit = current_commit()
    lines = [
        f"### AWS calls and cost per message ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"{platform.python_version()}, commit {commit})",
        "",
        f"`python bench/cost.py --count {count}`: {count} SMS per path, all due at once, accept and drain counted. "
        f"Prices: `bench/prices.toml` ({PRICES['date']}, {PRICES['region']}).",
        "",
        "AWS calls per message, by service and action:",
        "",
        "| call | " + " | ".join(run["path"] for run in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    operations = sorted({op for run in runs for op in run["calls"]})
    for op in operations:
        cells = [
            f"{run['calls'].get(op, 0) / run['messages']:.3f}"
            + (f" ({run['items'][op] / run['messages']:.2f} items)" if op in run["items"] else "")
            for run in runs
        ]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    totals = [f"**{sum(run['calls'].values()) / run['messages']:.3f}**" for run in runs]
    lines.append("| **all AWS calls** | " + " | ".join(totals) + " |")
    lines += ["", "Lambda per message (billed ms, invocations):", ""]
    for run in runs:
        parts = [
            f"{fid} {u['billedMs'] / run['messages']:.1f} ms / {u['invocations'] / run['messages']:.3f} inv."
            for fid, u in sorted(run["usage"].items())
            if u["invocations"]
        ]
        lines.append(f"- {run['path']}: " + "; ".join(parts))
    rows = {run["path"]: cost_rows(run) for run in runs}
    single = next(run for run in runs if run["path"] == "single")
    rows["naive (one request per message)"] = naive_rows(single)
    services = list(next(iter(rows.values())))
    lines += [
        "",
        "USD per million messages:",
        "",
        "| design | " + " | ".join(services) + " | **total** | share of the SMS fee |",
        "|---|" + "---|" * (len(services) + 2),
    ]
    fee = PRICES["provider"]["sms_per_message"] * PER_MILLION
    for name, row in rows.items():
        total = sum(row.values())
        cells = " | ".join(f"{value:.2f}" for value in row.values())
        lines.append(f"| {name} | {cells} | **{total:.2f}** | {100 * total / fee:.2f} % |")
    lines += [
        "",
        f"The SMS provider's own fee, at an assumed ${PRICES['provider']['sms_per_message']} a message: "
        f"${fee:,.0f} per million. Lambda is billed here as the local stack measured it (2 shared cores; "
        "workers wait for the provider's rate inside their invocations, which Lambda bills).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--api", default=f"http://127.0.0.1:{os.environ.get('QS_API_PORT', '3000')}")
    parser.add_argument("--sink", default=f"http://127.0.0.1:{os.environ.get('QS_SINK_PORT', '3001')}")
    parser.add_argument("--aws", default=f"http://127.0.0.1:{os.environ.get('QS_AWS_PORT', '4566')}")
    parser.add_argument("--record", action="store_true", help=f"append the tables to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    # --emf: the workers print their EMF lines, as on Lambda, so that the log bytes include them.
    process = None if stack_is_up(args.api) else start_stack(args.api, "--emf")
    try:
        runs = [measure(path, args.count, args.api, args.sink, args.aws) for path in ("single", "bulk")]
    finally:
        # Counting items costs the emulator CPU: a stack that lives on (make bench's) must not keep paying it.
        requests.put(f"{args.aws}/_emulator/items", json={"count": False}, timeout=10)
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=15)
    text = report(runs, args.count)
    publish(text, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
