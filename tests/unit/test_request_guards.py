"""A request's body is refused before parsing when it is too large, not UTF-8, not base64 or form-encoded."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from queue_services.request_guards import MAX_BODY_BYTES, Refusal, check_request


def event(body: str | None, content_type: str = "application/json", encoded: bool = False) -> dict[str, Any]:
    return {"body": body, "isBase64Encoded": encoded, "headers": {"Content-Type": content_type}}


@pytest.mark.parametrize(
    ("request_event", "expected"),
    [
        (event('{"a": 1}'), None),
        (event(None), None),
        (event(base64.b64encode(b'{"a": 1}').decode(), encoded=True), None),
        (event(base64.b64encode(b"\xff\xfe{}").decode(), encoded=True), Refusal(400, "not UTF-8 text", "body")),
        (event("not base64!", encoded=True), Refusal(400, "not valid base64", "body")),
        (
            event("--x\r\n", "multipart/form-data"),
            Refusal(415, "send the body as JSON, with Content-Type: application/json", "Content-Type"),
        ),
        (
            event("a=1", "application/x-www-form-urlencoded; charset=utf-8"),
            Refusal(415, "send the body as JSON, with Content-Type: application/json", "Content-Type"),
        ),
        (event("x" * MAX_BODY_BYTES), None),
        (event("x" * (MAX_BODY_BYTES + 1)), Refusal(413, "over 256 KB", "body")),
        (event("é" * (MAX_BODY_BYTES // 2 + 1)), Refusal(413, "over 256 KB", "body")),  # counted in bytes
    ],
)
def test_check_request(request_event: dict[str, Any], expected: Refusal | None) -> None:
    assert check_request(request_event) == expected


def test_header_names_are_matched_in_any_case() -> None:
    assert check_request({"body": "a=1", "headers": {"content-type": "multipart/form-data"}}) is not None
