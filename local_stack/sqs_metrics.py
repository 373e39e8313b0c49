"""What SQS does on AWS and moto does not: publish each queue's ApproximateAgeOfOldestMessage (and depth) to
CloudWatch, once a minute there and every PUBLISH_SECONDS here, so the dashboard and alarms read them alike."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

PUBLISH_SECONDS = 10.0


def queue_figures(queue: Any, now_ms: float) -> tuple[float, int]:
    """The age in seconds of a queue's oldest message that is not delayed (0 when empty), and how many are
    visible (moto's Queue: its messages' sent_timestamp, delayed_until and visible_at, in milliseconds)."""
    messages = [m for m in list(queue._messages) if m.sent_timestamp and not now_ms < m.delayed_until]
    oldest = min((m.sent_timestamp for m in messages), default=None)
    visible = sum(1 for m in messages if now_ms > m.visible_at)
    return (0.0 if oldest is None else max(0.0, (now_ms - oldest) / 1000)), visible


def publish_once() -> None:
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.sqs.models import sqs_backends

    # Naive UTC, as moto stores the timestamps of metrics put through its API (it compares them so).
    now = datetime.now(UTC).replace(tzinfo=None)
    now_ms = time.time() * 1000
    for account_id, regions in list(sqs_backends.items()):
        for region, backend in list(regions.items()):
            data: list[dict[str, Any]] = []
            for name, queue in list(backend.queues.items()):
                age, visible = queue_figures(queue, now_ms)
                dimensions = [{"Name": "QueueName", "Value": name}]
                for metric, value, unit in (
                    ("ApproximateAgeOfOldestMessage", age, "Seconds"),
                    ("ApproximateNumberOfMessagesVisible", float(visible), "Count"),
                ):
                    data.append(
                        {"MetricName": metric, "Dimensions": dimensions, "Value": value, "Unit": unit, "Timestamp": now}
                    )
            if data:
                cloudwatch_backends[account_id][region].put_metric_data("AWS/SQS", data)


def start_publisher(interval: float = PUBLISH_SECONDS) -> threading.Thread:
    def run() -> None:
        while True:
            time.sleep(interval)
            try:
                publish_once()
            except Exception as exc:
                print(f"sqs metrics: {type(exc).__name__}: {exc}", flush=True)

    thread = threading.Thread(target=run, name="sqs-metrics", daemon=True)
    thread.start()
    return thread
