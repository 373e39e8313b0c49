"""Where a refused field is located in a 422/403/404 body: the header, the path, the query string or the body."""

from __future__ import annotations

import pytest

from queue_services.http_errors import field_location


@pytest.mark.parametrize(
    ("field", "method", "route", "expected"),
    [
        ("Idempotency-Key", "POST", "/api/bulk-sms", "header"),
        ("keyId", "DELETE", "/api/admin/keys/{keyId}", "path"),
        ("cursor", "GET", "/api/broadcasts", "query"),
        ("workspaceId", "get", "", "query"),
        ("workspaceId", "POST", "/api/bulk-sms", "body"),
        ("broadcastId", "DELETE", "/api/broadcasts/{broadcastId}", "path"),
        ("key", "DELETE", "/api/admin/keys/{keyId}", "query"),
        ("recipients", "POST", "/api/x/{other}", "body"),
    ],
)
def test_a_refused_field_is_located_where_the_caller_gave_it(
    field: str, method: str, route: str, expected: str
) -> None:
    assert field_location(field, method, route) == expected
