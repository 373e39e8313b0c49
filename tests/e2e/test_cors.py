"""CORS on a stack that allows two origins (CorsAllowedOrigins): preflight, headers on answers, others refused.

The shared stack allows none: there, preflight is a 404 and no answer has CORS headers (test_route_matrix).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.local_stack_process import ADMIN_KEY, SEED_SMS, LocalStackProcess, running_stack

ALLOWED = ("https://crm.example.com", "http://localhost:5173")
ELSEWHERE = "https://evil.example.net"


@pytest.fixture(scope="module")
def cors_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    with running_stack(tmp_path_factory.mktemp("cors_stack"), f"CorsAllowedOrigins={','.join(ALLOWED)}") as stack:
        yield stack


def preflight(stack: LocalStackProcess, origin: str, path: str = "/api/schedule-sms") -> requests.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key,idempotency-key",
    }
    return requests.options(f"{stack.api}{path}", headers=headers, timeout=10)


@pytest.mark.parametrize("origin", ALLOWED)
@pytest.mark.parametrize("path", ["/api/schedule-sms", "/api/messages/some-id", "/api/workspaces/w-1/settings"])
def test_preflight_from_an_allowed_origin_is_answered_without_a_key(
    cors_stack: LocalStackProcess, origin: str, path: str
) -> None:
    answer = preflight(cors_stack, origin, path)
    assert answer.status_code == 204, answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    allowed_headers = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-api-key", "idempotency-key"} <= allowed_headers
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in answer.headers
    assert answer.headers["Access-Control-Max-Age"] == "600"


def test_preflight_from_another_origin_gets_no_cors_headers(cors_stack: LocalStackProcess) -> None:
    answer = preflight(cors_stack, ELSEWHERE)
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_answers_to_an_allowed_origin_carry_its_origin_and_others_none(cors_stack: LocalStackProcess) -> None:
    body = {**SEED_SMS, "workspaceId": "workspace-123"}
    for origin, expected in ((ALLOWED[0], ALLOWED[0]), (ELSEWHERE, None)):
        headers = {"Origin": origin, "x-api-key": ADMIN_KEY}
        accepted = requests.post(f"{cors_stack.api}/api/schedule-sms", json=body, headers=headers, timeout=10)
        assert accepted.status_code == 202, accepted.text
        assert accepted.headers.get("Access-Control-Allow-Origin") == expected
        # A refusal before routing (a body over 256 KB) carries the same headers, so a browser can read it.
        too_big = requests.post(
            f"{cors_stack.api}/api/schedule-sms",
            data="x" * 300_000,
            headers=headers | {"Content-Type": "application/json"},
            timeout=10,
        )
        assert too_big.status_code == 413
        assert too_big.headers.get("Access-Control-Allow-Origin") == expected
        assert "Access-Control-Allow-Credentials" not in accepted.headers
