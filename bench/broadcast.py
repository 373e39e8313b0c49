"""Broadcast benchmark: post N messages through the local API, release them at one instant, measure the drain.

Usage: python bench/broadcast.py --channel sms [--count 2000] [--path bulk] [--strict | --rate429 0.02]
       [--aws-latency-ms 8] [--sink-latency-ms 50] [--plot FILE.png] [--record]

It talks to a running local stack (make run) at QS_API_PORT / QS_SINK_PORT, or starts one itself if none
answers. It clears the provider sink and resets the metrics first. Every message gets the same sendAt, so
all of them become visible in SQS together and the figures measure queue draining, not posting.
--strict makes the sink enforce the channel's rate as a provider does (`maxPerSecond` = the rate: a call
that would make more than that many accepted in the last second gets a 429 with Retry-After: 1);
--rate429 P answers a share P of the calls with a 429 (Retry-After: 1) at random.

The rate is reported twice: (n - 1) / (last - first), and the steady rate, the mean count of the whole
seconds between the first and the last (counted from the first delivery): a limiter that lets a burst
through at the start of each second reads above its rate by the first measure, not by the second.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recording import RESULTS, ROOT, keep_figures

DEFAULT_RATE = {"sms": 50.0, "email": 100.0}
API_KEY = os.environ.get("QS_API_KEY", "local-admin-key")


def body_for(channel: str, index: int, send_at: str) -> dict[str, Any]:
    common = {
        "contactId": f"bench-contact-{index}",
        "workspaceId": f"workspace-{index % 4}",
        "sendAt": send_at,
        "metadata": {"source": "bench"},
    }
    if channel == "sms":
        return {**common, "phoneNumber": f"+1555{index:07d}", "message": "Benchmark message"}
    return {**common, "to": f"bench{index}@example.com", "subject": "Benchmark", "html": "<p>Benchmark</p>"}


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    """Largest number of stamps in any half-open window of the given length (sliding, not bucketed)."""
    best = start = 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def steady_rate(stamps: list[float]) -> float:
    """The mean count of the whole seconds after the first and before the last, counted from the first stamp
    (0 for a drain under three seconds)."""
    if len(stamps) < 2 or stamps[-1] - stamps[0] < 3:
        return 0.0
    seconds = int(stamps[-1] - stamps[0])
    counts = Counter(int(stamp - stamps[0]) for stamp in stamps)
    inner = [counts.get(second, 0) for second in range(1, seconds)]
    return sum(inner) / len(inner)


def _stack_processes() -> list[Path]:
    """/proc entries of the local stack's processes: the stack, the emulator, the sink and every function's
    execution environments."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"local_stack" in command and b"pytest" not in command:
            found.append(entry)
    return found


def stack_cpu_seconds() -> float:
    """CPU seconds (user + system) the stack's processes have used so far, the provider sink left out: it
    stands for the provider, which is not ours to count."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in _stack_processes():
        try:
            command = (entry / "cmdline").read_bytes()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"local_stack.sink" in command:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def configured_rate(api: str, channel: str) -> float:
    """The stack's rate for the channel, as the dashboard's overview states it (the channel's default if the
    stack does not say)."""
    try:
        answer = requests.get(f"{api}/api/admin/queues", headers={"x-api-key": API_KEY}, timeout=30)
        for view in answer.json().get("channels", []):
            if view.get("channel") == channel:
                return float(view["ratePerSecond"])
    except (requests.RequestException, ValueError, KeyError):
        pass
    return DEFAULT_RATE[channel]


def stack_memory() -> tuple[float, int]:
    """Resident memory (MB) and number of the local stack's processes (_stack_processes)."""
    total_kb, processes = 0, 0
    for entry in _stack_processes():
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        rss = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), "0")
        total_kb += int(rss)
        processes += 1
    return total_kb / 1024, processes


