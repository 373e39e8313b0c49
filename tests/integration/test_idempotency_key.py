"""The Idempotency-Key header on the creating routes: replay, another body, a concurrent twin, two workspaces."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.support.events import api_event, workspace_key
from tests.support.integration_stack import Stack
from tests.support.seeds import SEED_EMAIL, SEED_SMS


def post(
    stack: Stack, body: dict[str, Any], key: str | None, workspace: str = "workspace-123", route: str = "sms"
) -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    event = api_event(f"api_schedule_{route}", {**body, "workspaceId": workspace}, headers=headers)
    event["requestContext"]["authorizer"] = workspace_key(workspace)
    response = stack.api.invoke(event)
    return response["statusCode"], json.loads(response["body"])


def queued(stack: Stack, logical_id: str = "SmsQueue") -> list[str]:
    return [json.loads(m["Body"])["messageId"] for m in stack.receive(logical_id, 20)]


def test_a_replay_answers_the_first_response_and_queues_nothing_new(stack: Stack) -> None:
    first = post(stack, SEED_SMS, "order-42")
    again = post(stack, SEED_SMS, "order-42")
    assert first[0] == again[0] == 202
    assert first[1] == again[1]
    assert queued(stack) == [first[1]["messageId"]]


def test_the_same_key_with_another_body_is_a_422_naming_the_header(stack: Stack) -> None:
    assert post(stack, SEED_SMS, "order-43")[0] == 202
    status, answer = post(stack, {**SEED_SMS, "message": "something else"}, "order-43")
    assert status == 422
    assert answer["detail"][0]["field"] == "Idempotency-Key"
    assert len(queued(stack)) == 1


def test_two_workspaces_may_use_the_same_key(stack: Stack) -> None:
    mine = post(stack, SEED_SMS, "shared-key", workspace="workspace-123")
    theirs = post(stack, SEED_SMS, "shared-key", workspace="workspace-456")
    assert mine[0] == theirs[0] == 202
    assert mine[1]["messageId"] != theirs[1]["messageId"]
    assert len(queued(stack)) == 2


def test_without_the_header_every_post_creates_a_message(stack: Stack) -> None:
    ids = {post(stack, SEED_SMS, None)[1]["messageId"] for _ in range(3)}
    assert len(ids) == 3
    assert sorted(queued(stack)) == sorted(ids)


def test_the_sms_and_email_routes_keep_their_keys_apart(stack: Stack) -> None:
    assert post(stack, SEED_SMS, "k-1")[0] == 202
    assert post(stack, SEED_EMAIL, "k-1", route="email")[0] == 202
    assert len(queued(stack)) == 1
    assert len(queued(stack, "EmailQueue")) == 1


def test_a_concurrent_twin_gets_409_or_the_same_answer_and_one_message_is_queued(stack: Stack) -> None:
    answers: list[tuple[int, Any]] = []
    start = threading.Barrier(4)

    def twin() -> None:
        start.wait()
        answers.append(post(stack, SEED_SMS, "twin"))

    threads = [threading.Thread(target=twin) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [body for status, body in answers if status == 202]
    assert accepted
    assert {body["messageId"] for body in accepted} == {accepted[0]["messageId"]}
    assert all(status in (202, 409) for status, _ in answers)
    assert queued(stack) == [accepted[0]["messageId"]]


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_an_unusable_key_is_a_422_naming_the_header(stack: Stack, key: str) -> None:
    status, answer = post(stack, SEED_SMS, key)
    assert status == 422
    assert answer["detail"][0]["field"] == "Idempotency-Key"
    assert queued(stack) == []


def test_a_key_is_not_spent_on_a_workspace_the_caller_may_not_act_for(stack: Stack) -> None:
    foreign = {**SEED_SMS, "workspaceId": "workspace-456"}
    event = api_event("api_schedule_sms", foreign, headers={"Idempotency-Key": "k"})
    event["requestContext"]["authorizer"] = workspace_key("workspace-123")
    assert stack.api.invoke(event)["statusCode"] == 403
    assert post(stack, SEED_SMS, "k", workspace="workspace-123")[0] == 202
