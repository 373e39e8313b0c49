"""Pydantic models for every boundary: API bodies, SQS bodies, provider payloads and metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from queue_services.channels import Channel
from queue_services.validation import (
    check_email_sender,
    check_metadata,
    check_sms_sender,
    normalize_email_address,
    normalize_phone_number,
)

MAX_SQS_DELAY_SECONDS = 900
MAX_SCHEDULE_SECONDS = 365 * 24 * 3600  # one year
MAX_DELAY_MS = MAX_SCHEDULE_SECONDS * 1000
MAX_TTL_SECONDS = 4 * 24 * 3600  # SQS keeps a message four days; a longer freshness limit means nothing

# MessageGroupId accepts printable ASCII up to 128 characters; the workspace id becomes the group id.
WorkspaceId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
ContactId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
PhoneNumber = Annotated[str, StringConstraints(max_length=32), AfterValidator(normalize_phone_number)]
EmailAddress = Annotated[str, StringConstraints(max_length=320), AfterValidator(normalize_email_address)]
Metadata = Annotated[dict[str, Any], AfterValidator(check_metadata)]
SmsText = Annotated[str, StringConstraints(min_length=1, max_length=1600)]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=998)]
HtmlBody = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
TextBody = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
DelayMs = Annotated[int, Field(ge=0, le=MAX_DELAY_MS, description="milliseconds, at most one year")]


class CamelModel(BaseModel):
    """Fields are snake_case in Python and camelCase on the wire."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class DeliveryOptions(CamelModel):
    """When and how long a message may go, and the caller's metadata: shared by single and bulk requests."""

    delay: DelayMs | None = None
    send_at: AwareDatetime | None = None
    metadata: Metadata = Field(default_factory=dict)
    # Freshness (one-time codes): not sent after this instant; counted failed with reason "expired".
    expires_at: AwareDatetime | None = None
    ttl_seconds: Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS)] | None = None


class _ScheduleRequest(DeliveryOptions):
    contact_id: ContactId
    workspace_id: WorkspaceId


# The old service's own bodies (its README), as the OpenAPI document's examples.
SEED_SMS_EXAMPLE: dict[str, Any] = {
    "phoneNumber": "+1234567890",
    "message": "Your message content",
    "contactId": "contact-uuid",
    "workspaceId": "workspace-id",
    "delay": 0,
    "metadata": {"source": "campaign", "campaignId": "campaign-uuid"},
}
SEED_EMAIL_EXAMPLE: dict[str, Any] = {
    "to": "recipient@example.com",
    "subject": "Email subject",
    "html": "<p>Email content</p>",
    "contactId": "contact-uuid",
    "workspaceId": "workspace-id",
    "delay": 0,
    "metadata": {"source": "campaign", "campaignId": "campaign-uuid"},
}


class ScheduleSmsRequest(_ScheduleRequest):
    """Body of POST /api/schedule-sms (the seed's body, plus optional sendAt)."""

    model_config = ConfigDict(json_schema_extra={"examples": [SEED_SMS_EXAMPLE]})

    phone_number: PhoneNumber
    message: SmsText


class ScheduleEmailRequest(_ScheduleRequest):
    """Body of POST /api/schedule-email (the seed's body, plus optional sendAt and text)."""

    model_config = ConfigDict(json_schema_extra={"examples": [SEED_EMAIL_EXAMPLE]})

    to: EmailAddress
    subject: Subject
    html: HtmlBody
    text: TextBody | None = None


ScheduleRequest = ScheduleSmsRequest | ScheduleEmailRequest


class RescheduleRequest(CamelModel):
    """Body of PATCH /api/messages/{messageId}: a new delay (from now) or send time."""

    delay: DelayMs | None = None
    send_at: AwareDatetime | None = None


class ScheduleResponse(CamelModel):
    """202 answer of the schedule routes."""

    message_id: str
    status: Literal["queued", "scheduled"]
    send_at: str