def stack_is_up(api: str) -> bool:
    try:
        return requests.get(f"{api}/health", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def start_stack(api: str, *options: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "local_stack", "--quiet", *options]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not stack_is_up(api):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("could not start the local stack (is a port taken? see `python -m local_stack`)")
        time.sleep(0.3)
    return process


NO_FAULTS: dict[str, Any] = {"rate429": 0, "rate5xx": 0, "latencyMs": 0, "maxPerSecond": None, "retryAfterSeconds": 1}


def wait_for_empty_bulk_queue(aws: str, timeout: float = 300) -> None:
    """Until the SMS bulk queue holds nothing (visible, in flight or delayed): a cancelled broadcast's copies,
    which the workers cancel batch by batch, would otherwise take the next run's batches."""
    sqs = boto3.client(
        "sqs", endpoint_url=aws, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
    )
    url = sqs.get_queue_url(QueueName="send-sms-bulk-queue")["QueueUrl"]
    names = [f"ApproximateNumberOfMessages{part}" for part in ("", "NotVisible", "Delayed")]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        if sum(int(counts[name]) for name in names) == 0:
            return
        time.sleep(1)
    raise SystemExit(f"the SMS bulk queue did not empty in {timeout:.0f} s")


def faults_for(rate: float, strict: bool, rate429: float, latency_ms: float = 0.0) -> dict[str, Any]:
    faults = dict(NO_FAULTS)
    if strict:
        faults["maxPerSecond"] = rate
    if rate429:
        faults["rate429"] = rate429
    if latency_ms:
        faults["latencyMs"] = latency_ms
    return faults


def describe_faults(faults: dict[str, Any]) -> str:
    parts = []
    if faults["maxPerSecond"]:
        parts.append(f"strict {faults['maxPerSecond']:g}/s")
    if faults["rate429"]:
        parts.append(f"{100 * faults['rate429']:g} % random 429s")
    if faults["latencyMs"]:
        parts.append(f"provider answers after {faults['latencyMs']:g} ms")
    return ", ".join(parts) or "none"


def bulk_bodies(channel: str, count: int, send_at: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The same messages as body_for's, as one POST /api/bulk-<channel> per workspace."""
    by_workspace: dict[str, list[dict[str, Any]]] = {}
    for index in range(count):
        single = body_for(channel, index, send_at)
        recipient = {"contactId": single["contactId"]}
        recipient["phoneNumber" if channel == "sms" else "to"] = single["phoneNumber" if channel == "sms" else "to"]
        by_workspace.setdefault(single["workspaceId"], []).append(recipient)
    content = (
        {"message": "Benchmark message"} if channel == "sms" else {"subject": "Benchmark", "html": "<p>Benchmark</p>"}
    )
    return [
        {"workspaceId": ws, **content, "recipients": recipients, "sendAt": send_at, "metadata": metadata}
        for ws, recipients in by_workspace.items()
    ]


def run(
    channel: str,
    count: int,
    api: str,
    sink: str,
    aws: str,
    lead: float,
    threads: int,
    faults: dict[str, Any],
    path: str = "single",
    rate: float | None = None,
) -> dict[str, Any]:
    rate = rate or DEFAULT_RATE[channel]
    requests.delete(f"{sink}/_sink/messages", timeout=10).raise_for_status()
    requests.put(f"{sink}/_sink/faults", json=faults, timeout=10).raise_for_status()
    admin = {"x-api-key": API_KEY}
    requests.post(f"{api}/api/metrics/reset", json={"type": "all"}, headers=admin, timeout=10).raise_for_status()
    send_at = datetime.now(UTC) + timedelta(seconds=lead)
    send_at_text = send_at.isoformat()
    route = f"{api}/api/schedule-{channel}"
    session = requests.Session()
    session.headers["x-api-key"] = API_KEY
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=threads))

    # Every message of this run carries its tag: a bulk answer has no message ids to match on.
    tag = {"source": "bench", "run": uuid.uuid4().hex[:12]}

    def post(index: int) -> tuple[str, float]:
        started = time.monotonic()
        body = {**body_for(channel, index, send_at_text), "metadata": tag}
        response = session.post(route, json=body, timeout=30)
        response.raise_for_status()
        return response.json()["messageId"], time.monotonic() - started

    def post_bulk(body: dict[str, Any]) -> tuple[int, float]:
        started = time.monotonic()
        response = session.post(f"{api}/api/bulk-{channel}", json=body, timeout=120)
        response.raise_for_status()
        return int(response.json()["accepted"]), time.monotonic() - started

    accept_started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        if path == "single":
            results = list(pool.map(post, range(count)))
            ids: set[str] | None = {message_id for message_id, _ in results}
            latencies = sorted(latency for _, latency in results)
        else:
            answers = list(pool.map(post_bulk, bulk_bodies(channel, count, send_at_text, tag)))
            ids, latencies = None, sorted(latency for _, latency in answers)
            count = sum(accepted for accepted, _ in answers)
    accept_seconds = time.monotonic() - accept_started
    calls_before = requests.get(f"{aws}/_emulator/calls", timeout=10).json()
    cpu_before = requests.get(f"{aws}/_emulator/cpu", timeout=10).json()
    stack_cpu_before = stack_cpu_seconds()

    def ours(message: dict[str, Any]) -> bool:
        if ids is not None:
            return message["messageId"] in ids
        return bool((message.get("metadata") or {}).get("run") == tag["run"])

    deadline = time.time() + lead + count / rate * 4 + 60
    received: list[dict[str, Any]] = []
    peak_memory, processes = stack_memory()
    while time.time() < deadline:
        memory, count_now = stack_memory()
        if memory > peak_memory:
            peak_memory, processes = memory, count_now
        answer = requests.get(f"{sink}/_sink/messages", params={"channel": channel}, timeout=30).json()
        received = [m for m in answer["messages"] if ours(m)]
        if len({m["messageId"] for m in received}) >= count:
            break
        time.sleep(1)
    stack_cpu = stack_cpu_seconds() - stack_cpu_before
    time.sleep(3)  # late duplicates would land now
    answer = requests.get(f"{sink}/_sink/messages", params={"channel": channel}, timeout=30).json()
    received = [m for m in answer["messages"] if ours(m)]
    calls = requests.get(f"{sink}/_sink/requests", params={"channel": channel}, timeout=30).json()["requests"]
    requests.put(f"{sink}/_sink/faults", json=NO_FAULTS, timeout=10).raise_for_status()
    calls_after = requests.get(f"{aws}/_emulator/calls", timeout=10).json()
    cpu_after = requests.get(f"{aws}/_emulator/cpu", timeout=10).json()
    drain_cpu = {op: s - cpu_before.get(op, 0.0) for op, s in cpu_after.items()}
    drain_calls = {op: n - calls_before.get(op, 0) for op, n in calls_after.items() if n > calls_before.get(op, 0)}
    stamps = sorted(m["receivedAt"] for m in received)
    per_id = Counter(m["messageId"] for m in received)
    delivered = set(per_id)
    drain = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    achieved = (len(stamps) - 1) / drain if drain else 0.0
    return {
        "channel": channel,
        "path": path,
        "stamps": stamps,
        "count": count,
        "accept_seconds": accept_seconds,
        "accept_p50_ms": statistics.median(latencies) * 1000,
        "accept_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "lead_seconds": lead,
        "first_after_send_at": stamps[0] - send_at.timestamp() if stamps else None,
        "drain_seconds": drain,
        "rate": achieved,
        "steady_rate": steady_rate(stamps),
        "configured_rate": rate,
        "stack_cpu_ms_per_message": stack_cpu * 1000 / count,
        "max_in_1s": max_in_window(stamps),
        "max_in_100ms": max_in_window(stamps, 0.1),
        "answers_429": sum(1 for call in calls if call["messageId"] in delivered and call["status"] == 429),
        "faults": describe_faults(faults),
        "duplicates": sum(n - 1 for n in per_id.values() if n > 1),
        "missing": len(ids - delivered) if ids is not None else max(0, count - len(delivered)),
        "calls_per_message": {op: n / count for op, n in sorted(drain_calls.items())},
        "emulator_cpu_ms_per_message": {op: s * 1000 / count for op, s in sorted(drain_cpu.items()) if s > 0},
        "memory_mb": peak_memory,
        "processes": processes,
    }


