"""The ledger's record <-> item conversion: the attributes boto3's serializer would write, and a round trip."""

from __future__ import annotations

from datetime import timedelta

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from queue_services.adapters.ledger import from_item, to_item
from queue_services.statuses import MessageStatus
from tests.support.builders import NOW, ledger_record, queued_sms


def test_every_attribute_is_what_boto3s_serializer_writes_and_reads_back() -> None:
    record = ledger_record(
        queued_sms(1),
        MessageStatus.FAILED,
        expires_at=NOW + timedelta(hours=1),
        attempts=3,
        provider_message_id="sm-1",
        last_error="provider said no",
        sent_at=NOW,
        version=2,
        segments=2,
        encoding="GSM-7",
        dead_lettered=True,
        broadcast_id="b-1",
        recipient_hash="ab" * 32,
        retain_until=1_900_000_000,
        payload='{"channel":"sms"}',
    )
    item = to_item(record)
    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    for key, attribute in item.items():
        assert attribute == serializer.serialize(deserializer.deserialize(attribute)), key
    assert item["attempts"] == {"N": "3"}
    assert item["deadLettered"] == {"BOOL": True}
    assert item["retainUntil"] == {"N": "1900000000"}
    assert item["status"] == {"S": "failed"}
    assert from_item(item) == record