class _QueuedMessageBase(CamelModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    schema_version: Literal[1] = 1
    message_id: str
    workspace_id: str
    contact_id: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    send_at: datetime
    expires_at: datetime | None = None
    # Grows with each reschedule; a copy whose version is not the ledger's is stale and dropped.
    version: int = 0
    # Set for a broadcast's messages (POST /api/bulk-*): the workers check its state once per batch.
    broadcast_id: str | None = None
    # Deliveries before this copy was queued (a re-queued or dead-lettered copy), and why the last one failed.
    attempts: int = 0
    last_error: str | None = None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class QueuedSms(_QueuedMessageBase):
    """SQS body of send-sms-queue: everything the worker needs to send one SMS."""

    channel: Literal[Channel.SMS] = Channel.SMS
    to: str
    message: str


class QueuedEmail(_QueuedMessageBase):
    """SQS body of send-email-queue: everything the worker needs to send one email."""

    channel: Literal[Channel.EMAIL] = Channel.EMAIL
    to: str
    subject: str
    html: str
    text: str | None = None


QueuedMessage = Annotated[QueuedSms | QueuedEmail, Field(discriminator="channel")]


class ProviderReceipt(BaseModel):
    """What a provider answers on 2xx; only its message id is kept, under whichever name it uses."""

    model_config = ConfigDict(extra="ignore")

    message_id: str | None = Field(default=None, alias="messageId")
    id: str | None = None
    sid: str | None = None

    @property
    def provider_message_id(self) -> str | None:
        return self.message_id or self.id or self.sid


class Counters(CamelModel):
    """Outcome counters of DESIGN §3: total = success + failed; rateLimited counts provider 429 answers."""

    total: int = 0
    success: int = 0
    failed: int = 0
    rate_limited: int = 0

    def __add__(self, other: Counters) -> Counters:
        return Counters(
            total=self.total + other.total,
            success=self.success + other.success,
            failed=self.failed + other.failed,
            rate_limited=self.rate_limited + other.rate_limited,
        )

    @property
    def is_zero(self) -> bool:
        return not (self.total or self.success or self.failed or self.rate_limited)


class ChannelMetrics(Counters):
    workspaces: dict[str, Counters] = Field(default_factory=dict)


class MetricsResponse(CamelModel):
    """GET /api/metrics: the old service's exact shape."""

    sms: ChannelMetrics
    email: ChannelMetrics
    timestamp: str


class MetricsResetRequest(CamelModel):
    """Body of POST /api/metrics/reset."""

    type: Literal["sms", "email", "all"]


class MetricsResetResponse(CamelModel):
    success: bool
    reset: list[Channel]


class HealthResponse(CamelModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, bool]


class DeadLetter(CamelModel):
    """One dead letter as GET /api/admin/dlq/{channel} shows it (recipient masked)."""

    sqs_message_id: str
    message_id: str | None
    workspace_id: str | None
    contact_id: str | None
    to: str | None
    attempts: int
    last_error: str | None
    sent_timestamp: int


class DeadLetterPeek(CamelModel):
    channel: Channel
    approximate_count: int
    messages: list[DeadLetter]


class RedriveStarted(CamelModel):
    channel: Channel
    task_handle: str
    source: str
    destination: str


class PurgeDone(CamelModel):
    channel: Channel
    purged: bool


class MessageView(CamelModel):
    """GET / DELETE / PATCH /api/messages/{messageId}: a message's status, its times as the other answers
    print them (ISO 8601, milliseconds, Z); the recipient masked. Built from the ledger's record."""

    message_id: str
    channel: str
    workspace_id: str
    contact_id: str
    to: str
    status: str
    send_at: str
    created_at: str
    updated_at: str
    expires_at: str | None = None
    sent_at: str | None = None
    attempts: int
    provider_message_id: str | None = None
    last_error: str | None = None
    version: int
    dead_lettered: bool
    segments: int | None = Field(default=None, description="SMS: the provider's message parts")
    encoding: str | None = Field(default=None, description="SMS: GSM-7 or UCS-2")
    broadcast_id: str | None = Field(default=None, description="the broadcast it belongs to, if any")


KeyLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CreateKeyRequest(CamelModel):
    """Body of POST /api/admin/keys: a key for one workspace, or an admin key; an optional label."""

    workspace_id: WorkspaceId | None = None
    admin: bool = False
    label: KeyLabel | None = None

    @model_validator(mode="after")
    def _one_scope(self) -> CreateKeyRequest:
        if self.admin == (self.workspace_id is not None):
            raise ValueError("give either workspaceId or admin: true")
        return self


class KeyView(CamelModel):
    """One API key as GET /api/admin/keys lists it: never the key, nor its digest."""

    key_id: str
    scope: Literal["admin", "workspace"]
    workspace_id: str | None = None
    label: str | None = None
    created_at: str | None = None
    last_used_at: str | None = None


class CreatedKey(KeyView):
    """POST /api/admin/keys: the new key, shown this once."""

    key: str


class KeyList(CamelModel):
    keys: list[KeyView]


class KeyRevoked(CamelModel):
    key_id: str
    revoked: bool


SmsSender = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32), AfterValidator(check_sms_sender)]
EmailSender = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=400), AfterValidator(check_email_sender)
]
# At least one message every 10 s: smaller caps are a mistake (and 5e-324 is not a number DynamoDB stores).
Cap = Annotated[float, Field(ge=0.1, le=100_000, description="most messages a second for this workspace")]


