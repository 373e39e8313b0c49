"""Admin routes: the dead-letter queues (peek without consuming, redrive, purge); admin key only."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services import composition
from queue_services.channels import Channel
from queue_services.models import DeadLetterPeek, PurgeDone, RedriveStarted
from queue_services.routes.caller import caller

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


# Which of a channel's two DLQs: the single sends' (send-<channel>-dlq) or the broadcasts' (-bulk-dlq).
QueueKind = Annotated[Literal["send", "bulk"], Query(description="send: single sends' DLQ; bulk: broadcasts'")]


@router.get("/api/admin/dlq/<channel>")
def peek_dead_letters(
    channel: Channel, limit: Annotated[int, Query(ge=1, le=100)] = 10, queue: QueueKind = "send"
) -> DeadLetterPeek:
    caller(router).require_admin()
    return composition.dead_letter_queue(channel, bulk=queue == "bulk").peek(limit)


@router.post("/api/admin/dlq/<channel>/redrive")
def redrive_dead_letters(channel: Channel, queue: QueueKind = "send") -> Response[RedriveStarted]:
    caller(router).require_admin()
    composition.require_writable()
    started = composition.dead_letter_queue(channel, bulk=queue == "bulk").redrive()
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=started)


@router.delete("/api/admin/dlq/<channel>")
def purge_dead_letters(channel: Channel, queue: QueueKind = "send") -> PurgeDone:
    caller(router).require_admin()
    composition.require_writable()
    composition.dead_letter_queue(channel, bulk=queue == "bulk").purge()
    return PurgeDone(channel=channel, purged=True)
