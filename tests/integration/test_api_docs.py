"""GET /api/openapi.json and Swagger UI at /api/docs: every route, the seed bodies, the error bodies, no CDN."""

from __future__ import annotations

import json
import re

import pytest

from queue_services import composition
from tests.support.events import route_event
from tests.support.integration_stack import Stack


def get(stack: Stack, path: str) -> dict[str, object]:
    answer: dict[str, object] = stack.api.invoke(route_event("GET", path, caller=None))
    return answer


def test_the_document_lists_every_route_with_examples_errors_and_the_key(stack: Stack) -> None:
    answer = get(stack, "/api/openapi.json")
    assert answer["statusCode"] == 200
    document = json.loads(str(answer["body"]))
    assert document["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }
    assert {"/api/schedule-sms", "/api/bulk-sms", "/api/admin/queues", "/api/messages", "/health"} <= set(
        document["paths"]
    )
    example = document["components"]["schemas"]["ScheduleSmsRequest"]["examples"][0]
    assert example["phoneNumber"] == "+1234567890"  # the old service's own body
    assert example["metadata"] == {"source": "campaign", "campaignId": "campaign-uuid"}
    responses = document["paths"]["/api/schedule-sms"]["post"]["responses"]
    for status in ("400", "401", "403", "422", "503"):
        assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "/admin/queues" not in document["paths"]  # the pages are not API routes


def test_swagger_ui_is_served_whole_without_any_external_script(stack: Stack) -> None:
    answer = get(stack, "/api/docs")
    assert answer["statusCode"] == 200
    body = str(answer["body"])
    assert "SwaggerUIBundle" in body
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']https?://""", body)


def test_the_docs_can_be_turned_off(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_DOCS_ENABLED", "false")
    composition.reset()
    from local_stack.runtime import load_function
    from local_stack.template import load_template

    api = load_function(load_template(), "ApiFunction")  # a new environment reads the setting at cold start
    for path in ("/api/docs", "/api/openapi.json"):
        assert api.invoke(route_event("GET", path, caller=None))["statusCode"] == 404