def report(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"channel                {result['channel']} x {result['count']} ({result['path']} path)",
            f"provider faults        {result['faults']}",
            f"AWS call latency       {result.get('aws_latency_ms', 0):.0f} ms added at the emulator",
            f"accept (all posts)     {result['accept_seconds']:.1f} s  "
            f"(per request p50 {result['accept_p50_ms']:.0f} ms, p99 {result['accept_p99_ms']:.0f} ms)",
            f"first delivery         {result['first_after_send_at']:+.2f} s after sendAt",
            f"drain (first → last)   {result['drain_seconds']:.1f} s",
            f"achieved rate          {result['rate']:.1f}/s = {100 * result['rate'] / result['configured_rate']:.0f} %"
            f" of the configured {result['configured_rate']:.0f}/s",
            f"steady rate            {result['steady_rate']:.1f}/s = "
            f"{100 * result['steady_rate'] / result['configured_rate']:.0f} % (whole seconds between first and last)",
            f"max in any 1 s window  {result['max_in_1s']}  (in any 100 ms: {result['max_in_100ms']})",
            f"stack CPU              {result['stack_cpu_ms_per_message']:.1f} ms per message while draining "
            "(every process of the stack but the sink)",
            f"429 answers            {result['answers_429']}",
            f"duplicates             {result['duplicates']}",
            f"missing                {result['missing']}",
            "AWS calls per message while draining (at the emulator):",
            *(f"  {op:40s} {n:.3f}" for op, n in result["calls_per_message"].items()),
            f"  {'total':40s} {sum(result['calls_per_message'].values()):.3f}",
            "emulator CPU ms per message while draining, by operation:",
            *(f"  {op:40s} {ms:.3f}" for op, ms in result["emulator_cpu_ms_per_message"].items()),
            f"  {'total':40s} {sum(result['emulator_cpu_ms_per_message'].values()):.3f}",
            f"stack memory (peak)    {result['memory_mb']:.0f} MB in {result['processes']} processes",
        ]
    )


