"""Admin routes: the dead-letter queues (peek without consuming, redrive, purge); admin key only."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services import composition
from queue_services.channels import Channel
from queue_services.models import DeadLetterPeek, PurgeDone, RedriveStarted
from queue_services.routes.caller import caller

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


@router.get("/api/admin/dlq/<channel>")
def peek_dead_letters(channel: Channel, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> DeadLetterPeek:
    caller(router).require_admin()
    return composition.dead_letter_queue(channel).peek(limit)


@router.post("/api/admin/dlq/<channel>/redrive")
def redrive_dead_letters(channel: Channel) -> Response[RedriveStarted]:
    caller(router).require_admin()
    started = composition.dead_letter_queue(channel).redrive()
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=started)


@router.delete("/api/admin/dlq/<channel>")
def purge_dead_letters(channel: Channel) -> PurgeDone:
    caller(router).require_admin()
    composition.dead_letter_queue(channel).purge()
    return PurgeDone(channel=channel, purged=True)
