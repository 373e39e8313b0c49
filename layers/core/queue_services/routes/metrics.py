"""Metrics routes: the seed's counters (a workspace key sees its own workspace) and their reset (admin)."""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services import composition
from queue_services.channels import Channel
from queue_services.models import MetricsResetRequest, MetricsResetResponse, MetricsResponse
from queue_services.routes.caller import caller

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


@router.get("/api/metrics")
def get_metrics() -> MetricsResponse:
    return composition.metrics_store().read(datetime.now(UTC), caller(router).visible_workspace())


@router.post("/api/metrics/reset")
def reset_metrics(request: MetricsResetRequest) -> MetricsResetResponse:
    caller(router).require_admin()
    channels = list(Channel) if request.type == "all" else [Channel(request.type)]
    composition.metrics_store().reset(channels)
    return MetricsResetResponse(success=True, reset=channels)
