"""The queue dashboard: its page and assets (/admin/queues, no key), its data and its actions (any key)."""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services import composition
from queue_services.broadcasts import BroadcastView
from queue_services.dashboard import QueueOverview
from queue_services.dashboard_assets import asset, page_headers
from queue_services.models import PauseRequest, WorkspaceSettingsView
from queue_services.routes.caller import caller

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


@router.get("/admin/queues", include_in_schema=False)
def dashboard_page() -> Response[str]:
    body, content_type = asset("index.html")
    return Response(status_code=200, content_type=content_type, body=body, headers=page_headers())


@router.get("/admin/queues/assets/<name>", include_in_schema=False)
def dashboard_asset(name: str) -> Response[str]:
    body, content_type = asset(name)
    return Response(status_code=200, content_type=content_type, body=body, headers=page_headers())


@router.get("/api/admin/queues")
def queue_overview() -> QueueOverview:
    return composition.queue_dashboard().overview(caller(router), datetime.now(UTC))


@router.post("/api/admin/queues/workspaces/<workspaceId>/pause")
def pause_workspace(workspaceId: str, request: PauseRequest) -> WorkspaceSettingsView:  # noqa: N803
    composition.require_writable()
    return composition.workspace_directory().set_paused(workspaceId, request.paused, caller(router))


@router.post("/api/admin/queues/broadcasts/<broadcastId>/cancel")
def cancel_broadcast(broadcastId: str) -> BroadcastView:  # noqa: N803
    composition.require_writable()
    return composition.broadcast_intake().cancel(broadcastId, caller(router), datetime.now(UTC))
