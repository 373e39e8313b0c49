"""The idempotency store whose success writes are batched: same guarantees, fewer calls (moto in-process)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from moto import mock_aws

from local_stack.lambda_context import LocalLambdaContext
from local_stack.moto_patches import atomic_dynamodb_writes
from queue_services.adapters.idempotency_store import BatchingDynamoDBPersistenceLayer, BatchPutWriter
from queue_services.errors import DependencyUnavailable

TABLE = "idempotency"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    # Writes atomic as on DynamoDB, whichever tests ran before in this process (two pytest workers).
    atomic_dynamodb_writes()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def put_concurrently(writer: BatchPutWriter, count: int) -> list[BaseException]:
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def put(index: int) -> None:
        start.wait()
        try:
            writer.put({"id": {"S": f"key-{index}"}, "status": {"S": "COMPLETED"}})
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return errors


def test_concurrent_puts_are_written_in_shared_batches(dynamodb: Any) -> None:
    # Given a writer that lets callers join a batch for up to 200 ms
    writer = BatchPutWriter(dynamodb, TABLE, linger_seconds=0.2)
    # When 40 threads put one item each at the same moment
    errors = put_concurrently(writer, 40)
    # Then every item is in the table, written by a handful of BatchWriteItem calls instead of 40 puts
    assert errors == []
    assert dynamodb.scan(TableName=TABLE, Select="COUNT")["Count"] == 40
    assert 2 <= writer.batches_written <= 5


def test_a_failed_batch_write_raises_in_every_caller(dynamodb: Any) -> None:
    writer = BatchPutWriter(dynamodb, "no-such-table", linger_seconds=0.05)
    errors = put_concurrently(writer, 5)
    assert len(errors) == 5
    assert all(isinstance(error, DependencyUnavailable) for error in errors)


def test_a_batched_success_record_answers_later_calls_without_running_the_function_again(dynamodb: Any) -> None:
    # Given an idempotent function on the batching store
    runs: list[str] = []

    def build() -> Any:
        store = BatchingDynamoDBPersistenceLayer(table_name=TABLE, boto3_client=dynamodb, linger_seconds=0.01)
        config = IdempotencyConfig(event_key_jmespath="messageId")
        config.register_lambda_context(LocalLambdaContext("send", 128, 60))

        @idempotent_function(data_keyword_argument="payload", persistence_store=store, config=config)
        def send(payload: dict[str, Any]) -> dict[str, Any]:
            runs.append(payload["messageId"])
            return {"providerMessageId": f"p-{len(runs)}"}

        return send

    # When it runs for a message, and a fresh process (no local cache) asks again for the same message
    first = build()(payload={"messageId": "m-1"})
    again = build()(payload={"messageId": "m-1"})
    # Then the body ran once and the second call got the first call's stored result from DynamoDB
    assert runs == ["m-1"]
    assert again == first == {"providerMessageId": "p-1"}
    (item,) = dynamodb.scan(TableName=TABLE)["Items"]
    assert item["status"]["S"] == "COMPLETED"
    assert int(item["expiration"]["N"]) > 0
