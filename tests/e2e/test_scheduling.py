"""Scheduled messages through the local stack: the Scheduler path, on time to the second, cancel, reschedule.

The session's stack routes anything due more than 5 s ahead through EventBridge Scheduler
(MaxSqsDelaySeconds=5), so that a schedule fires within a test instead of after 15 minutes.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from tests.support.local_stack_process import SEED_SMS, LocalStackProcess, delivered, wait_until


def schedule(stack: LocalStackProcess, **changes: Any) -> dict[str, Any]:
    response = stack.http.post(f"{stack.api}/api/schedule-sms", json={**SEED_SMS, **changes}, timeout=10)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def message(stack: LocalStackProcess, message_id: str) -> dict[str, Any]:
    response = stack.http.get(f"{stack.api}/api/messages/{message_id}", timeout=5)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


def test_a_scheduled_message_is_delivered_on_time_to_the_second(stack: LocalStackProcess) -> None:
    answer = schedule(stack, delay=12_000)
    assert answer["status"] == "scheduled"
    send_at = datetime.fromisoformat(answer["sendAt"]).timestamp()
    sent = wait_until(lambda: delivered(stack, answer["messageId"]), timeout=30)
    lateness = sent["receivedAt"] - send_at
    assert 0 <= lateness < 1.5, f"delivered {lateness:+.2f} s from its send time"
    record = wait_until(lambda: (r := message(stack, answer["messageId"]))["status"] == "sent" and r, timeout=5)
    assert record["attempts"] == 1


def test_cancelling_before_the_schedule_fires_means_never_delivered(stack: LocalStackProcess) -> None:
    answer = schedule(stack, delay=8_000)
    response = stack.http.delete(f"{stack.api}/api/messages/{answer['messageId']}", timeout=5)
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    time.sleep(10)
    assert delivered(stack, answer["messageId"]) is None
    assert message(stack, answer["messageId"])["status"] == "cancelled"


def test_cancelling_after_delivery_is_a_409(stack: LocalStackProcess) -> None:
    answer = schedule(stack)
    wait_until(lambda: delivered(stack, answer["messageId"]), timeout=15)
    wait_until(lambda: message(stack, answer["messageId"])["status"] == "sent", timeout=5)
    assert stack.http.delete(f"{stack.api}/api/messages/{answer['messageId']}", timeout=5).status_code == 409


def test_a_rescheduled_message_arrives_at_the_new_time_only(stack: LocalStackProcess) -> None:
    answer = schedule(stack, delay=20_000)
    response = stack.http.patch(f"{stack.api}/api/messages/{answer['messageId']}", json={"delay": 8_000}, timeout=5)
    assert response.status_code == 200, response.text
    moved = response.json()
    assert (moved["status"], moved["version"]) == ("scheduled", 1)
    new_time = datetime.fromisoformat(moved["sendAt"]).timestamp()
    sent = wait_until(lambda: delivered(stack, answer["messageId"]), timeout=20)
    assert 0 <= sent["receivedAt"] - new_time < 1.5
    time.sleep(max(0.0, datetime.fromisoformat(answer["sendAt"]).timestamp() - time.time()) + 2)
    assert [m["messageId"] for m in stack.sink_messages()].count(answer["messageId"]) == 1
