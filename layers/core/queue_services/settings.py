"""Typed settings read once from the environment and validated at cold start."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl

from queue_services.channels import Channel, SmsRateUnit

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _split_origins(value: Any) -> Any:
    """CORS_ALLOWED_ORIGINS is a comma-separated list ("" for none, the default)."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _check_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    for origin in origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise ValueError(f"{origin!r} is not an origin: scheme://host[:port], no path (or * for any)")
    return origins


Origins = Annotated[tuple[str, ...], BeforeValidator(_split_origins), AfterValidator(_check_origins)]


class Settings(BaseModel):
    """Every environment variable the functions read; names match template.yaml."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    sms_queue_url: str = Field(alias="SMS_QUEUE_URL", min_length=1)
    email_queue_url: str = Field(alias="EMAIL_QUEUE_URL", min_length=1)
    metrics_table_name: str = Field(alias="METRICS_TABLE_NAME", min_length=1)
    sms_api_url: HttpUrl = Field(alias="SMS_API_URL")
    email_api_url: HttpUrl = Field(alias="EMAIL_API_URL")
    sms_rate_per_second: float = Field(alias="SMS_RATE_PER_SECOND", default=50, gt=0)
    email_rate_per_second: float = Field(alias="EMAIL_RATE_PER_SECOND", default=100, gt=0)
    sms_rate_unit: SmsRateUnit = Field(alias="SMS_RATE_UNIT", default=SmsRateUnit.MESSAGES)
    provider_connect_timeout: float = Field(alias="PROVIDER_CONNECT_TIMEOUT_SECONDS", default=3.05, gt=0)
    provider_read_timeout: float = Field(alias="PROVIDER_READ_TIMEOUT_SECONDS", default=10, gt=0)
    provider_max_workers: int = Field(alias="PROVIDER_MAX_WORKERS", default=10, ge=1, le=64)
    provider_token_secret_arn: str = Field(alias="PROVIDER_TOKEN_SECRET_ARN", default="")
    ledger_table_name: str = Field(alias="LEDGER_TABLE_NAME", min_length=1)
    ledger_retention_days: int = Field(alias="LEDGER_RETENTION_DAYS", default=30, ge=1)
    scheduler_role_arn: str = Field(alias="SCHEDULER_ROLE_ARN", min_length=1)
    sms_schedule_group: str = Field(alias="SMS_SCHEDULE_GROUP", default="scheduled-sms", min_length=1)
    email_schedule_group: str = Field(alias="EMAIL_SCHEDULE_GROUP", default="scheduled-email", min_length=1)
    # Messages due further ahead than this go through EventBridge Scheduler (SQS holds at most 900 s).
    max_sqs_delay_seconds: int = Field(alias="MAX_SQS_DELAY_SECONDS", default=900, ge=1, le=900)
    api_keys_table_name: str = Field(alias="API_KEYS_TABLE_NAME", min_length=1)
    rate_limit_table_name: str = Field(alias="RATE_LIMIT_TABLE_NAME", min_length=1)
    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=1)
    workspaces_table_name: str = Field(alias="WORKSPACES_TABLE_NAME", min_length=1)
    sms_dlq_url: str = Field(alias="SMS_DLQ_URL", min_length=1)
    email_dlq_url: str = Field(alias="EMAIL_DLQ_URL", min_length=1)
    # Broadcasts' own queues (POST /api/bulk-*), each with its DLQ, and their records.
    sms_bulk_queue_url: str = Field(alias="SMS_BULK_QUEUE_URL", min_length=1)
    email_bulk_queue_url: str = Field(alias="EMAIL_BULK_QUEUE_URL", min_length=1)
    sms_bulk_dlq_url: str = Field(alias="SMS_BULK_DLQ_URL", min_length=1)
    email_bulk_dlq_url: str = Field(alias="EMAIL_BULK_DLQ_URL", min_length=1)
    broadcasts_table_name: str = Field(alias="BROADCASTS_TABLE_NAME", min_length=1)
    max_receive_count: int = Field(alias="MAX_RECEIVE_COUNT", default=10, ge=2)
    retry_max_attempts: int = Field(alias="RETRY_MAX_ATTEMPTS", default=8, ge=1)
    # Completed sends are remembered at least as long as SQS keeps a message (4 days), so no redelivery resends.
    idempotency_expiry_seconds: int = Field(alias="IDEMPOTENCY_EXPIRY_SECONDS", default=345_600, ge=60)
    # Backoff for transient provider errors: full jitter up to min(cap, base * 2 ** (attempt - 1)).
    retry_base_seconds: float = Field(alias="RETRY_BASE_SECONDS", default=2, gt=0)
    retry_max_seconds: float = Field(alias="RETRY_MAX_SECONDS", default=300, gt=0, le=43_200)
    # The key of the recipients' keyed hash (message search); without it, no hash is stored or searched.
    recipient_hash_secret_arn: str = Field(alias="RECIPIENT_HASH_SECRET_ARN", default="")
    # The dashboard's read-only mode: its write routes (redrive, purge, pause, cancel) answer 405.
    dashboard_read_only: bool = Field(alias="DASHBOARD_READ_ONLY", default=False)
    # GET /api/docs and /api/openapi.json (the api function only); off answers 404.
    api_docs_enabled: bool = Field(alias="API_DOCS_ENABLED", default=True)
    # Browser origins allowed to call the API (api function only); none by default, so no CORS headers at all.
    cors_allowed_origins: Origins = Field(alias="CORS_ALLOWED_ORIGINS", default=())

    def queue_url(self, channel: Channel) -> str:
        return self.sms_queue_url if channel is Channel.SMS else self.email_queue_url

    def dead_letter_queue_url(self, channel: Channel) -> str:
        return self.sms_dlq_url if channel is Channel.SMS else self.email_dlq_url

    def bulk_queue_url(self, channel: Channel) -> str:
        return self.sms_bulk_queue_url if channel is Channel.SMS else self.email_bulk_queue_url

    def bulk_dead_letter_queue_url(self, channel: Channel) -> str:
        return self.sms_bulk_dlq_url if channel is Channel.SMS else self.email_bulk_dlq_url

    def queue_urls(self) -> dict[str, str]:
        """Every queue the service has (send, bulk and their DLQs), by the name the dashboard shows."""
        urls: dict[str, str] = {}
        for channel in Channel:
            for url in (
                self.queue_url(channel),
                self.bulk_queue_url(channel),
                self.dead_letter_queue_url(channel),
                self.bulk_dead_letter_queue_url(channel),
            ):
                urls[url.rstrip("/").rsplit("/", 1)[-1]] = url
        return urls

    def provider_url(self, channel: Channel) -> str:
        base = str(self.sms_api_url if channel is Channel.SMS else self.email_api_url).rstrip("/")
        return base + channel.provider_path

    def rate_per_second(self, channel: Channel) -> float:
        return self.sms_rate_per_second if channel is Channel.SMS else self.email_rate_per_second


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; raises pydantic.ValidationError at cold start if the environment is wrong."""
    return Settings.model_validate(dict(os.environ))
