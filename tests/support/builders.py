"""Builders for the layer's models, shared by the unit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from queue_services.adapters.ledger import MessageRecord
from queue_services.models import QueuedEmail, QueuedMessage, QueuedSms
from queue_services.statuses import MessageStatus

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def _common(index: int, workspace: str) -> dict[str, Any]:
    return {
        "message_id": f"m{index}",
        "workspace_id": workspace,
        "contact_id": f"c{index}",
        "created_at": NOW,
        "send_at": NOW,
    }


def queued_sms(index: int, workspace: str = "ws", **changes: Any) -> QueuedSms:
    """The queued SMS m<index> of workspace, due now."""
    fields: dict[str, Any] = {
        **_common(index, workspace),
        "to": f"+1555000{index:04d}",
        "message": "hi",
        **changes,
    }
    return QueuedSms(**fields)


def queued_email(index: int, workspace: str = "ws", **changes: Any) -> QueuedEmail:
    """The queued email m<index> of workspace, due now."""
    fields: dict[str, Any] = {
        **_common(index, workspace),
        "to": f"user{index}@example.com",
        "subject": "Hello",
        "html": "<p>hi</p>",
        **changes,
    }
    return QueuedEmail(**fields)


def ledger_record(
    message: QueuedMessage, status: MessageStatus = MessageStatus.SENDING, **changes: Any
) -> MessageRecord:
    """The ledger record of a queued message, in status."""
    fields: dict[str, Any] = {
        "message_id": message.message_id,
        "channel": "sms",
        "workspace_id": message.workspace_id,
        "contact_id": message.contact_id,
        "to": "+1555*****01",
        "status": status,
        "send_at": message.send_at,
        "created_at": NOW,
        "updated_at": NOW,
        **changes,
    }
    return MessageRecord(**fields)
