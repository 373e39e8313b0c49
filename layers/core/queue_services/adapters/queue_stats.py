"""The queues' depths (SQS GetQueueAttributes) and the age of their oldest message (CloudWatch, AWS/SQS)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from queue_services.adapters.aws import call_aws
from queue_services.errors import DependencyUnavailable
from queue_services.models import QueueDepth

_DEPTHS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
# SQS publishes ApproximateAgeOfOldestMessage once a minute; the last 10 minutes hold its latest value.
AGE_LOOKBACK = timedelta(minutes=10)
# GetMetricData is billed per metric asked for: a page refreshing every 2 s would ask 8 metrics 1,800
# times an hour. The ages change once a minute, so an environment asks at most every AGE_CACHE_SECONDS.
AGE_CACHE_SECONDS = 30.0


def metric_query_id(queue_name: str) -> str:
    """A GetMetricData query id for a queue: lower-case letters, digits and underscores, a letter first."""
    return "age_" + re.sub(r"[^a-z0-9_]", "_", queue_name.lower())


class QueueStats:
    """Depth and oldest age of each named queue; a queue that cannot be read shows None, not an error."""

    def __init__(
        self,
        sqs_client: Any,
        cloudwatch_client: Any,
        queue_urls: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sqs = sqs_client
        self._cloudwatch = cloudwatch_client
        self._urls = dict(queue_urls)
        self._clock = clock
        self._ages: tuple[float, dict[str, float]] | None = None
        self._lock = threading.Lock()

    def depths(self, now: datetime) -> list[QueueDepth]:
        with ThreadPoolExecutor(max_workers=len(self._urls) or 1) as pool:
            attributes = dict(zip(self._urls, pool.map(self._attributes, self._urls.values()), strict=True))
        ages = self._cached_ages(now)
        return [
            QueueDepth(
                name=name,
                visible=_count(found, "ApproximateNumberOfMessages"),
                in_flight=_count(found, "ApproximateNumberOfMessagesNotVisible"),
                delayed=_count(found, "ApproximateNumberOfMessagesDelayed"),
                oldest_age_seconds=ages.get(name),
                dead_letter=name.endswith("-dlq"),
            )
            for name, found in attributes.items()
        ]

    def _attributes(self, url: str) -> dict[str, str] | None:
        try:
            answer = call_aws(self._sqs, "get_queue_attributes", "queue depth", QueueUrl=url, AttributeNames=_DEPTHS)
        except DependencyUnavailable:
            return None
        return dict(answer.get("Attributes", {}))

    def _cached_ages(self, now: datetime) -> dict[str, float]:
        with self._lock:
            if self._ages is not None and self._clock() - self._ages[0] < AGE_CACHE_SECONDS:
                return self._ages[1]
        ages = self._oldest_ages(now)
        with self._lock:
            self._ages = (self._clock(), ages)
        return ages

    def _oldest_ages(self, now: datetime) -> dict[str, float]:
        """The latest ApproximateAgeOfOldestMessage of each queue, one GetMetricData call for all of them."""
        queries = [
            {
                "Id": metric_query_id(name),
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SQS",
                        "MetricName": "ApproximateAgeOfOldestMessage",
                        "Dimensions": [{"Name": "QueueName", "Value": name}],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
                "ReturnData": True,
            }
            for name in self._urls
        ]
        try:
            answer = call_aws(
                self._cloudwatch,
                "get_metric_data",
                "queue age",
                MetricDataQueries=queries,
                StartTime=now - AGE_LOOKBACK,
                # EndTime is exclusive: a minute ahead keeps the current minute's data point in.
                EndTime=now + timedelta(minutes=1),
                ScanBy="TimestampDescending",
            )
        except DependencyUnavailable:
            return {}
        by_id = {metric_query_id(name): name for name in self._urls}
        ages: dict[str, float] = {}
        for result in answer.get("MetricDataResults", []):
            values = result.get("Values") or []
            if result.get("Id") in by_id and values:
                ages[by_id[result["Id"]]] = float(values[0])
        return ages


def _count(attributes: dict[str, str] | None, name: str) -> int | None:
    if attributes is None or name not in attributes:
        return None
    return int(attributes[name])
