"""API body validation: the seed bodies pass, and every bad field is named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from queue_services.models import MetricsResetRequest, ScheduleEmailRequest, ScheduleSmsRequest
from tests.support.seeds import SEED_EMAIL, SEED_SMS


def bad_fields(model: type[ScheduleSmsRequest | ScheduleEmailRequest], body: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return {".".join(str(p) for p in error["loc"]) for error in caught.value.errors()}


def test_seed_bodies_are_valid() -> None:
    sms = ScheduleSmsRequest.model_validate(SEED_SMS)
    email = ScheduleEmailRequest.model_validate(SEED_EMAIL)
    assert sms.phone_number == "+1234567890"
    assert sms.metadata == {"source": "campaign", "campaignId": "campaign-uuid"}
    assert email.to == "recipient@example.com"
    assert email.delay == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("+1 (234) 567-890", "+1234567890"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1.555.123.4567", "+15551234567"),
        ("+1234567", "+1234567"),
        ("+123456789012345", "+123456789012345"),
    ],
)
def test_phone_numbers_are_normalized_to_e164(given: str, expected: str) -> None:
    assert ScheduleSmsRequest.model_validate({**SEED_SMS, "phoneNumber": given}).phone_number == expected


@pytest.mark.parametrize(
    "number",
    ["1234567890", "+0234567890", "+123456", "+1234567890123456", "+1 555 CALL NOW", "", "+", "++1234567890"],
)
def test_bad_phone_numbers_are_refused_by_name(number: str) -> None:
    assert bad_fields(ScheduleSmsRequest, {**SEED_SMS, "phoneNumber": number}) == {"phoneNumber"}


def test_phone_error_does_not_echo_the_number() -> None:
    with pytest.raises(ValidationError) as caught:
        ScheduleSmsRequest.model_validate({**SEED_SMS, "phoneNumber": "+0987654321"})
    assert "0987654321" not in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize("address", ["not-an-email", "a@", "@example.com", "a b@example.com", "a@example..com"])
def test_bad_email_addresses_are_refused_by_name(address: str) -> None:
    assert bad_fields(ScheduleEmailRequest, {**SEED_EMAIL, "to": address}) == {"to"}


@pytest.mark.parametrize(
    ("model", "seed", "field", "value"),
    [
        (ScheduleSmsRequest, SEED_SMS, "message", ""),
        (ScheduleSmsRequest, SEED_SMS, "message", "x" * 1601),
        (ScheduleEmailRequest, SEED_EMAIL, "subject", ""),
        (ScheduleEmailRequest, SEED_EMAIL, "subject", "s" * 999),
        (ScheduleEmailRequest, SEED_EMAIL, "html", ""),
        (ScheduleEmailRequest, SEED_EMAIL, "html", "h" * 100_001),
        (ScheduleEmailRequest, SEED_EMAIL, "text", ""),
        (ScheduleSmsRequest, SEED_SMS, "contactId", ""),
        (ScheduleSmsRequest, SEED_SMS, "contactId", "   "),
        (ScheduleSmsRequest, SEED_SMS, "contactId", "c" * 257),
        (ScheduleSmsRequest, SEED_SMS, "workspaceId", ""),
        (ScheduleSmsRequest, SEED_SMS, "workspaceId", "w" * 129),
        (ScheduleSmsRequest, SEED_SMS, "workspaceId", "has space"),
        (ScheduleSmsRequest, SEED_SMS, "delay", -1),
        (ScheduleSmsRequest, SEED_SMS, "delay", 365 * 24 * 3600 * 1000 + 1),
        (ScheduleSmsRequest, SEED_SMS, "delay", "soon"),
        (ScheduleSmsRequest, SEED_SMS, "sendAt", "2026-11-28T12:00:00"),
        (ScheduleSmsRequest, SEED_SMS, "sendAt", "tomorrow"),
        (ScheduleSmsRequest, SEED_SMS, "metadata", ["not", "an", "object"]),
        (ScheduleSmsRequest, SEED_SMS, "metadata", {f"k{i}": i for i in range(51)}),
        (ScheduleSmsRequest, SEED_SMS, "metadata", {"blob": "x" * 5000}),
    ],
)
def test_out_of_bounds_fields_are_refused_by_name(model: Any, seed: dict[str, Any], field: str, value: Any) -> None:
    assert bad_fields(model, {**seed, field: value}) == {field}


@pytest.mark.parametrize("field", ["phoneNumber", "message", "contactId", "workspaceId"])
def test_required_sms_fields(field: str) -> None:
    body = {k: v for k, v in SEED_SMS.items() if k != field}
    assert bad_fields(ScheduleSmsRequest, body) == {field}


@pytest.mark.parametrize("field", ["to", "subject", "html", "contactId", "workspaceId"])
def test_required_email_fields(field: str) -> None:
    body = {k: v for k, v in SEED_EMAIL.items() if k != field}
    assert bad_fields(ScheduleEmailRequest, body) == {field}


def test_unknown_fields_are_refused_not_dropped() -> None:
    assert bad_fields(ScheduleSmsRequest, {**SEED_SMS, "sendat": "2026-01-01T00:00:00Z"}) == {"sendat"}


def test_delay_and_metadata_are_optional() -> None:
    body = {k: v for k, v in SEED_SMS.items() if k not in ("delay", "metadata")}
    request = ScheduleSmsRequest.model_validate(body)
    assert request.delay is None
    assert request.metadata == {}


@pytest.mark.parametrize("kind", ["sms", "email", "all"])
def test_reset_types(kind: str) -> None:
    assert MetricsResetRequest.model_validate({"type": kind}).type == kind


def test_reset_refuses_other_types() -> None:
    with pytest.raises(ValidationError):
        MetricsResetRequest.model_validate({"type": "push"})
