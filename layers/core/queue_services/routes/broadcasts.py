"""Broadcast routes: send one text to many recipients (SMS or email), its progress, a workspace's list, cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services import composition
from queue_services.broadcasts import BroadcastList, BroadcastView, BulkAccepted
from queue_services.bulk import BulkEmailRequest, BulkSmsRequest
from queue_services.models import WorkspaceId
from queue_services.request_idempotency import HEADER, checked_key
from queue_services.routes.caller import caller

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


def _accepted(body: BulkAccepted) -> Response[BulkAccepted]:
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=body)


def _idempotency_key() -> str | None:
    return checked_key(router.current_event.headers.get(HEADER))


@router.post("/api/bulk-sms")
def bulk_sms(request: BulkSmsRequest) -> Response[BulkAccepted]:
    return _accepted(composition.idempotent_intake().broadcast(request, caller(router), _idempotency_key()))


@router.post("/api/bulk-email")
def bulk_email(request: BulkEmailRequest) -> Response[BulkAccepted]:
    return _accepted(composition.idempotent_intake().broadcast(request, caller(router), _idempotency_key()))


@router.get("/api/broadcasts/<broadcastId>")
def get_broadcast(broadcastId: str) -> BroadcastView:  # noqa: N803 - the path parameter's name
    return composition.broadcast_intake().progress(broadcastId, caller(router))


@router.delete("/api/broadcasts/<broadcastId>")
def cancel_broadcast(broadcastId: str) -> BroadcastView:  # noqa: N803
    return composition.broadcast_intake().cancel(broadcastId, caller(router), datetime.now(UTC))


@router.get("/api/broadcasts")
def list_broadcasts(
    workspaceId: Annotated[WorkspaceId, Query()],  # noqa: N803
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> BroadcastList:
    return composition.broadcast_intake().list(workspaceId, caller(router), limit, cursor)
