"""Every route with every kind of key, through the local stack's gateway and authorizer.

The expected status of each cell is written down here, and the route list comes from template.yaml: a
route added without its row fails the first test, so none can be missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from local_stack.routing import routes_from_template
from local_stack.template import load_template
from tests.support.local_stack_process import SEED_EMAIL, SEED_SMS, LocalStackProcess

OWN, OTHER, ADMIN, NONE, REVOKED = "own", "other", "admin", "no key", "revoked"
CELLS = (OWN, OTHER, ADMIN, NONE, REVOKED)
KEYS = {OWN: "local-key-123", OTHER: "local-key-456", ADMIN: "local-admin-key"}
MINE = "workspace-123"

# (method, template path) -> (the status for own, other, admin); no key and a revoked key are always 401.
EXPECTED: dict[tuple[str, str], tuple[int, int, int]] = {
    ("POST", "/api/schedule-sms"): (202, 403, 202),
    ("POST", "/api/schedule-email"): (202, 403, 202),
    ("GET", "/api/messages/{messageId}"): (200, 404, 200),
    ("DELETE", "/api/messages/{messageId}"): (200, 404, 200),
    ("PATCH", "/api/messages/{messageId}"): (200, 404, 200),
    ("GET", "/api/metrics"): (200, 200, 200),
    ("POST", "/api/metrics/reset"): (403, 403, 200),
    ("GET", "/api/admin/dlq/{channel}"): (403, 403, 200),
    ("POST", "/api/admin/dlq/{channel}/redrive"): (403, 403, 202),
    ("DELETE", "/api/admin/dlq/{channel}"): (403, 403, 200),
    ("GET", "/api/workspaces/{workspaceId}/settings"): (200, 403, 200),
    ("PUT", "/api/workspaces/{workspaceId}/settings"): (200, 403, 200),
    ("GET", "/api/workspaces"): (403, 403, 200),
    ("POST", "/api/admin/keys"): (403, 403, 201),
    ("GET", "/api/admin/keys"): (403, 403, 200),
    ("DELETE", "/api/admin/keys/{keyId}"): (403, 403, 200),
    ("POST", "/api/bulk-sms"): (202, 403, 202),
    ("POST", "/api/bulk-email"): (202, 403, 202),
    ("GET", "/api/broadcasts/{broadcastId}"): (200, 404, 200),
    ("DELETE", "/api/broadcasts/{broadcastId}"): (200, 404, 200),
    ("GET", "/api/broadcasts"): (200, 403, 200),
    ("GET", "/api/messages"): (200, 403, 200),
    ("GET", "/api/admin/queues"): (200, 200, 200),
    ("POST", "/api/admin/queues/workspaces/{workspaceId}/pause"): (200, 403, 200),
    ("POST", "/api/admin/queues/broadcasts/{broadcastId}/cancel"): (200, 404, 200),
}
# Answered without a key: health, the dashboard page and its files, the API docs, and CORS preflight (404
# here: this stack allows no origin; see test_cors.py).
PUBLIC = {
    ("GET", "/health"): 200,
    ("OPTIONS", "/{proxy+}"): 404,
    ("GET", "/admin/queues"): 200,
    ("GET", "/admin/queues/assets/{name}"): 200,
    ("GET", "/api/docs"): 200,
    ("GET", "/api/openapi.json"): 200,
}


def test_every_route_of_the_template_has_its_row() -> None:
    routes = {(route.method, route.resource) for route in routes_from_template(load_template())}
    assert routes == set(EXPECTED) | set(PUBLIC)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("method", "resource"), sorted(PUBLIC))
def test_public_route_by_key(stack: LocalStackProcess, revoked_key: str, method: str, resource: str, cell: str) -> None:
    path = resource.replace("{proxy+}", "api/schedule-sms").replace("{name}", "dashboard.css")
    headers = {} if cell == NONE else {"x-api-key": revoked_key if cell == REVOKED else KEYS[cell]}
    answer = requests.request(method, f"{stack.api}{path}", headers=headers, timeout=15)
    assert answer.status_code == PUBLIC[(method, resource)], answer.text
    assert "Access-Control-Allow-Origin" not in answer.headers


# Messages scheduled 10 minutes out by the cells: cancelled when the module ends, so that their schedules do
# not fire into a later test on the same stack (they did, and its queue and sink were no longer its own).
LEFT_SCHEDULED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def cancel_what_the_cells_left_scheduled(local_stack: LocalStackProcess) -> Iterator[None]:
    yield
    stack = local_stack
    for message_id in LEFT_SCHEDULED:
        answer = stack.http.delete(f"{stack.api}/api/messages/{message_id}", timeout=10)
        assert answer.status_code in (200, 409), answer.text  # 409: a cell cancelled it already
    LEFT_SCHEDULED.clear()


def new_message(stack: LocalStackProcess) -> str:
    answer = stack.http.post(f"{stack.api}/api/schedule-sms", json={**SEED_SMS, "workspaceId": MINE, "delay": 600_000})
    assert answer.status_code == 202, answer.text
    LEFT_SCHEDULED.append(str(answer.json()["messageId"]))
    return LEFT_SCHEDULED[-1]


def new_key_id(stack: LocalStackProcess) -> str:
    answer = stack.http.post(f"{stack.api}/api/admin/keys", json={"admin": True, "label": "matrix"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["keyId"])


def bulk_sms_body() -> dict[str, Any]:
    recipient = {"phoneNumber": SEED_SMS["phoneNumber"], "contactId": "matrix"}
    return {"workspaceId": MINE, "message": "Hi", "recipients": [recipient], "delay": 4_000}


def new_broadcast(stack: LocalStackProcess) -> str:
    answer = stack.http.post(f"{stack.api}/api/bulk-sms", json=bulk_sms_body())
    assert answer.status_code == 202, answer.text
    return str(answer.json()["broadcastId"])


# What each route is called with: its path filled in, its body (fresh objects where a call consumes them).
Request = tuple[str, dict[str, Any] | None]
BUILDERS: dict[str, Callable[[LocalStackProcess], Request]] = {
    "/api/schedule-sms": lambda stack: ("/api/schedule-sms", {**SEED_SMS, "workspaceId": MINE}),
    "/api/schedule-email": lambda stack: ("/api/schedule-email", {**SEED_EMAIL, "workspaceId": MINE}),
    "/api/messages/{messageId}": lambda stack: (f"/api/messages/{new_message(stack)}", {"delay": 900_000}),
    "/api/metrics": lambda stack: ("/api/metrics", None),
    "/api/metrics/reset": lambda stack: ("/api/metrics/reset", {"type": "all"}),
    # The email DLQ: the README's examples purge the SMS one, and SQS allows one purge a minute per queue.
    "/api/admin/dlq/{channel}": lambda stack: ("/api/admin/dlq/email", None),
    "/api/admin/dlq/{channel}/redrive": lambda stack: ("/api/admin/dlq/email/redrive", None),
    "/api/workspaces/{workspaceId}/settings": lambda stack: (f"/api/workspaces/{MINE}/settings", {}),
    "/api/workspaces": lambda stack: ("/api/workspaces", None),
    "/api/admin/keys": lambda stack: ("/api/admin/keys", {"workspaceId": MINE}),
    "/api/admin/keys/{keyId}": lambda stack: (f"/api/admin/keys/{new_key_id(stack)}", None),
    "/api/bulk-sms": lambda stack: ("/api/bulk-sms", bulk_sms_body()),
    "/api/bulk-email": lambda stack: (
        "/api/bulk-email",
        {
            "workspaceId": MINE,
            "subject": "Hi",
            "html": "<p>Hi</p>",
            "recipients": [{"to": SEED_EMAIL["to"], "contactId": "m"}],
        },
    ),
    "/api/broadcasts/{broadcastId}": lambda stack: (f"/api/broadcasts/{new_broadcast(stack)}", None),
    "/api/broadcasts": lambda stack: (f"/api/broadcasts?workspaceId={MINE}", None),
    "/api/messages": lambda stack: (f"/api/messages?workspaceId={MINE}&contactId=matrix", None),
    "/api/admin/queues": lambda stack: ("/api/admin/queues", None),
    "/api/admin/queues/workspaces/{workspaceId}/pause": lambda stack: (
        f"/api/admin/queues/workspaces/{MINE}/pause",
        {"paused": False},
    ),
    "/api/admin/queues/broadcasts/{broadcastId}/cancel": lambda stack: (
        f"/api/admin/queues/broadcasts/{new_broadcast(stack)}/cancel",
        None,
    ),
}


@pytest.fixture(scope="module")
def revoked_key(local_stack: LocalStackProcess) -> str:
    created = local_stack.http.post(f"{local_stack.api}/api/admin/keys", json={"workspaceId": MINE}, timeout=10).json()
    gone = local_stack.http.delete(f"{local_stack.api}/api/admin/keys/{created['keyId']}", timeout=10)
    assert gone.status_code == 200
    return str(created["key"])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("method", "resource"), sorted(EXPECTED))
def test_route_by_key(stack: LocalStackProcess, revoked_key: str, method: str, resource: str, cell: str) -> None:
    own, other, admin = EXPECTED[(method, resource)]
    expected = {OWN: own, OTHER: other, ADMIN: admin, NONE: 401, REVOKED: 401}[cell]
    path, body = BUILDERS[resource](stack)
    headers = {} if cell == NONE else {"x-api-key": revoked_key if cell == REVOKED else KEYS[cell]}
    send_body = body if method in ("POST", "PUT", "PATCH") else None
    answer = requests.request(method, f"{stack.api}{path}", json=send_body, headers=headers, timeout=15)
    assert answer.status_code == expected, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    answer.json()  # every answer, refusals included, is JSON
