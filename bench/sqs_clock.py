"""Measures moto's SQS with and without the emulator's clock fix: fill and drain a 2,000-deep queue.

Usage: python bench/sqs_clock.py [--depth 2000]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def measure(depth: int, clock_fix: bool) -> tuple[float, float]:
    port = free_port()
    command = [sys.executable, "-m", "local_stack.emulator", "--port", str(port)]
    if not clock_fix:
        command.append("--no-clock-fix")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        sqs = boto3.client(
            "sqs", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        queue = sqs.create_queue(QueueName="clock")["QueueUrl"]
        started = time.monotonic()
        for start in range(0, depth, 10):
            sqs.send_message_batch(
                QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
            )
        fill = time.monotonic() - started
        started = time.monotonic()
        drained = 0
        while drained < depth:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=queue, Entries=entries)
            drained += len(messages)
        return fill, time.monotonic() - started
    finally:
        process.terminate()
        process.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=2000)
    args = parser.parse_args()
    for clock_fix in (False, True):
        fill, drain = measure(args.depth, clock_fix)
        label = "with clock fix   " if clock_fix else "moto as shipped  "
        print(f"{label} fill {args.depth}: {fill:6.1f} s   drain: {drain:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
