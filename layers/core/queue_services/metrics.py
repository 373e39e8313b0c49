"""The CloudWatch EMF metrics of a batch (the DynamoDB counters are adapters.metrics_store)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import Metrics, MetricUnit

from queue_services.channels import Channel
from queue_services.models import Counters


def add_batch_metrics(
    metrics: Metrics, channel: Channel, totals: Counters, batch_size: int, duration_ms: float
) -> None:
    """The batch's CloudWatch EMF metrics, flushed by the handler's @metrics.log_metrics."""
    metrics.add_dimension(name="channel", value=str(channel))
    metrics.add_metric(name="Sent", unit=MetricUnit.Count, value=totals.success)
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=totals.failed)
    metrics.add_metric(name="RateLimited", unit=MetricUnit.Count, value=totals.rate_limited)
    metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=batch_size)
    metrics.add_metric(name="BatchDuration", unit=MetricUnit.Milliseconds, value=duration_ms)
