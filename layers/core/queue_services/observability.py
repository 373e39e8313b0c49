"""The Powertools Logger, Tracer and Metrics of an execution environment, shared by its handler and modules."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

METRICS_NAMESPACE = "QueueServices"

logger = Logger()
tracer = Tracer()
# Flushed once per invocation by the workers' @metrics.log_metrics (CloudWatch EMF on stdout).
metrics = Metrics(namespace=METRICS_NAMESPACE)
