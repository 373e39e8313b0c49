"""Checks on a request's body made before any parsing: size, encoding and content type (4xx, never a 5xx).

Powertools decodes the body before validation runs and raises on a body that is not base64 or UTF-8, or
a multipart body without a boundary (a Lambda error: API Gateway answers 502); a form-encoded body (curl
-d without a Content-Type) would be parsed as a form and refused with a confusing 422.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

MAX_BODY_BYTES = 256 * 1024
# Bulk requests carry up to 10,000 recipients (about 1 MB at 100 bytes each, several with variables);
# Lambda takes at most 6 MB in a synchronous invocation.
MAX_BULK_BODY_BYTES = 5 * 1024 * 1024
BULK_PATHS = ("/api/bulk-sms", "/api/bulk-email")
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# The one refusal of a body that is not JSON, here and for the other types Powertools refuses (http_errors).
JSON_ONLY = "send the body as JSON, with Content-Type: application/json"


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused before it reaches a route: HTTP status, message, the field at fault."""

    status: int
    message: str
    field: str


def check_request(event: dict[str, Any]) -> Refusal | None:
    """The refusal for a REST proxy event's body, or None if a route may read it."""
    body = event.get("body")
    if body is None:
        return None
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return Refusal(400, "not valid base64", "body")
    else:
        raw = str(body).encode("utf-8", "surrogatepass")
    limit = MAX_BULK_BODY_BYTES if event.get("path") in BULK_PATHS else MAX_BODY_BYTES
    if len(raw) > limit:
        return Refusal(413, f"over {limit // 1024} KB", "body")
    if media_type in _FORM_TYPES:
        return Refusal(415, JSON_ONLY, "Content-Type")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "not UTF-8 text", "body")
    return None
