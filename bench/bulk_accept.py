"""Bulk accept benchmark: how long POST /api/bulk-sms takes to answer for 2,000 and 10,000 recipients.

Usage: python bench/bulk_accept.py [--runs 20] [--sizes 2000 10000] [--record]

Each run posts one broadcast (all recipients valid, each with a variable) due now, as a caller would:
the workers start sending while the request is still being accepted. Once answered, the broadcast is
cancelled and the run waits until the workers have emptied the bulk queue (they cancel the rest), so
that every run starts from an idle stack. With --keep, each broadcast is due a day ahead instead and
left scheduled: nothing drains while the next run is accepted (a broadcast due now and kept would have
the workers sending thousands during the later runs). Prints p50, p95 and max per size. It talks to a
running local stack (make run), or starts one itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broadcast import API_KEY, stack_is_up, start_stack, wait_for_empty_bulk_queue
from recording import publish, run_header, speed_loop_seconds


def body(size: int, run: int, ahead: bool) -> dict[str, Any]:
    recipients = [
        {"phoneNumber": f"+1555{n:07d}", "contactId": f"r{run}-c{n}", "variables": {"firstName": f"Name{n}"}}
        for n in range(size)
    ]
    due = {"sendAt": (datetime.now(UTC) + timedelta(days=1)).isoformat()} if ahead else {}
    return {
        "workspaceId": "workspace-123",
        "name": f"bench {size} #{run}",
        "message": "Hi {{firstName}}, your order is ready for pickup.",
        "recipients": recipients,
        **due,
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run_size(http: requests.Session, api: str, aws: str, size: int, runs: int, cancel: bool) -> dict[str, float]:
    seconds = []
    for run in range(runs):
        payload = body(size, run, ahead=not cancel)
        started = time.perf_counter()
        answer = http.post(f"{api}/api/bulk-sms", json=payload, timeout=60)
        seconds.append(time.perf_counter() - started)
        print(f"  run {run + 1}: {seconds[-1]:.2f} s", file=sys.stderr)
        answer.raise_for_status()
        accepted = answer.json()
        assert accepted["accepted"] == size, accepted
        if cancel:
            http.delete(f"{api}/api/broadcasts/{accepted['broadcastId']}", timeout=30).raise_for_status()
            wait_for_empty_bulk_queue(aws)
    return {
        "p50": statistics.median(seconds),
        "p95": percentile(seconds, 0.95),
        "max": max(seconds),
        "min": min(seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default=f"http://127.0.0.1:{os.environ.get('QS_API_PORT', '3000')}")
    parser.add_argument("--aws", default=f"http://127.0.0.1:{os.environ.get('QS_AWS_PORT', '4566')}")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave each broadcast scheduled (a day ahead) instead of cancelling it: for a stack that is "
        "thrown away afterwards (make bench); cancelling 10,000 keeps the local workers busy for a while",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--record", action="store_true", help="append the section to bench/RESULTS.md")
    args = parser.parse_args()
    process = None if stack_is_up(args.api) else start_stack(args.api)
    # The header reads the machine's speed after the runs; this reading is from before them.
    speed_before = speed_loop_seconds()
    http = requests.Session()
    http.headers["x-api-key"] = API_KEY
    results = {}
    try:
        for size in args.sizes:
            results[size] = run_size(http, args.api, args.aws, size, args.runs, not args.keep)
            r = results[size]
            print(
                f"{size:>6} recipients, {args.runs} runs: p50 {r['p50']:.2f} s, p95 {r['p95']:.2f} s,"
                f" max {r['max']:.2f} s (min {r['min']:.2f} s)"
            )
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    lines = [
        run_header("Accepting a bulk request"),
        f"One POST /api/bulk-sms at a time, {args.runs} runs per size, "
        + (
            "sendAt a day ahead (one schedule, left scheduled on a stack thrown away afterwards)"
            if args.keep
            else "due now (cancelled once answered, the next run waiting for the bulk queue to empty)"
        )
        + ", the whole request timed at the caller."
        + f" Speed loop before the runs: {speed_before:.2f} s.",
        "",
        "| recipients | runs | p50 | p95 | max | min |",
        "|---|---|---|---|---|---|",
        *(
            f"| {size:,} | {args.runs} | {r['p50']:.2f} s | {r['p95']:.2f} s | {r['max']:.2f} s | {r['min']:.2f} s |"
            for size, r in results.items()
        ),
    ]
    publish("\n".join(lines) + "\n", args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
