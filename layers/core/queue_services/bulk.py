"""Bulk requests (a broadcast's body): each recipient checked on its own, its texts rendered, accepted or
rejected by index. Pure: no I/O; the bulk routes (issue 12) build on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, ValidationError

from queue_services.models import (
    CamelModel,
    ContactId,
    DeliveryOptions,
    EmailAddress,
    HtmlBody,
    PhoneNumber,
    ScheduleEmailRequest,
    ScheduleRequest,
    ScheduleSmsRequest,
    SmsText,
    Subject,
    TextBody,
    WorkspaceId,
)
from queue_services.templating import UnknownVariable, check_template, render

MAX_RECIPIENTS = 10_000
MAX_VARIABLES = 50
MAX_VARIABLE_CHARS = 1_000

VariableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
# "smart" union: true stays a bool and 1 an int (each is rendered as JSON writes it).
VariableValue = str | bool | int | float


def _bounded(variables: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
    if len(variables) > MAX_VARIABLES:
        raise ValueError(f"must have at most {MAX_VARIABLES} variables")
    if any(len(str(value)) > MAX_VARIABLE_CHARS for value in variables.values()):
        raise ValueError(f"values must be at most {MAX_VARIABLE_CHARS} characters")
    return variables


Variables = Annotated[dict[VariableName, VariableValue], AfterValidator(_bounded)]


class SmsRecipient(CamelModel):
    phone_number: PhoneNumber
    contact_id: ContactId
    variables: Variables = Field(default_factory=dict)


class EmailRecipient(CamelModel):
    to: EmailAddress
    contact_id: ContactId
    variables: Variables = Field(default_factory=dict)


# The single routes' limits, on the template (each rendered text is checked again against them).
SmsTemplate = Annotated[SmsText, AfterValidator(check_template)]
SubjectTemplate = Annotated[Subject, AfterValidator(check_template)]
HtmlTemplate = Annotated[HtmlBody, AfterValidator(check_template)]
TextTemplate = Annotated[TextBody, AfterValidator(check_template)]


class _BulkRequest(DeliveryOptions):
    workspace_id: WorkspaceId
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    # Checked one by one (split_recipients): a bad recipient is rejected by index, not the whole request.
    recipients: list[Any] = Field(min_length=1, max_length=MAX_RECIPIENTS)


class BulkSmsRequest(_BulkRequest):
    """Body of POST /api/bulk-sms: one text with {{variable}} placeholders, up to 10,000 recipients."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "workspaceId": "workspace-id",
                    "name": "order-ready",
                    "message": "Hi {{firstName}}, your order is ready.",
                    "recipients": [
                        {"phoneNumber": "+14155550101", "contactId": "contact-1", "variables": {"firstName": "Ada"}}
                    ],
                }
            ]
        }
    )

    message: SmsTemplate


class BulkEmailRequest(_BulkRequest):
    """Body of POST /api/bulk-email: subject, html and text with {{variable}} placeholders."""

    subject: SubjectTemplate
    html: HtmlTemplate
    text: TextTemplate | None = None


@dataclass(frozen=True)
class Rejection:
    """A recipient not accepted: its index in the request, its contactId if it had one, and why."""

    index: int
    contact_id: str | None
    error: str


def _first_error(error: ValidationError, prefix: str = "") -> str:
    """`field: message` of the first problem, never the value itself (recipients stay out of answers)."""
    first = error.errors(include_input=False, include_url=False)[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or "recipient"
    return f"{prefix}{field}: {first.get('msg', 'invalid')}"


def _contact_id_of(raw: Any) -> str | None:
    value = raw.get("contactId") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def _shared(bulk: _BulkRequest) -> dict[str, Any]:
    """What every recipient's single send takes from the request."""
    options = {name: getattr(bulk, name) for name in DeliveryOptions.model_fields}
    return {"workspace_id": bulk.workspace_id, **options}


def _as_text(variables: dict[str, str | int | float | bool]) -> dict[str, str]:
    return {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in variables.items()}


def _one_sms(bulk: BulkSmsRequest, raw: Any) -> ScheduleRequest:
    recipient = SmsRecipient.model_validate(raw)
    message = render(bulk.message, _as_text(recipient.variables))
    return ScheduleSmsRequest(
        phone_number=recipient.phone_number, message=message, contact_id=recipient.contact_id, **_shared(bulk)
    )


def _one_email(bulk: BulkEmailRequest, raw: Any) -> ScheduleRequest:
    recipient = EmailRecipient.model_validate(raw)
    values = _as_text(recipient.variables)
    return ScheduleEmailRequest(
        to=recipient.to,
        subject=render(bulk.subject, values),
        html=render(bulk.html, values, escape_html=True),
        text=render(bulk.text, values) if bulk.text is not None else None,
        contact_id=recipient.contact_id,
        **_shared(bulk),
    )


def split_recipients(
    bulk: BulkSmsRequest | BulkEmailRequest,
) -> tuple[list[tuple[int, ScheduleRequest]], list[Rejection]]:
    """Each recipient as the single send it becomes (its texts rendered), by index; the others rejected.

    A recipient is rejected for a bad field of its own (named), for a placeholder it has no value for, or
    for a rendered text over the single route's limits (the text field named).
    """
    accepted: list[tuple[int, ScheduleRequest]] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(bulk.recipients):
        try:
            one = _one_sms(bulk, raw) if isinstance(bulk, BulkSmsRequest) else _one_email(bulk, raw)
        except UnknownVariable as unknown:
            rejected.append(Rejection(index, _contact_id_of(raw), f"variables: {unknown}"))
        except ValidationError as invalid:
            # A recipient's own fields are checked first; what fails after that is a rendered text.
            prefix = "" if invalid.title in ("SmsRecipient", "EmailRecipient") else "rendered "
            rejected.append(Rejection(index, _contact_id_of(raw), _first_error(invalid, prefix)))
        else:
            accepted.append((index, one))
    return accepted, rejected
