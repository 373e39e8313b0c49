"""Fixtures shared by every tier: clean Powertools state and fresh service objects per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Before any handler or boto3 import: no real AWS, no X-Ray daemon, a fixed region.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="1",
    POWERTOOLS_SERVICE_NAME="queue-services",
    POWERTOOLS_METRICS_NAMESPACE="QueueServices",
    POWERTOOLS_LOG_LEVEL="WARNING",
)
os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture(autouse=True)
def _reset_powertools_and_services() -> Iterator[None]:
    from aws_lambda_powertools.metrics import Metrics
    from aws_lambda_powertools.metrics.provider import cold_start

    from queue_services import composition
    from queue_services.adapters.aws import reset_clients

    shared = Metrics()
    shared.clear_metrics()
    shared.clear_default_dimensions()
    cold_start.is_cold_start = True
    composition.reset()
    reset_clients()
    yield
    shared.clear_metrics()
    composition.reset()
    reset_clients()
