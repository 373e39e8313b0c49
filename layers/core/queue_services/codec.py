"""The one codec of a queued message: the SQS body (also a schedule's input and the ledger's stored copy)."""

from __future__ import annotations

import json

from pydantic import TypeAdapter

from queue_services.channels import Channel
from queue_services.compact_json import compact_json
from queue_services.models import QueuedMessage

_QUEUED_MESSAGE: TypeAdapter[QueuedMessage] = TypeAdapter(QueuedMessage)


def encode_queued_message(message: QueuedMessage) -> str:
    """Compact JSON with the wire (camelCase) names."""
    return compact_json(message.to_wire())


def encode_fanout_order(broadcast_id: str, channel: Channel) -> str:
    """A scheduled broadcast's fan-out order, as its schedule puts it on the bulk queue (and a cancel does
    at once); queue_services.fanout.fanout_order reads it."""
    return json.dumps({"fanout": broadcast_id, "channel": str(channel)})


def decode_queued_message(body: str, channel: Channel | None = None) -> QueuedMessage:
    """The message a body holds; ValueError (pydantic's ValidationError among them) if it holds none, or
    one of another channel than the one given."""
    message = _QUEUED_MESSAGE.validate_json(body)
    if channel is not None and message.channel is not channel:
        raise ValueError(f"a message of the {message.channel} channel on the {channel} queue")
    return message