def record(result: dict[str, Any]) -> None:
    line = (
        f"| {datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} | {os.cpu_count()} | {platform.python_version()} "
        f"| {result['channel']}{' (bulk)' if result['path'] == 'bulk' else ''} | {result['count']} "
        f"| {result['faults']} | {result['accept_seconds']:.1f} s "
        f"| {result['drain_seconds']:.1f} s | {result['rate']:.1f}/s "
        f"({100 * result['rate'] / result['configured_rate']:.0f} % of {result['configured_rate']:.0f}) "
        f"| {result['max_in_1s']} | {result['max_in_100ms']} | {result['answers_429']} "
        f"| {result['duplicates']} | {result['missing']} "
        f"| {sum(result['calls_per_message'].values()):.2f} | {result['memory_mb']:.0f} MB ({result['processes']}) |\n"
    )
    with RESULTS.open("a") as handle:
        handle.write(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channel", choices=["sms", "email"], default="sms")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument(
        "--path", choices=["single", "bulk"], default="single", help="one POST per message, or POST /api/bulk-*"
    )
    parser.add_argument("--plot", type=Path, help="write sends per 100 ms against the limit to this PNG")
    parser.add_argument("--api", default=f"http://127.0.0.1:{os.environ.get('QS_API_PORT', '3000')}")
    parser.add_argument("--sink", default=f"http://127.0.0.1:{os.environ.get('QS_SINK_PORT', '3001')}")
    parser.add_argument("--aws", default=f"http://127.0.0.1:{os.environ.get('QS_AWS_PORT', '4566')}")
    parser.add_argument("--lead", type=float, help="seconds from now to the common sendAt (default: count / 60 + 5)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent posting requests")
    faults = parser.add_mutually_exclusive_group()
    faults.add_argument("--strict", action="store_true", help="the sink enforces the channel's rate (maxPerSecond)")
    faults.add_argument("--rate429", type=float, default=0.0, help="share of calls the sink answers 429 at random")
    parser.add_argument(
        "--aws-latency-ms", type=float, default=0.0, help="delay every AWS call at the emulator (an AWS round trip)"
    )
    parser.add_argument("--sink-latency-ms", type=float, default=0.0, help="the provider answers after this long")
    parser.add_argument("--record", action="store_true", help=f"append the result to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    lead = args.lead if args.lead is not None else args.count / 60 + 5
    process = None if stack_is_up(args.api) else start_stack(args.api)
    try:
        rate = configured_rate(args.api, args.channel)
        chosen = faults_for(rate, args.strict, args.rate429, args.sink_latency_ms)
        requests.put(f"{args.aws}/_emulator/latency", json={"ms": args.aws_latency_ms}, timeout=10).raise_for_status()
        try:
            result = run(
                args.channel, args.count, args.api, args.sink, args.aws, lead, args.threads, chosen, args.path, rate
            )
        finally:
            requests.put(f"{args.aws}/_emulator/latency", json={"ms": 0}, timeout=10)
        result["aws_latency_ms"] = args.aws_latency_ms
        if args.aws_latency_ms:
            result["faults"] = f"{result['faults']}; every AWS call +{args.aws_latency_ms:g} ms"
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=15)
    print(report(result))
    if args.plot:
        from plots import plot_throughput

        plot_throughput(result["stamps"], result["configured_rate"], args.plot, f"{args.channel}, {args.path} path")
        print(f"plot: {args.plot}")
    if result["first_after_send_at"] is not None and result["accept_seconds"] > lead:
        print("warning: posting took longer than the lead; raise --lead so drain, not posting, is measured")
    if args.record:
        record(result)
    keep_figures({key: value for key, value in result.items() if key != "stamps"} | {"plot": args.plot})
    return 0


if __name__ == "__main__":
    sys.exit(main())
