"""The api handler under moto: seed bodies accepted and queued right, bad input named in a 4xx."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.events import api_event
from tests.support.integration_stack import Stack
from tests.support.seeds import seed_body


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def test_seed_sms_is_accepted_and_queued_with_its_group(stack: Stack) -> None:
    # Given the seed's exact SMS body (events/api_schedule_sms.json)
    # When it is posted
    response = stack.api.invoke(api_event("api_schedule_sms"))
    # Then 202 with a UUID, "queued" and a send time
    assert response["statusCode"] == 202
    answer = body_of(response)
    assert set(answer) == {"messageId", "status", "sendAt"}
    assert uuid.UUID(answer["messageId"]).version == 4
    assert answer["status"] == "queued"
    assert abs(datetime.fromisoformat(answer["sendAt"]) - datetime.now(UTC)) < timedelta(seconds=5)
    # And the queue holds one versioned message with everything the worker needs, grouped by workspace
    (message,) = stack.receive("SmsQueue", 10)
    assert message["Attributes"]["MessageGroupId"] == "workspace-id"
    queued = json.loads(message["Body"])
    assert queued["schemaVersion"] == 1
    assert queued["channel"] == "sms"
    assert queued["messageId"] == answer["messageId"]
    assert queued["to"] == "+1234567890"
    assert queued["message"] == "Your message content"
    assert queued["contactId"] == "contact-uuid"
    assert queued["workspaceId"] == "workspace-id"
    assert queued["metadata"] == {"source": "campaign", "campaignId": "campaign-uuid"}
    assert stack.receive("EmailQueue", 10) == []


def test_seed_email_is_accepted_and_queued(stack: Stack) -> None:
    response = stack.api.invoke(api_event("api_schedule_email"))
    assert response["statusCode"] == 202
    (message,) = stack.receive("EmailQueue", 10)
    queued = json.loads(message["Body"])
    assert queued["channel"] == "email"
    assert (queued["to"], queued["subject"], queued["html"]) == (
        "recipient@example.com",
        "Email subject",
        "<p>Email content</p>",
    )
    assert message["Attributes"]["MessageGroupId"] == "workspace-id"


def test_delay_becomes_delay_seconds_on_the_queue(stack: Stack) -> None:
    # Given a 2,500 ms delay, SQS must hold the message for ceil(2.5) = 3 s
    before = datetime.now(UTC)
    response = stack.api.invoke(api_event("api_schedule_sms", {**seed_body("api_schedule_sms"), "delay": 2500}))
    after = datetime.now(UTC)
    assert response["statusCode"] == 202
    posted = time.monotonic()
    # sendAt is 2.5 s after the moment the request was accepted (the answer carries milliseconds)
    sent_at = datetime.fromisoformat(body_of(response)["sendAt"])
    delay = timedelta(seconds=2.5)
    assert before + delay - timedelta(milliseconds=1) <= sent_at <= after + delay
    assert stack.receive("SmsQueue", 1) == []
    time.sleep(max(0.0, 2.2 - (time.monotonic() - posted)))
    assert stack.receive("SmsQueue", 1) == []
    received = stack.receive("SmsQueue", 1, wait_seconds=3)
    assert len(received) == 1
    assert time.monotonic() - posted >= 2.5


def test_send_at_within_fifteen_minutes_is_accepted(stack: Stack) -> None:
    at = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    body = {**seed_body("api_schedule_email"), "sendAt": at.isoformat()}
    body.pop("delay")
    response = stack.api.invoke(api_event("api_schedule_email", body))
    assert response["statusCode"] == 202
    assert datetime.fromisoformat(body_of(response)["sendAt"]) == at


def test_more_than_a_year_ahead_gets_a_422_naming_the_limit(stack: Stack) -> None:
    at = datetime.now(UTC) + timedelta(days=366)
    body = {**seed_body("api_schedule_sms"), "sendAt": at.isoformat()}
    body.pop("delay")
    response = stack.api.invoke(api_event("api_schedule_sms", body))
    assert response["statusCode"] == 422
    answer = body_of(response)
    assert answer["detail"][0]["field"] == "sendAt"
    assert "one year" in answer["detail"][0]["msg"]
    assert stack.receive("SmsQueue", 10) == []


def test_delay_and_send_at_together_are_refused(stack: Stack) -> None:
    body = {**seed_body("api_schedule_sms"), "delay": 1000, "sendAt": datetime.now(UTC).isoformat()}
    response = stack.api.invoke(api_event("api_schedule_sms", body))
    assert response["statusCode"] == 422
    assert "sendAt" in body_of(response)["message"]


@pytest.mark.parametrize(
    ("event_name", "change", "field"),
    [
        ("api_schedule_sms", {"phoneNumber": "555-1234"}, "phoneNumber"),
        ("api_schedule_sms", {"phoneNumber": 1234567890}, "phoneNumber"),
        ("api_schedule_sms", {"message": ""}, "message"),
        ("api_schedule_sms", {"workspaceId": None}, "workspaceId"),
        ("api_schedule_sms", {"metadata": "campaign"}, "metadata"),
        ("api_schedule_sms", {"delay": -5}, "delay"),
        ("api_schedule_email", {"to": "nobody"}, "to"),
        ("api_schedule_email", {"subject": None}, "subject"),
        ("api_schedule_email", {"contactId": ""}, "contactId"),
    ],
)
def test_bad_fields_get_422_naming_them(stack: Stack, event_name: str, change: dict[str, Any], field: str) -> None:
    response = stack.api.invoke(api_event(event_name, {**seed_body(event_name), **change}))
    assert response["statusCode"] == 422
    answer = body_of(response)
    assert [item["field"] for item in answer["detail"]] == [field]
    assert field in answer["message"]
    assert all("input" not in item for item in answer["detail"])


def test_missing_fields_are_all_named(stack: Stack) -> None:
    response = stack.api.invoke(api_event("api_schedule_sms", {"delay": 0}))
    assert response["statusCode"] == 422
    assert {item["field"] for item in body_of(response)["detail"]} == {
        "phoneNumber",
        "message",
        "contactId",
        "workspaceId",
    }


@pytest.mark.parametrize(
    "raw_body", ["not json", "[1, 2]", "null", "42", '"text"', "{", '{"phoneNumber": }', "\u0000", "{}" * 1000]
)
@pytest.mark.parametrize("event_name", ["api_schedule_sms", "api_schedule_email", "api_reset_metrics"])
def test_malformed_bodies_get_4xx_never_5xx(stack: Stack, event_name: str, raw_body: str) -> None:
    response = stack.api.invoke(api_event(event_name, raw_body=raw_body))
    assert 400 <= response["statusCode"] < 500
    assert body_of(response)["detail"]


BAD_BODIES = [
    # (body, base64-encoded, Content-Type, status): what Powertools raised on before (a 502 at the gateway)
    (base64.b64encode(b'{"phoneNumber": "\xff\xfe"}').decode(), True, "application/json", 400),
    ("%%%", True, "application/json", 400),
    ("--x\r\nContent-Disposition: form-data\r\n\r\n1\r\n--x--", False, "multipart/form-data", 415),
    ("phoneNumber=%2B1234567890&message=hi", False, "application/x-www-form-urlencoded", 415),
    # Found by the fuzzer: Powertools' own 415 for other types named nothing.
    ('{"phoneNumber": "+1"}', False, "text/plain", 415),
    ('{"message": "' + "x" * 300_000 + '"}', False, "application/json", 413),
    ("[" * 100_000 + "]" * 100_000, False, "application/json", 400),
]


@pytest.mark.parametrize(("body", "encoded", "content_type", "status"), BAD_BODIES)
@pytest.mark.parametrize("event_name", ["api_schedule_sms", "api_schedule_email", "api_reset_metrics"])
def test_undecodable_oversized_and_form_bodies_get_a_json_4xx(
    stack: Stack, event_name: str, body: str, encoded: bool, content_type: str, status: int
) -> None:
    event = api_event(event_name, raw_body=body, headers={"Content-Type": content_type})
    event["isBase64Encoded"] = encoded
    response = stack.api.invoke(event)
    assert response["statusCode"] == status
    answer = body_of(response)
    assert answer["detail"][0]["field"] in ("body", "Content-Type")
    assert answer["message"]


def test_missing_body_is_a_4xx(stack: Stack) -> None:
    response = stack.api.invoke(api_event("api_schedule_sms", None))
    assert response["statusCode"] == 422


def test_health_reports_queues_and_table(stack: Stack) -> None:
    response = stack.api.invoke(api_event("api_health"))
    assert response["statusCode"] == 200
    assert body_of(response) == {
        "status": "ok",
        "checks": {"smsQueue": True, "emailQueue": True, "metricsTable": True},
    }
