"""Broadcasts through the local stack: a 2,000-recipient SMS broadcast delivered exactly once from the bulk
queue, its progress reaching 2,000 sent, and a cancel that stops the rest."""

from __future__ import annotations

import time
from typing import Any

from tests.support.local_stack_process import SEED_SMS, LocalStackProcess, delivered, post, wait_until

WORKSPACE = "workspace-123"


def people(count: int) -> list[dict[str, Any]]:
    return [
        {"phoneNumber": f"+1555{n:07d}", "contactId": f"c-{n}", "variables": {"firstName": f"P{n}"}}
        for n in range(count)
    ]


def start(stack: LocalStackProcess, count: int) -> dict[str, Any]:
    body = {"workspaceId": WORKSPACE, "message": "Hi {{firstName}}", "name": "e2e", "recipients": people(count)}
    answer = stack.http.post(f"{stack.api}/api/bulk-sms", json=body, timeout=30)
    assert answer.status_code == 202, answer.text
    accepted: dict[str, Any] = answer.json()
    return accepted


def progress(stack: LocalStackProcess, broadcast_id: str) -> dict[str, Any]:
    # One read of the broadcast's counters (queue_services.broadcast_progress), whatever its size.
    answer = stack.http.get(f"{stack.api}/api/broadcasts/{broadcast_id}", timeout=30)
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


def test_a_2000_recipient_broadcast_is_delivered_exactly_once_and_its_progress_reaches_2000(
    stack: LocalStackProcess,
) -> None:
    began = time.monotonic()
    accepted = start(stack, 2000)
    print(f"accepting 2,000 recipients took {time.monotonic() - began:.2f} s")  # measured in bench, not asserted
    assert (accepted["accepted"], accepted["rejected"]) == (2000, [])
    done = wait_until(lambda: (p := progress(stack, accepted["broadcastId"]))["sent"] == 2000 and p, timeout=120)
    assert (done["queued"], done["sending"], done["failed"], done["cancelled"]) == (0, 0, 0, 0)
    sent = [m for m in stack.sink_messages("sms") if m["workspaceId"] == WORKSPACE]
    assert len(sent) == 2000
    assert len({m["to"] for m in sent}) == 2000
    assert {m["message"] for m in sent if m["to"] == "+15550000007"} == {"Hi P7"}


def test_a_cancel_mid_broadcast_stops_the_remainder(stack: LocalStackProcess) -> None:
    accepted = start(stack, 600)
    wait_until(lambda: progress(stack, accepted["broadcastId"])["sent"] >= 50, timeout=60, interval=0.1)
    cancelled = stack.http.delete(f"{stack.api}/api/broadcasts/{accepted['broadcastId']}", timeout=10)
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"

    def settled() -> dict[str, Any] | None:
        view = progress(stack, accepted["broadcastId"])
        return view if view["queued"] == view["sending"] == 0 else None

    final = wait_until(settled, timeout=60)
    assert final["sent"] + final["cancelled"] == 600
    assert final["cancelled"] >= 300  # at 50/s, far more than half was still waiting when the cancel came
    assert len(stack.sink_messages("sms")) == final["sent"]


def test_a_single_send_overtakes_a_running_broadcast(stack: LocalStackProcess) -> None:
    accepted = start(stack, 800)
    wait_until(lambda: progress(stack, accepted["broadcastId"])["sent"] >= 50, timeout=60, interval=0.1)
    # When a one-time code is sent while the broadcast still has hundreds waiting
    body = {**SEED_SMS, "workspaceId": "workspace-456", "contactId": "otp", "phoneNumber": "+15559990000"}
    body.pop("delay", None)
    posted = time.time()
    message_id = post(stack, "schedule-sms", body)
    arrived = wait_until(lambda: delivered(stack, message_id), timeout=30, interval=0.05)
    # Then it reached the provider well before the broadcast's backlog (about 15 s of it) was sent
    left = progress(stack, accepted["broadcastId"])
    assert arrived["receivedAt"] - posted < 3.0
    assert left["queued"] + left["sending"] > 300, left
    stack.http.delete(f"{stack.api}/api/broadcasts/{accepted['broadcastId']}", timeout=10)
