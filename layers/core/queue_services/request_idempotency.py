"""The Idempotency-Key header on the routes that create messages (Powertools Idempotency, 24 h per key).

Keyed by workspace and header value, so two workspaces may use the same key. The same key with the same
body answers the first response and creates nothing; with another body, IdempotencyValidationError (a
422 naming the header); while the first request is still running, IdempotencyAlreadyInProgressError (409).
Without the header every request creates a message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from queue_services.broadcasts import BroadcastIntake, BulkAccepted, rejections_view
from queue_services.bulk import BulkEmailRequest, BulkSmsRequest, split_recipients
from queue_services.channels import Channel
from queue_services.errors import InvalidRequest
from queue_services.intake import MessageIntake, channel_of
from queue_services.models import ScheduleEmailRequest, ScheduleRequest, ScheduleResponse, ScheduleSmsRequest
from queue_services.tenancy import Principal

HEADER = "Idempotency-Key"
KEY_SECONDS = 24 * 3600
MAX_KEY_CHARS = 255
_PRINTABLE = re.compile(r"^[!-~]+$")
_REQUEST_MODELS: dict[Channel, type[ScheduleRequest]] = {
    Channel.SMS: ScheduleSmsRequest,
    Channel.EMAIL: ScheduleEmailRequest,
}


def checked_key(value: str | None) -> str | None:
    """The header's value if it is a usable key (1-255 printable ASCII characters), None if absent."""
    if value is None:
        return None
    if not 0 < len(value) <= MAX_KEY_CHARS or not _PRINTABLE.match(value):
        raise InvalidRequest(f"must be 1 to {MAX_KEY_CHARS} printable ASCII characters", field=HEADER)
    return value


def _keyed(
    request: ScheduleRequest | BulkSmsRequest | BulkEmailRequest, principal: Principal, key: str, channel: Channel
) -> dict[str, Any]:
    """The idempotent unit's input: keyed by [workspace, key], the body validated against the first one's."""
    return {
        "workspace": request.workspace_id,
        "key": key,
        "channel": str(channel),
        "body": request.model_dump(mode="json", by_alias=True),
        "principal": principal.model_dump(),
    }


class IdempotentIntake:
    """MessageIntake.schedule, run at most once per (workspace, Idempotency-Key) when the header is given."""

    def __init__(
        self,
        intake: Callable[[], MessageIntake],
        dynamodb_client: Any,
        table_name: str,
        broadcasts: Callable[[], BroadcastIntake] | None = None,
    ) -> None:
        self._intake = intake
        self._broadcasts = broadcasts
        self.config = IdempotencyConfig(
            event_key_jmespath="[workspace, key]",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=KEY_SECONDS,
        )

        # One persistence layer per decorated function: a shared one keeps the first one's key prefix.
        def once(key_prefix: str, create: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
            return idempotent_function(  # type: ignore[no-any-return]
                data_keyword_argument="req",
                persistence_store=DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client),
                config=self.config,
                key_prefix=key_prefix,
            )(create)

        self._schedule = {channel: once(f"schedule-{channel}", self._create) for channel in Channel}
        self._broadcast = {channel: once(f"bulk-{channel}", self._create_broadcast) for channel in Channel}

    def _broadcast_intake(self) -> BroadcastIntake:
        if self._broadcasts is None:
            raise RuntimeError("IdempotentIntake built without a BroadcastIntake")
        return self._broadcasts()

    def _create_broadcast(self, req: dict[str, Any]) -> dict[str, Any]:
        model = BulkSmsRequest if req["channel"] == Channel.SMS else BulkEmailRequest
        request = model.model_validate(req["body"])
        principal = Principal.model_validate(req["principal"])
        answer = self._broadcast_intake().accept(request, principal, datetime.now(UTC))
        # Stored without the rejected list (up to 10,000 entries would outgrow a DynamoDB item): a replay
        # computes it again from the same body, which gives the same rejections.
        return {**answer.to_wire(), "rejected": []}

    def broadcast(
        self, request: BulkSmsRequest | BulkEmailRequest, principal: Principal, key: str | None
    ) -> BulkAccepted:
        if key is None:
            return self._broadcast_intake().accept(request, principal, datetime.now(UTC))
        principal.require_workspace(request.workspace_id)
        channel = Channel.SMS if isinstance(request, BulkSmsRequest) else Channel.EMAIL
        answer = BulkAccepted.model_validate(self._broadcast[channel](req=_keyed(request, principal, key, channel)))
        _, rejected = split_recipients(request)
        return answer.model_copy(update={"rejected": rejections_view(rejected)})

    def _create(self, req: dict[str, Any]) -> dict[str, Any]:
        request = _REQUEST_MODELS[Channel(req["channel"])].model_validate(req["body"])
        principal = Principal.model_validate(req["principal"])
        return self._intake().schedule(request, principal, datetime.now(UTC)).to_wire()

    def schedule(self, request: ScheduleRequest, principal: Principal, key: str | None) -> ScheduleResponse:
        if key is None:
            return self._intake().schedule(request, principal, datetime.now(UTC))
        # Refused before a record exists: a key may not be spent on a workspace the caller cannot act for.
        principal.require_workspace(request.workspace_id)
        channel = channel_of(request)
        answer = self._schedule[channel](req=_keyed(request, principal, key, channel))
        return ScheduleResponse.model_validate(answer)
