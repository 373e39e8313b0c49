"""The emulator's moto patches are safe to apply twice: the second application changes nothing."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoResult
from moto.sqs.models import SQSBackend
from moto.sqs.responses import SQSResponse

from local_stack.moto_patches import ALL_PATCHES, apply_clock_fix, plain_dynamodb_answers, plain_sqs_receive_answers

PATCHED = (
    (DynamoDBBackend, "put_item"),
    (DynamoDBBackend, "update_item"),
    (DynamoDBBackend, "transact_write_items"),
    (SQSBackend, "receive_message"),
    (SQSBackend, "is_message_valid_based_on_retention_period"),
    (SQSResponse, "start_message_move_task"),
)


def test_every_patch_applied_twice_leaves_one_layer() -> None:
    for patch in (apply_clock_fix, *ALL_PATCHES):
        patch()
    first = {(owner.__name__, name): getattr(owner, name) for owner, name in PATCHED}
    for patch in (apply_clock_fix, *ALL_PATCHES):
        patch()
    assert {(owner.__name__, name): getattr(owner, name) for owner, name in PATCHED} == first


def dynamodb_answers() -> list[Any]:
    """The answers of the item operations the fast path serves, from one sequence of calls."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="T",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )
        item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "2.5"}, "l": {"L": [{"S": "x"}, {"BOOL": True}]}}
        key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
        answers = [
            client.put_item(TableName="T", Item=item, ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL"),
            client.put_item(TableName="T", Item=item, ReturnValues="ALL_OLD"),
            client.get_item(TableName="T", Key=key, ConsistentRead=True),
            client.get_item(TableName="T", Key={"pk": {"S": "none"}, "sk": {"N": "0"}}),
            client.update_item(
                TableName="T",
                Key=key,
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            ),
            client.batch_write_item(
                RequestItems={"T": [{"PutRequest": {"Item": {**item, "sk": {"N": str(n)}}}} for n in range(2, 9)]}
            ),
            client.batch_get_item(RequestItems={"T": {"Keys": [key, {"pk": {"S": "a"}, "sk": {"N": "5"}}]}}),
            client.query(
                TableName="T", KeyConditionExpression="pk = :a", ExpressionAttributeValues={":a": {"S": "a"}}, Limit=3
            ),
            client.transact_write_items(TransactItems=[{"Delete": {"TableName": "T", "Key": key}}]),
            client.delete_item(TableName="T", Key={"pk": {"S": "a"}, "sk": {"N": "2"}}, ReturnValues="ALL_OLD"),
        ]
        for answer in answers:
            answer.pop("ResponseMetadata", None)
        return answers


def test_plain_dynamodb_answers_are_what_the_shape_serializer_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    plain_dynamodb_answers()
    fast = dynamodb_answers()
    monkeypatch.setattr(DynamoResult, "execute_result", DynamoResult.serialize_with_shapes)
    assert fast == dynamodb_answers()


def received(attributes: bool) -> list[Any]:
    """What two ReceiveMessage calls answer for the same messages (made visible again in between)."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        extra = {"MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}} if attributes else {}
        for n in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=f'{{"n": {n}}}', MessageGroupId="ws", **extra)
        answers = []
        for _ in range(2):
            answer = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
            for message in answer["Messages"]:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
                # Ids, handles and times differ from run to run; the rest (bodies, digests, which attributes) must not.
                message.pop("ReceiptHandle")
                message.pop("MessageId")
                message["Attributes"] = sorted(message["Attributes"])
            answer.pop("ResponseMetadata", None)
            answers.append(answer)
        return answers


@pytest.mark.parametrize("attributes", [False, True])
def test_plain_sqs_receive_answers_are_what_the_shape_serializer_writes(
    attributes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain_sqs_receive_answers()
    fast = received(attributes)
    monkeypatch.setattr(SQSResponse, "receive_message", SQSResponse.receive_message_with_shapes)
    assert fast == received(attributes)
