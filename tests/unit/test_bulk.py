"""Bulk bodies: each recipient checked on its own and rendered; the others rejected by index, by name."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from queue_services.bulk import MAX_RECIPIENTS, BulkEmailRequest, BulkSmsRequest, split_recipients
from queue_services.models import ScheduleEmailRequest, ScheduleSmsRequest


def sms_body(recipients: list[Any], message: str = "Hi {{firstName}}, code {{code}}", **changes: Any) -> dict[str, Any]:
    return {"workspaceId": "workspace-456", "message": message, "recipients": recipients, **changes}


def person(n: int, **variables: Any) -> dict[str, Any]:
    return {"phoneNumber": f"+1555000{n:04d}", "contactId": f"c-{n}", "variables": variables}


def test_valid_recipients_become_single_sends_and_bad_ones_are_rejected_by_index() -> None:
    recipients = [
        person(0, firstName="Ana", code=4711),
        {"phoneNumber": "12", "contactId": "c-1", "variables": {"firstName": "Bo", "code": 1}},
        person(2, firstName="Cy"),  # no code
        {"contactId": "c-3", "variables": {"firstName": "Di", "code": 2}},  # no phone number
        "not a recipient",
        person(5, firstName="Ed", code=True, unused="fine"),
        {**person(6, firstName="Fa", code=3), "colour": "blue"},
    ]
    bulk = BulkSmsRequest.model_validate(sms_body(recipients, delay=60_000, metadata={"campaignId": "x"}))
    accepted, rejected = split_recipients(bulk)
    # Then the valid ones are the single sends they stand for, texts filled in, request fields shared
    assert [index for index, _ in accepted] == [0, 5]
    first = accepted[0][1]
    assert isinstance(first, ScheduleSmsRequest)
    assert (first.phone_number, first.message, first.contact_id) == ("+15550000000", "Hi Ana, code 4711", "c-0")
    assert (first.workspace_id, first.delay, first.metadata) == ("workspace-456", 60_000, {"campaignId": "x"})
    assert accepted[1][1].message == "Hi Ed, code true"  # type: ignore[union-attr]
    # And each rejection says which recipient and which field, never the value
    assert [(r.index, r.contact_id) for r in rejected] == [(1, "c-1"), (2, "c-2"), (3, "c-3"), (4, None), (6, "c-6")]
    errors = {r.index: r.error for r in rejected}
    assert errors[1].startswith("phoneNumber: ")
    assert errors[2] == "variables: no value for {{code}} in this recipient's variables"
    assert errors[3].startswith("phoneNumber: ")
    assert errors[4].startswith("recipient: ")
    assert errors[6].startswith("colour: ")
    assert all("12" not in error.split(":", 1)[1] for error in errors.values() if error.startswith("phone"))


def test_email_values_are_escaped_in_html_only() -> None:
    body = {
        "workspaceId": "w",
        "subject": "For {{name}}",
        "html": "<p>Hi {{name}}</p>",
        "text": "Hi {{name}}",
        "recipients": [{"to": "a@example.com", "contactId": "c", "variables": {"name": "<b>Ann & Co</b>"}}],
    }
    (_, one), *_ = split_recipients(BulkEmailRequest.model_validate(body))[0]
    assert isinstance(one, ScheduleEmailRequest)
    assert (one.subject, one.html, one.text) == (
        "For <b>Ann & Co</b>",
        "<p>Hi &lt;b&gt;Ann &amp; Co&lt;/b&gt;</p>",
        "Hi <b>Ann & Co</b>",
    )


def test_a_rendered_text_over_the_single_routes_limit_rejects_that_recipient() -> None:
    bulk = BulkSmsRequest.model_validate(
        sms_body([person(0, long="x" * 1000, code=1), person(1, long="y", code=1)], message="{{long}}" * 2)
    )
    accepted, rejected = split_recipients(bulk)
    assert [index for index, _ in accepted] == [1]
    assert [(r.index, r.error.split(":")[0]) for r in rejected] == [(0, "rendered message")]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message": "Hi {{user.name}}"}, "message"),
        ({"recipients": []}, "recipients"),
        ({"recipients": [person(0)] * (MAX_RECIPIENTS + 1)}, "recipients"),
        ({"workspaceId": ""}, "workspaceId"),
        ({"name": "x" * 201}, "name"),
        ({"extra": 1}, "extra"),
    ],
)
def test_what_is_wrong_with_the_request_itself_refuses_it_by_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        BulkSmsRequest.model_validate({**sms_body([person(0, firstName="A", code=1)]), **change})
    assert refused.value.errors()[0]["loc"][0] == field


def test_variables_are_names_with_plain_values() -> None:
    bad = [person(0, **{"first name": "A"}), {**person(1), "variables": {"x": {"nested": 1}}}, person(2, x="v" * 1001)]
    accepted, rejected = split_recipients(BulkSmsRequest.model_validate(sms_body(bad, message="Hi")))
    assert accepted == []
    assert [r.error.split(":")[0].split(".")[0] for r in rejected] == ["variables"] * 3
