"""GET /health: no key needed; 200 when the queues and the table answer, 503 otherwise."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services import composition
from queue_services.channels import Channel
from queue_services.models import HealthResponse

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


@router.get("/health")
def health() -> Response[HealthResponse]:
    checks = {f"{channel}Queue": composition.send_queue(channel).is_reachable() for channel in Channel}
    checks["metricsTable"] = composition.metrics_store().is_reachable()
    healthy = all(checks.values())
    body = HealthResponse(status="ok" if healthy else "degraded", checks=checks)
    return Response(status_code=200 if healthy else 503, content_type=content_types.APPLICATION_JSON, body=body)
