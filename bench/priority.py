"""Priority benchmark: single sends beside a running 10,000-message SMS broadcast.

Usage: python bench/priority.py [--seconds 60] [--record]

workspace-456 starts a 10,000-recipient SMS broadcast; once it is sending, workspace-123 posts one single
SMS every 500 ms for --seconds. Prints the single sends' latency (POST to arrival at the provider sink:
p50, p95, max), the broadcast's rate while they ran against the rate left to it (50/s less the singles'),
and the most SMS in any sliding second. The broadcast is then cancelled. It talks to a running local
stack (make run), or starts one itself, and first waits for the SMS bulk queue to be empty.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broadcast import API_KEY, max_in_window, stack_is_up, start_stack, wait_for_empty_bulk_queue
from recording import publish, run_header

RATE = 50.0
BULK, SINGLE = "workspace-456", "workspace-123"


def sink_messages(sink: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{sink}/_sink/messages", timeout=30)
    answer.raise_for_status()
    data = answer.json()
    messages: list[dict[str, Any]] = data if isinstance(data, list) else data.get("messages", [])
    return messages


def start_broadcast(http: requests.Session, api: str, size: int) -> str:
    recipients = [{"phoneNumber": f"+1666{n:07d}", "contactId": f"b-{n}"} for n in range(size)]
    body = {"workspaceId": BULK, "name": "priority bench", "message": "Campaign", "recipients": recipients}
    answer = http.post(f"{api}/api/bulk-sms", json=body, timeout=60)
    answer.raise_for_status()
    return str(answer.json()["broadcastId"])


def run(api: str, sink: str, aws: str, seconds: float) -> dict[str, Any]:
    # An earlier broadcast's copies left in the bulk queue (a cancelled one's: the workers cancel them batch by
    # batch) would take the broadcast's batches: a second run in one stack read 51 % of the rate left.
    wait_for_empty_bulk_queue(aws)
    http = requests.Session()
    http.headers["x-api-key"] = API_KEY
    requests.delete(f"{sink}/_sink/messages", timeout=10).raise_for_status()
    broadcast_id = start_broadcast(http, api, 10_000)
    deadline = time.monotonic() + 60
    while not sink_messages(sink) and time.monotonic() < deadline:
        time.sleep(0.2)
    posted: dict[str, float] = {}
    window_start = time.time()
    next_at = time.monotonic()
    index = 0
    while time.time() < window_start + seconds:
        body = {
            "workspaceId": SINGLE,
            "contactId": f"single-{index}",
            "phoneNumber": f"+1777{index:07d}",
            "message": "Your code is 123456",
        }
        sent_at = time.time()
        answer = http.post(f"{api}/api/schedule-sms", json=body, timeout=10)
        answer.raise_for_status()
        posted[answer.json()["messageId"]] = sent_at
        index += 1
        next_at += 0.5
        time.sleep(max(0.0, next_at - time.monotonic()))
    window_end = time.time()
    deadline = time.monotonic() + 30
    arrived: dict[str, float] = {}
    while time.monotonic() < deadline:
        got = sink_messages(sink)
        arrived = {m["messageId"]: m["receivedAt"] for m in got if m["messageId"] in posted}
        if len(arrived) == len(posted):
            break
        time.sleep(0.5)
    http.delete(f"{api}/api/broadcasts/{broadcast_id}", timeout=30).raise_for_status()
    everything = sink_messages(sink)
    latencies = sorted(arrived[m] - posted[m] for m in arrived)
    bulk_in_window = [
        m["receivedAt"]
        for m in everything
        if m["workspaceId"] == BULK and window_start <= m["receivedAt"] <= window_end
    ]
    singles_rate = len(posted) / (window_end - window_start)
    bulk_rate = len(bulk_in_window) / (window_end - window_start)
    return {
        "singles": len(posted),
        "arrived": len(arrived),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "bulk_rate": bulk_rate,
        "rate_left": RATE - singles_rate,
        "max_in_1s": max_in_window([m["receivedAt"] for m in everything]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default=f"http://127.0.0.1:{os.environ.get('QS_API_PORT', '3000')}")
    parser.add_argument("--sink", default=f"http://127.0.0.1:{os.environ.get('QS_SINK_PORT', '3001')}")
    parser.add_argument("--aws", default=f"http://127.0.0.1:{os.environ.get('QS_AWS_PORT', '4566')}")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--record", action="store_true", help="append the section to bench/RESULTS.md")
    args = parser.parse_args()
    process = None if stack_is_up(args.api) else start_stack(args.api)
    try:
        result = run(args.api, args.sink, args.aws, args.seconds)
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    share = 100 * result["bulk_rate"] / result["rate_left"]
    text = "\n".join(
        [
            run_header("Single sends during a campaign"),
            f"workspace-456 broadcasts 10,000 SMS; once it is sending, workspace-123 posts one SMS every 500 ms for"
            f" {args.seconds:g} s; then the broadcast is cancelled. Latency: POST to arrival at the provider sink.",
            "",
            "| single sends | p50 | p95 | max | broadcast's rate | rate left to it | share | most SMS in 1 s |",
            "|---|---|---|---|---|---|---|---|",
            f"| {result['arrived']}/{result['singles']} | {result['p50']:.2f} s | {result['p95']:.2f} s"
            f" | {result['max']:.2f} s | {result['bulk_rate']:.1f}/s | {result['rate_left']:.1f}/s | {share:.0f} %"
            f" | {result['max_in_1s']} |",
        ]
    )
    publish(text + "\n", args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
