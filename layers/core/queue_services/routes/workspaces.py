"""Workspace routes: a workspace's settings (its own key or admin), and the list of workspaces (admin)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services import composition
from queue_services.models import WorkspaceList, WorkspaceSettingsRequest, WorkspaceSettingsView
from queue_services.routes.caller import caller

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


@router.get("/api/workspaces/<workspaceId>/settings")
def get_settings(workspaceId: str) -> WorkspaceSettingsView:  # noqa: N803 - the path parameter's name
    return composition.workspace_directory().get(workspaceId, caller(router))


@router.put("/api/workspaces/<workspaceId>/settings")
def put_settings(workspaceId: str, request: WorkspaceSettingsRequest) -> WorkspaceSettingsView:  # noqa: N803
    return composition.workspace_directory().put(workspaceId, request, caller(router))


@router.get("/api/workspaces")
def list_workspaces() -> WorkspaceList:
    return composition.workspace_directory().list(caller(router))
