"""Message routes: schedule an SMS or an email, read a message's status, cancel it, reschedule it, search."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services import composition
from queue_services.models import (
    MessageSearchResult,
    MessageView,
    RescheduleRequest,
    ScheduleEmailRequest,
    ScheduleResponse,
    ScheduleSmsRequest,
)
from queue_services.request_idempotency import HEADER, checked_key
from queue_services.routes.caller import caller
from queue_services.views import message_view

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


def _accepted(body: ScheduleResponse) -> Response[ScheduleResponse]:
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=body)


def _idempotency_key() -> str | None:
    return checked_key(router.current_event.headers.get(HEADER))


@router.post("/api/schedule-sms")
def schedule_sms(request: ScheduleSmsRequest) -> Response[ScheduleResponse]:
    return _accepted(composition.idempotent_intake().schedule(request, caller(router), _idempotency_key()))


@router.post("/api/schedule-email")
def schedule_email(request: ScheduleEmailRequest) -> Response[ScheduleResponse]:
    return _accepted(composition.idempotent_intake().schedule(request, caller(router), _idempotency_key()))


@router.get("/api/messages/<messageId>")
def get_message(messageId: str) -> MessageView:  # noqa: N803 - the path parameter's name
    return message_view(composition.message_intake().status(messageId, caller(router)))


@router.delete("/api/messages/<messageId>")
def cancel_message(messageId: str) -> MessageView:  # noqa: N803
    return message_view(composition.message_intake().cancel(messageId, caller(router), datetime.now(UTC)))


@router.patch("/api/messages/<messageId>")
def reschedule_message(messageId: str, request: RescheduleRequest) -> MessageView:  # noqa: N803
    moved = composition.message_intake().reschedule(messageId, request, caller(router), datetime.now(UTC))
    return message_view(moved)


@router.get("/api/messages")
def search_messages(
    workspaceId: Annotated[str, Query(min_length=1, max_length=128)],  # noqa: N803 - the query parameters' names
    messageId: Annotated[str | None, Query(max_length=128)] = None,  # noqa: N803
    contactId: Annotated[str | None, Query(max_length=256)] = None,  # noqa: N803
    recipient: Annotated[str | None, Query(max_length=320, description="a phone number or an address")] = None,
    broadcastId: Annotated[str | None, Query(max_length=128)] = None,  # noqa: N803
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> MessageSearchResult:
    criteria = {"messageId": messageId, "contactId": contactId, "recipient": recipient, "broadcastId": broadcastId}
    return composition.message_search().search(workspaceId, criteria, limit, caller(router))
