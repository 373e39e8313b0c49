"""The OpenAPI document (GET /api/openapi.json) and Swagger UI (GET /api/docs), from Powertools' generator.

Swagger UI's script and styles are the copies bundled with Powertools, inlined into the page: the docs
work on a closed network, with no CDN.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

from queue_services.models import ErrorBody

DOCS_PATH = "/api/docs"
DOCUMENT_PATH = "/api/openapi.json"
SECURITY_SCHEME = "ApiKeyAuth"

DOCUMENT: dict[str, Any] = {
    "title": "Queue Services API",
    "version": "1.0.0",
    "description": (
        "Multi-tenant SMS and email sending: schedule messages, broadcast to thousands, follow them, "
        "manage keys and workspaces. Every route but /health, /admin/queues and these docs needs the "
        "`x-api-key` header: a workspace key acts for its workspace only, the admin key for all."
    ),
    "security_schemes": {SECURITY_SCHEME: APIKey(name="x-api-key", in_=APIKeyIn.header)},
    "security": [{SECURITY_SCHEME: []}],
}

_ERRORS = {
    400: "The body is not JSON, not UTF-8, or a header is malformed",
    401: "Missing or unknown x-api-key",
    403: "This key may not act for that workspace, or the route needs the admin key",
    404: "No such message, broadcast or key (or it belongs to another workspace)",
    405: "The dashboard is read-only in this deployment",
    409: "The resource's state forbids it (already sent, a concurrent duplicate of an Idempotency-Key)",
    413: "The body is too large",
    415: "The body is not sent as application/json",
    422: "Invalid input: each bad field is named",
    503: "A queue or table could not be reached; retry",
}
ERROR_RESPONSES: dict[int, Any] = {
    status: {"description": text, "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}}}
    for status, text in _ERRORS.items()
}


def add_docs(app: APIGatewayRestResolver) -> None:
    """Document every route's error answers, then serve the document and Swagger UI (no key needed)."""
    for route in app._static_routes + app._dynamic_routes:
        route.responses = {**ERROR_RESPONSES, **(route.responses or {})}
    app.enable_swagger(path=DOCS_PATH, **DOCUMENT)

    @app.get(DOCUMENT_PATH, include_in_schema=False)
    def openapi_document() -> Response[str]:
        return Response(
            status_code=200, content_type=content_types.APPLICATION_JSON, body=app.get_openapi_json_schema(**DOCUMENT)
        )