class WorkspaceSettingsRequest(CamelModel):
    """Body of PUT /api/workspaces/{workspaceId}/settings: the whole settings (a field left out is unset)."""

    sms_from: SmsSender | None = None
    email_from: EmailSender | None = None
    sms_per_second: Cap | None = None
    email_per_second: Cap | None = None
    paused: bool = False


class WorkspaceSettingsView(CamelModel):
    """A workspace's settings (defaults when none were set: no sender, no caps, not paused)."""

    workspace_id: str
    sms_from: str | None = None
    email_from: str | None = None
    sms_per_second: float | None = None
    email_per_second: float | None = None
    paused: bool = False
    updated_at: str | None = None


class WorkspaceList(CamelModel):
    workspaces: list[WorkspaceSettingsView]


class QueueDepth(CamelModel):
    """One queue on the dashboard; a figure that could not be read is null."""

    name: str
    visible: int | None
    in_flight: int | None
    delayed: int | None
    oldest_age_seconds: float | None = Field(description="CloudWatch's ApproximateAgeOfOldestMessage, latest")
    dead_letter: bool


class MinuteCounts(CamelModel):
    """A channel's outcomes in one minute (UTC, `minute` is its start)."""

    minute: str
    sent: int
    failed: int
    rate_limited: int


class MessageSearchResult(CamelModel):
    """GET /api/messages: the workspace's messages matching the one criterion given, newest first."""

    messages: list[MessageView]


class PauseRequest(CamelModel):
    """Body of POST /api/admin/queues/workspaces/{workspaceId}/pause: true pauses, false resumes."""

    paused: bool


class ErrorDetail(CamelModel):
    loc: list[str | int]
    field: str
    type: str
    msg: str


class ErrorBody(CamelModel):
    """Every 4xx and 5xx answer of the service: the status, a message naming the field at fault, details."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "statusCode": 422,
                    "message": "invalid request: phoneNumber",
                    "detail": [
                        {
                            "loc": ["body", "phoneNumber"],
                            "field": "phoneNumber",
                            "type": "value_error",
                            "msg": "must be an E.164 phone number",
                        }
                    ],
                }
            ]
        }
    )

    status_code: int
    message: str
    detail: list[ErrorDetail] | None = None
