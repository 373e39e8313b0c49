"""The process-wide Powertools Logger and Tracer every handler and module shares, and the metrics namespace."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Tracer

METRICS_NAMESPACE = "QueueServices"

logger = Logger()
tracer = Tracer()
