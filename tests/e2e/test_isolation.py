"""Callers never get each other's identity: every request is judged with its own key, as on Lambda."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from queue_services.adapters.api_keys import api_key_item
from queue_services.tenancy import WORKSPACE, Principal
from tests.support.local_stack_process import LocalStackProcess, keyed_session, wait_until
from tests.support.seeds import seed_body

KEYS = {"local-key-123": "workspace-123", "local-key-456": "workspace-456", "e2e-key-789": "workspace-789"}
CREATES = 1000
CROSS_ATTEMPTS = 300
CALLERS = 16


@pytest.fixture(scope="module")
def third_key(local_stack: LocalStackProcess) -> str:
    """A third workspace key, written into the keys table as `make create-key` would."""
    item = api_key_item("e2e-key-789", Principal(role=WORKSPACE, workspace_id="workspace-789"))
    local_stack.aws_client("dynamodb").put_item(TableName="ApiKeysTable", Item=item)
    return "e2e-key-789"


def test_concurrent_creates_with_three_keys_are_each_judged_with_their_own_key(
    stack: LocalStackProcess, third_key: str
) -> None:
    sessions = {key: keyed_session(key) for key in KEYS}
    route = f"{stack.api}/api/schedule-email"
    keys = list(KEYS)
    # Every caller's own workspace, interleaved with attempts for a neighbour's workspace.
    plan: list[tuple[str, str, bool]] = [(keys[n % 3], KEYS[keys[n % 3]], True) for n in range(CREATES)]
    for n in range(CROSS_ATTEMPTS):
        plan.insert(n * 4 + 1, (keys[n % 3], KEYS[keys[(n + 1) % 3]], False))

    def call(step: tuple[str, str, bool]) -> tuple[str, str, bool, int, Any]:
        key, workspace, own = step
        body = seed_body("api_schedule_email", workspaceId=workspace, contactId=f"{key}-contact")
        response = sessions[key].post(route, json=body, timeout=30)
        return key, workspace, own, response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        answers = list(pool.map(call, plan))

    wrong = [(key, workspace, status, body) for key, workspace, own, status, body in answers if own and status != 202]
    accepted_cross = [
        (key, workspace, status) for key, workspace, own, status, _ in answers if not own and status != 403
    ]
    assert wrong == [], f"{len(wrong)} creates refused, e.g. {wrong[:3]}"
    assert accepted_cross == [], f"{len(accepted_cross)} cross-workspace attempts not refused"
    refusals = [body for _, _, own, _, body in answers if not own]
    assert {body["detail"][0]["field"] for body in refusals} == {"workspaceId"}

    creator = {body["messageId"]: (key, workspace) for key, workspace, own, _, body in answers if own}
    assert len(creator) == CREATES

    # What reached the provider carries the creator's workspace, exactly once per message.
    def all_delivered() -> list[dict[str, Any]] | None:
        messages = stack.sink_messages("email")
        return messages if len(messages) >= CREATES else None

    delivered = wait_until(all_delivered, timeout=90, interval=1.0)
    assert len(delivered) == CREATES
    assert {m["messageId"]: m["workspaceId"] for m in delivered} == {
        message_id: workspace for message_id, (_, workspace) in creator.items()
    }
    assert {m["contactId"] for m in delivered} == {f"{key}-contact" for key in KEYS}

    # Each message is its creator's: visible with that key, unknown (404) to the others.
    sample = list(itertools.islice(creator.items(), 0, CREATES, 50))
    for message_id, (key, _) in sample:
        assert sessions[key].get(f"{stack.api}/api/messages/{message_id}", timeout=10).status_code == 200
        for other in (k for k in KEYS if k != key):
            assert sessions[other].get(f"{stack.api}/api/messages/{message_id}", timeout=10).status_code == 404


def test_cross_workspace_attempts_racing_legitimate_requests_are_never_accepted(
    stack: LocalStackProcess, third_key: str
) -> None:
    """Attackers' requests are interleaved tightly with the owner's, so a context mix-up would accept one."""
    route = f"{stack.api}/api/schedule-sms"
    owner = keyed_session("local-key-456")
    intruders = [keyed_session("local-key-123"), keyed_session(third_key)]
    body = seed_body("api_schedule_sms", workspaceId="workspace-456")

    def call(n: int) -> tuple[bool, int]:
        session = owner if n % 2 == 0 else intruders[n % 4 // 2]
        return session is owner, session.post(route, json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        results = list(pool.map(call, range(400)))
    assert {status for is_owner, status in results if not is_owner} == {403}
    assert {status for is_owner, status in results if is_owner} == {202}
    # Only the owner's 200 reach the provider.
    wait_until(lambda: len(stack.sink_messages("sms")) >= 200, timeout=60, interval=1.0)
    assert {m["workspaceId"] for m in stack.sink_messages("sms")} == {"workspace-456"}
    assert len(stack.sink_messages("sms")) == 200
    assert requests.get(f"{stack.api}/health", timeout=5).status_code == 200
