"""Property-based fuzzing of every route, generated from the api's own OpenAPI document, through a local stack.

schemathesis sends what the document allows (positive) and what it forbids (negative) to every operation,
with an admin key and with a workspace key. Whatever arrives, the answer is never a 5xx, and every 4xx is a
JSON object whose `message` names the problem. The stack is one of its own: the fuzzer's messages, keys
and settings must not reach the other tests' sink or counters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from queue_services.api import build_api
from tests.support.local_stack_process import ADMIN_KEY, LocalStackProcess, running_stack

KEYS = {"admin": ADMIN_KEY, "workspace": "local-key-123"}
# Examples per operation and key; QS_FUZZ_EXAMPLES=500 for a longer hunt than make test's.
EXAMPLES = int(os.environ.get("QS_FUZZ_EXAMPLES", "40"))

schema = schemathesis.openapi.from_dict(json.loads(build_api().get_openapi_json_schema()))
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    with running_stack(tmp_path_factory.mktemp("fuzz_stack")) as stack:
        yield stack


def problem_named(response: Any) -> str | None:
    """What is wrong with a 4xx answer's body, if anything: it must be JSON with a non-empty message."""
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]!r}"
    if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"].strip():
        return f"no message naming the problem: {body!r:.200}"
    return None


@pytest.mark.parametrize("key", sorted(KEYS))
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_5xx_and_every_4xx_names_its_problem(
    case: schemathesis.Case, key: str, fuzz_stack: LocalStackProcess
) -> None:
    response = case.call(base_url=fuzz_stack.api, headers={"x-api-key": KEYS[key]}, timeout=15)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
    if 400 <= response.status_code < 500:
        problem = problem_named(response)
        assert problem is None, f"{case.method} {case.formatted_path} -> {response.status_code}: {problem}"
