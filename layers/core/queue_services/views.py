"""API response models built from storage records (the answers never expose a storage model)."""

from __future__ import annotations

from datetime import datetime

from queue_services.adapters.ledger import MessageRecord
from queue_services.models import MessageView
from queue_services.scheduling import iso_utc


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


def message_view(record: MessageRecord) -> MessageView:
    return MessageView(
        message_id=record.message_id,
        channel=record.channel,
        workspace_id=record.workspace_id,
        contact_id=record.contact_id,
        to=record.to,
        status=record.status.value,
        send_at=iso_utc(record.send_at),
        created_at=iso_utc(record.created_at),
        updated_at=iso_utc(record.updated_at),
        expires_at=_time(record.expires_at),
        sent_at=_time(record.sent_at),
        attempts=record.attempts,
        provider_message_id=record.provider_message_id,
        last_error=record.last_error,
        version=record.version,
        dead_lettered=record.dead_lettered,
        segments=record.segments,
        encoding=record.encoding,
        broadcast_id=record.broadcast_id,
    )
