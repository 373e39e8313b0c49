"""api function: the HTTP routes of DESIGN §3, wired to queue_services."""

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from queue_services import composition
from queue_services.channels import Channel
from queue_services.http_errors import register_error_handlers
from queue_services.ledger import MessageRecord
from queue_services.models import (
    DeadLetterPeek,
    HealthResponse,
    MetricsResetRequest,
    MetricsResetResponse,
    MetricsResponse,
    PurgeDone,
    RedriveStarted,
    RescheduleRequest,
    ScheduleEmailRequest,
    ScheduleResponse,
    ScheduleSmsRequest,
)
from queue_services.observability import logger, tracer
from queue_services.settings import get_settings
from queue_services.tenancy import Principal, principal_of

get_settings()  # fail the cold start, not the first request, if the environment is wrong

app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500)
register_error_handlers(app)


def _caller() -> Principal:
    return principal_of(app.current_event.raw_event)


def _accepted(body: ScheduleResponse) -> Response[ScheduleResponse]:
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=body)


@app.post("/api/schedule-sms")
def schedule_sms(request: ScheduleSmsRequest) -> Response[ScheduleResponse]:
    return _accepted(composition.message_intake().schedule(request, _caller(), datetime.now(UTC)))


@app.post("/api/schedule-email")
def schedule_email(request: ScheduleEmailRequest) -> Response[ScheduleResponse]:
    return _accepted(composition.message_intake().schedule(request, _caller(), datetime.now(UTC)))


@app.get("/api/messages/<messageId>")
def get_message(messageId: str) -> MessageRecord:  # noqa: N803 - the path parameter's name
    return composition.message_intake().status(messageId, _caller())


@app.delete("/api/messages/<messageId>")
def cancel_message(messageId: str) -> MessageRecord:  # noqa: N803
    return composition.message_intake().cancel(messageId, _caller(), datetime.now(UTC))


@app.patch("/api/messages/<messageId>")
def reschedule_message(messageId: str, request: RescheduleRequest) -> MessageRecord:  # noqa: N803
    return composition.message_intake().reschedule(messageId, request, _caller(), datetime.now(UTC))


@app.get("/api/metrics")
def get_metrics() -> MetricsResponse:
    return composition.metrics_store().read(datetime.now(UTC), _caller().visible_workspace())


@app.post("/api/metrics/reset")
def reset_metrics(request: MetricsResetRequest) -> MetricsResetResponse:
    _caller().require_admin()
    channels = list(Channel) if request.type == "all" else [Channel(request.type)]
    composition.metrics_store().reset(channels)
    return MetricsResetResponse(success=True, reset=channels)


@app.get("/api/admin/dlq/<channel>")
def peek_dead_letters(channel: Channel, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> DeadLetterPeek:
    _caller().require_admin()
    return composition.dead_letter_queue(channel).peek(limit)


@app.post("/api/admin/dlq/<channel>/redrive")
def redrive_dead_letters(channel: Channel) -> Response[RedriveStarted]:
    _caller().require_admin()
    started = composition.dead_letter_queue(channel).redrive()
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=started)


@app.delete("/api/admin/dlq/<channel>")
def purge_dead_letters(channel: Channel) -> PurgeDone:
    _caller().require_admin()
    composition.dead_letter_queue(channel).purge()
    return PurgeDone(channel=channel, purged=True)


@app.get("/health")
def health() -> Response[HealthResponse]:
    checks = {f"{channel}Queue": composition.send_queue(channel).is_reachable() for channel in Channel}
    checks["metricsTable"] = composition.metrics_store().is_reachable()
    healthy = all(checks.values())
    body = HealthResponse(status="ok" if healthy else "degraded", checks=checks)
    return Response(status_code=200 if healthy else 503, content_type=content_types.APPLICATION_JSON, body=body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
