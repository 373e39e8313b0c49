"""A settlement or claim transaction cancelled by a concurrent one (TransactionConflict) is tried again, not lost."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from queue_services.adapters import transactions
from queue_services.adapters.ledger import Ledger, MessageRecord
from queue_services.adapters.metrics_store import MetricsStore
from queue_services.adapters.settlement import Settlement
from queue_services.batch_outcomes import earned_counts
from queue_services.channels import Channel
from queue_services.errors import DependencyUnavailable
from queue_services.statuses import MessageStatus
from tests.support.builders import ledger_record, queued_sms


def conflict(stubber: Stubber, count: int) -> None:
    reasons = [{"Code": "None"}] * (count - 1) + [{"Code": "TransactionConflict"}]
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled",
        modeled_fields={"CancellationReasons": reasons, "Message": "Transaction cancelled"},
        expected_params={"TransactItems": ANY},
    )


@pytest.fixture
def client() -> object:
    return boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def sent_records(count: int) -> list[MessageRecord]:
    return [ledger_record(queued_sms(i), status=MessageStatus.SENT) for i in range(count)]


def test_a_conflicting_transaction_is_tried_again_and_its_records_counted(
    client: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transactions.time, "sleep", lambda _seconds: None)
    records = sent_records(3)
    with Stubber(client) as stubber:
        conflict(stubber, 4)  # 3 Puts and the workspace's counter item
        conflict(stubber, 4)
        stubber.add_response("transact_write_items", {}, {"TransactItems": ANY})
        written = Settlement(client, "ledger", MetricsStore(client, "metrics")).settle(
            Channel.SMS, records, earned_counts
        )
        stubber.assert_no_pending_responses()
    assert written == {record.message_id for record in records}


def test_conflicts_that_do_not_end_are_a_dependency_failure(client: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transactions.time, "sleep", lambda _seconds: None)
    with Stubber(client) as stubber:
        for _ in range(transactions.CONFLICT_RETRIES + 1):
            conflict(stubber, 2)
        with pytest.raises(DependencyUnavailable):
            Settlement(client, "ledger", MetricsStore(client, "metrics")).settle(
                Channel.SMS, sent_records(1), earned_counts
            )


def test_a_claim_meeting_another_batch_on_its_broadcasts_counter_is_tried_again(
    client: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transactions.time, "sleep", lambda _seconds: None)
    versions = {"m1": 0, "m2": 0}
    origins = dict.fromkeys(versions, ("broadcast-1", MessageStatus.QUEUED))
    with Stubber(client) as stubber:
        conflict(stubber, 3)  # 2 claims and the broadcast's counter item
        stubber.add_response("transact_write_items", {}, {"TransactItems": ANY})
        claimed = Ledger(client, "ledger", 30, broadcasts_table="broadcasts").claim_for_sending(
            versions, datetime.now(UTC), origins
        )
        stubber.assert_no_pending_responses()
    assert claimed == {"m1", "m2"}
