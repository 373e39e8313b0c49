"""The HTTP API's routes, one Powertools Router per area; functions/api/app.py includes them all.

messages (schedule, status, cancel, reschedule, search), broadcasts (bulk sends, progress, cancel), metrics
(read, reset), admin (dead letters), dashboard (the /admin/queues page, its data and actions), keys (API key
management), workspaces (settings), health.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services.routes import admin, broadcasts, dashboard, health, keys, messages, metrics, workspaces

ROUTERS: tuple[APIGatewayRouter, ...] = (
    messages.router,
    broadcasts.router,
    metrics.router,
    admin.router,
    dashboard.router,
    keys.router,
    workspaces.router,
    health.router,
)

__all__ = ["ROUTERS"]
