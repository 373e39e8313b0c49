"""BullMQ side by side (`make bench-bullmq`): the same messages through the replaced service's queue and
through Queue Services, against the same provider sink, in one run.

Usage: python bench/bullmq.py [--count 2000]

The replaced service: BullMQ on Redis with its settings (reference/old-service-faq.md: one worker of
concurrency 5 per queue, limiter {max: 50 | 100, duration: 1000}), bench/bullmq/drain.js, on a
redis-server of its own (127.0.0.1, no persistence). Queue Services: the local stack, both paths
(bench/broadcast.py). Per channel, every message is released at one instant, and the figures come from the
sink's arrival stamps: drain, rate ((n - 1) / (last - first)), the steady rate (the mean of the whole
seconds between the first and the last send: a fixed-window limiter lets a burst through at the start of
each window, which the first figure counts once too often), the most in any sliding 1 s and 100 ms, and
CPU per message (BullMQ: the node worker and redis-server; Queue Services: every process of the local stack
but the sink). Writes bench/bullmq-results.md (which `make bench` puts into RESULTS.md) and one plot per
channel. Needs node, npm (`npm ci` in bench/bullmq) and redis-server: `make bench-bullmq` installs them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broadcast import DEFAULT_RATE, NO_FAULTS, max_in_window, run, steady_rate
from recording import ROOT, run_header
from run_all import Stack, free_port, local_stack

DRAIN_JS = ROOT / "bench" / "bullmq" / "drain.js"
OUTPUT = ROOT / "bench" / "bullmq-results.md"


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tool(name: str) -> str:
    """The full path of a program this benchmark runs."""
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is not installed: `make bench-bullmq` installs it")
    return path


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [tool("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*command, "--dir", directory], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    ping = [tool("redis-cli"), "-p", str(port), "ping"]
    while subprocess.run(ping, capture_output=True, check=False).stdout != b"PONG\n":
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("redis-server did not start")
        time.sleep(0.2)
    return process, port


def bullmq_drain(sink: str, redis: subprocess.Popen[bytes], port: int, channel: str, count: int) -> dict[str, Any]:
    requests.delete(f"{sink}/_sink/messages", timeout=10).raise_for_status()
    requests.put(f"{sink}/_sink/faults", json=NO_FAULTS, timeout=10).raise_for_status()
    tag = uuid.uuid4().hex[:12]
    rate = DEFAULT_RATE[channel]
    env = {
        **os.environ,
        "REDIS_PORT": str(port),
        "SINK_URL": sink,
        "CHANNEL": channel,
        "RATE": f"{rate:g}",
        "COUNT": str(count),
        "RUN": tag,
    }
    redis_before = process_cpu_seconds(redis.pid)
    answer = subprocess.run(
        [tool("node"), str(DRAIN_JS)], env=env, capture_output=True, text=True, check=True, timeout=600
    )
    redis_cpu = process_cpu_seconds(redis.pid) - redis_before
    worker = json.loads(answer.stdout.strip().splitlines()[-1])
    messages = requests.get(f"{sink}/_sink/messages", params={"channel": channel}, timeout=30).json()["messages"]
    ours = [m for m in messages if (m.get("metadata") or {}).get("run") == tag]
    stamps = sorted(m["receivedAt"] for m in ours)
    per_id = Counter(m["messageId"] for m in ours)
    drain = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    return {
        "system": "BullMQ (concurrency 5, limiter max per 1000 ms)",
        "channel": channel,
        "count": count,
        "stamps": stamps,
        "drain_seconds": drain,
        "rate": (len(stamps) - 1) / drain if drain else 0.0,
        "steady_rate": steady_rate(stamps),
        "configured_rate": rate,
        "max_in_1s": max_in_window(stamps),
        "max_in_100ms": max_in_window(stamps, 0.1),
        "cpu_ms_per_message": (worker["cpuMs"] + redis_cpu * 1000) / count,
        "duplicates": sum(n - 1 for n in per_id.values() if n > 1),
        "missing": count - len(per_id),
    }


def queue_services_drain(stack: Stack, channel: str, path: str, count: int) -> dict[str, Any]:
    lead = count / 80 + 5 if path == "single" else count / 1000 + 5
    result = run(channel, count, stack.api, stack.sink, stack.aws, lead, 16, dict(NO_FAULTS), path)
    return {
        **result,
        "system": f"Queue Services, {path} path",
        "cpu_ms_per_message": result["stack_cpu_ms_per_message"],
    }


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| system | channel | drain | rate | steady rate | most in 1 s | most in 100 ms | CPU per message "
        "| duplicates | missing |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rate = row["configured_rate"]
        lines.append(
            f"| {row['system']} | {row['channel']} x {row['count']} | {row['drain_seconds']:.1f} s "
            f"| {row['rate']:.1f}/s = {100 * row['rate'] / rate:.0f} % | {row['steady_rate']:.1f}/s = "
            f"{100 * row['steady_rate'] / rate:.0f} % | {row['max_in_1s']} (limit {rate:g}) | {row['max_in_100ms']} "
            f"| {row['cpu_ms_per_message']:.1f} ms | {row['duplicates']} | {row['missing']} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    for name in ("node", "redis-server", "redis-cli"):
        tool(name)
    if not (DRAIN_JS.parent / "node_modules" / "bullmq").exists():
        raise SystemExit("bench/bullmq has no node_modules: run `npm ci` there (make bench-bullmq does)")
    from plots import plot_side_by_side

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qs-redis-") as directory, local_stack() as stack:
        redis, port = start_redis(directory)
        try:
            for channel in ("sms", "email"):
                per_channel = [
                    bullmq_drain(stack.sink, redis, port, channel, args.count),
                    queue_services_drain(stack, channel, "single", args.count),
                    queue_services_drain(stack, channel, "bulk", args.count),
                ]
                for row in per_channel:
                    print(table([row])[-1], flush=True)
                plot = ROOT / "bench" / f"bullmq-{channel}.png"
                series = {row["system"]: row["stamps"] for row in per_channel}
                plot_side_by_side(series, DEFAULT_RATE[channel], plot, f"{channel}: BullMQ and Queue Services")
                rows += per_channel
        finally:
            redis.terminate()
            redis.wait(timeout=10)
    text = "\n".join(
        [
            run_header("BullMQ side by side"),
            f"{args.count} messages per channel and system, released at one instant, against the same provider "
            "sink (answering at once) in one run; BullMQ with the replaced service's settings on a redis-server "
            "of its own. Plots: [SMS](bullmq-sms.png), [email](bullmq-email.png).",
            "",
            *table(rows),
        ]
    )
    OUTPUT.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
