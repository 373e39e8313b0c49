"""The emulator's moto patches: safe to apply twice, in any order, and answering as moto does."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import moto.core.responses as moto_core_responses
import moto.dynamodb.responses as moto_dynamodb_responses
import pytest
from moto import mock_aws
from moto.core.common_models import BaseModel
from moto.core.responses import BaseResponse
from moto.core.utils import method_names_from_class
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.scheduler.responses import EventBridgeSchedulerResponse as SchedulerResponse
from moto.sqs import models as sqs_models
from moto.sqs.models import SQSBackend
from moto.sqs.responses import SQSResponse

from local_stack.moto_patches import (
    ALL_PATCHES,
    apply_clock_fix,
    atomic_dynamodb_writes,
    cache_condition_parsing,
    cache_update_expression_checks,
    cheap_content_dedup_check,
    direct_action_lookup,
    dynamodb_writes_hold_table_locks,
    incremental_item_size,
    one_backup_per_transaction,
    plain_dynamodb_answers,
    plain_json_requests,
    plain_sqs_receive_answers,
    plain_sqs_write_answers,
    quick_sqs_scans,
    quick_top_level_projections,
    serialize_receives,
    simple_set_updates,
    unconditional_puts_skip_conditions,
    untracked_model_instances,
)
from tests.support.tables import create_keyed_table

PATCHED = (
    (DynamoDBBackend, "put_item"),
    (DynamoDBBackend, "update_item"),
    (DynamoDBBackend, "transact_write_items"),
    (SQSBackend, "receive_message"),
    (SQSBackend, "delete_message"),
    (SQSBackend, "change_message_visibility"),
    (SQSBackend, "send_message"),
    (SQSBackend, "is_message_valid_based_on_retention_period"),
    (SQSResponse, "start_message_move_task"),
    (SQSResponse, "send_message_batch"),
    (BaseResponse, "parse_parameters"),
    (Item, "project"),
    (Item, "__init__"),
    (Table, "put_item"),
    (ConditionExpressionParser, "parse"),
    (moto_dynamodb_responses, "UpdateExpressionParser"),
    (moto_core_responses, "method_names_from_class"),
    (BaseModel, "__new__"),
)


def test_every_patch_applied_twice_leaves_one_layer() -> None:
    for patch in (apply_clock_fix, *ALL_PATCHES):
        patch()
    first = {(owner.__name__, name): getattr(owner, name) for owner, name in PATCHED}
    for patch in (apply_clock_fix, *ALL_PATCHES):
        patch()
    assert {(owner.__name__, name): getattr(owner, name) for owner, name in PATCHED} == first


def test_receives_and_deletes_on_one_queue_can_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A receive walks the queue's pending set; a delete on another thread took a message out of it meanwhile
    # ("Set changed size during iteration": the poller's receive failed) before deletes took the same lock.
    serialize_receives()

    def slow_pending_groups(queue: sqs_models.Queue) -> set[str]:
        groups = set()
        for message in queue.pending_messages:
            time.sleep(0.001)  # a walk slow enough for a concurrent delete to land in it
            if message.group_id is not None:
                groups.add(message.group_id)
        return groups

    monkeypatch.setattr(sqs_models.Queue, "pending_message_groups", property(slow_pending_groups))
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="busy")["QueueUrl"]
        for start in range(0, 200, 10):
            entries = [{"Id": str(n), "MessageBody": str(start + n), "MessageGroupId": f"g{n % 3}"} for n in range(10)]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        in_hand = [m for _ in range(10) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
        received = [m["Body"] for m in in_hand]
        errors: list[BaseException] = []
        lock = threading.Lock()

        def delete(handles: list[str]) -> None:
            try:
                for handle in handles:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
            except BaseException as exc:  # any failure is the test's finding
                errors.append(exc)

        def receive() -> None:
            try:
                while True:
                    with lock:
                        if len(received) >= 200:
                            return
                    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                    with lock:
                        received.extend(m["Body"] for m in got)
            except BaseException as exc:
                errors.append(exc)

        handles = [m["ReceiptHandle"] for m in in_hand]
        # Receivers first, so that the deletes land while a receive walks the pending set.
        threads = [threading.Thread(target=receive) for _ in range(3)]
        threads += [threading.Thread(target=delete, args=(handles[n::3],)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    assert sorted(received, key=int) == [str(n) for n in range(200)]


def table_with_hash_key(name: str, key: str) -> Any:
    """A DynamoDB client (inside mock_aws) with one on-demand table keyed by a string hash key."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_keyed_table(client, name, key)
    return client


def test_writes_stay_atomic_when_a_write_patch_comes_after_the_locks() -> None:
    # The integration tier takes the locks at import; a later simple_set_updates (this file's tests apply
    # every patch) replaced update_item with a fast path of its own, and two rate-limit claimers then got
    # one slot (CI, under two pytest workers).
    atomic_dynamodb_writes()
    simple_set_updates()
    for patch in ALL_PATCHES:
        patch()
    assert dynamodb_writes_hold_table_locks()
    with mock_aws():
        client = table_with_hash_key("claims", "pk")
        winners: Counter[int] = Counter()
        rounds, claimers = 30, 6
        start = threading.Barrier(claimers)

        def claim(claimer: int) -> None:
            for round_ in range(rounds):
                start.wait()
                try:
                    client.update_item(
                        TableName="claims",
                        Key={"pk": {"S": str(round_)}},
                        UpdateExpression="SET #owner = :me",
                        ConditionExpression="attribute_not_exists(#owner)",
                        ExpressionAttributeNames={"#owner": "owner"},
                        ExpressionAttributeValues={":me": {"N": str(claimer)}},
                    )
                except client.exceptions.ConditionalCheckFailedException:
                    continue
                winners[round_] += 1

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(claimers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert winners == Counter(dict.fromkeys(range(rounds), 1))


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


def sqs_write_answers() -> list[Any]:
    """SendMessage, SendMessageBatch and DeleteMessageBatch answers, with and without message attributes,
    a delete refused among others; the ids and handles that differ between runs blanked."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        attributes = {"k": {"DataType": "String", "StringValue": "v"}, "n": {"DataType": "Number", "StringValue": "1"}}
        answers: list[Any] = [
            sqs.send_message(QueueUrl=url, MessageBody="plain"),
            sqs.send_message(QueueUrl=url, MessageBody="with", MessageAttributes=attributes, DelaySeconds=0),
            sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": "a", "MessageBody": "one"},
                    {"Id": "b", "MessageBody": "two", "DelaySeconds": 5, "MessageAttributes": attributes},
                ],
            ),
        ]
        handles = [m["ReceiptHandle"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
        entries = [{"Id": str(n), "ReceiptHandle": handle} for n, handle in enumerate(handles)]
        answers.append(
            sqs.delete_message_batch(QueueUrl=url, Entries=[*entries, {"Id": "bad", "ReceiptHandle": "not-a-handle"}])
        )
        for answer in answers:
            answer.pop("ResponseMetadata", None)
            answer.pop("MessageId", None)
            for entry in answer.get("Successful", []):
                entry.pop("MessageId", None)
        return answers


def test_plain_sqs_write_answers_are_what_the_shape_serializer_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    plain_sqs_write_answers()
    fast = sqs_write_answers()
    for name in ("send_message", "send_message_batch", "delete_message_batch"):
        monkeypatch.setattr(SQSResponse, name, getattr(SQSResponse, f"{name}_with_shapes"))
    assert fast == sqs_write_answers()
    assert [e["Id"] for e in fast[2]["Successful"]] == ["a", "b"]
    assert [e["Id"] for e in fast[3]["Failed"]] == ["bad"]


def updates_answers() -> list[Any]:
    """Answers and final items of a sequence of UpdateItem calls, simple SETs and others, some refused."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="T",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )
        key = {"pk": {"S": "RATE#sms"}, "sk": {"S": "100"}}
        claim = {
            "UpdateExpression": "SET #next = :next, expiresAt = :expires",
            "ConditionExpression": (
                "(attribute_not_exists(#next) OR #next = :taken) AND (attribute_not_exists(#cap) OR #cap > :last)"
            ),
            "ExpressionAttributeNames": {"#next": "next", "#cap": "cap"},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

        def values(next_slot: int, taken: int) -> dict[str, Any]:
            return {
                ":next": {"N": str(next_slot)},
                ":last": {"N": str(next_slot - 1)},
                ":expires": {"N": "9"},
                ":taken": {"N": str(taken)},
            }

        answers: list[Any] = []
        calls = [
            dict(claim, ExpressionAttributeValues=values(5, 0), ReturnValues="ALL_NEW"),  # creates the item
            dict(claim, ExpressionAttributeValues=values(10, 0)),  # refused: next is 5 now
            dict(claim, ExpressionAttributeValues=values(10, 5), ReturnValues="UPDATED_OLD"),
            {
                "UpdateExpression": "SET #cap = :cap",
                "ExpressionAttributeNames": {"#cap": "cap"},
                "ExpressionAttributeValues": {":cap": {"N": "3"}},
            },
            dict(claim, ExpressionAttributeValues=values(15, 10)),  # refused by the cap
            {
                "UpdateExpression": "ADD hits :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
                "ReturnValues": "ALL_NEW",
            },
            {
                "UpdateExpression": "SET m = :m, l = :l",
                "ExpressionAttributeValues": {":m": {"M": {"a": {"S": "b"}}}, ":l": {"L": [{"N": "1"}]}},
                "ReturnValues": "UPDATED_NEW",
            },
            {  # a claim's move: set, and drop an attribute there is and one there is not
                "UpdateExpression": "SET #s = :s, updatedAt = :now REMOVE m, #gone",
                "ConditionExpression": "#s IN (:q, :s) OR attribute_not_exists(#s)",
                "ExpressionAttributeNames": {"#s": "status", "#gone": "gone"},
                "ExpressionAttributeValues": {":s": {"S": "sending"}, ":q": {"S": "queued"}, ":now": {"S": "t"}},
                "ReturnValues": "ALL_NEW",
            },
            {  # refused by its condition: nothing removed
                "UpdateExpression": "SET #s = :s REMOVE l",
                "ConditionExpression": "#s = :q",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": {"S": "cancelled"}, ":q": {"S": "queued"}},
            },
            {"UpdateExpression": "SET a = :v REMOVE a", "ExpressionAttributeValues": {":v": {"S": "x"}}},  # overlap
            {"UpdateExpression": "SET a = :v REMOVE sk", "ExpressionAttributeValues": {":v": {"S": "x"}}},  # a key
            {"UpdateExpression": "SET pk = :v", "ExpressionAttributeValues": {":v": {"S": "other"}}},  # a key: refused
            {"UpdateExpression": "SET a = :missing", "ExpressionAttributeValues": {":v": {"S": "x"}}},  # unknown value
        ]
        for call in calls:
            try:
                answer = client.update_item(TableName="T", Key=key, **call)
                answer.pop("ResponseMetadata", None)
            except client.exceptions.ClientError as error:
                answer = {"error": error.response["Error"]["Code"], "item": error.response.get("Item")}
            answers.append(answer)
        answers.append(client.get_item(TableName="T", Key=key)["Item"])
        return answers


def test_simple_set_updates_do_what_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    simple_set_updates()
    fast = updates_answers()
    monkeypatch.setattr(DynamoDBBackend, "update_item", DynamoDBBackend.update_item_through_moto)
    assert fast == updates_answers()
    assert fast[1]["error"] == "ConditionalCheckFailedException"
    assert fast[1]["item"]["next"] == {"N": "5"}


def projected_answers() -> list[Any]:
    """Queries and reads that project: on indexes (keys only, included attributes), with projection
    expressions on scalars, a missing attribute, a map, a nested path and a list element."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        index_keys = [{"AttributeName": "group", "KeyType": "HASH"}]
        client.create_table(
            TableName="T",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "group", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {"IndexName": "keys", "KeySchema": index_keys, "Projection": {"ProjectionType": "KEYS_ONLY"}},
                {
                    "IndexName": "some",
                    "KeySchema": index_keys,
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status", "lastError", "m", "n"]},
                },
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(6):
            item = {
                "pk": {"S": f"p{n}"},
                "group": {"S": "g"},
                "status": {"S": "sent" if n % 2 else "failed"},
                "n": {"N": str(n * 1.5)},
                "flag": {"BOOL": n % 3 == 0},
                "m": {"M": {"inner": {"S": "x"}, "list": {"L": [{"N": "1"}, {"S": "y"}]}}},
                "ss": {"SS": ["a", "b"]},
            }
            if n % 2:
                item["lastError"] = {"S": "HTTP 400: refused"}
            client.put_item(TableName="T", Item=item)
        group = {"KeyConditionExpression": "#g = :g", "ExpressionAttributeValues": {":g": {"S": "g"}}}
        names = {"#g": "group", "#s": "status"}
        answers: list[Any] = [
            client.query(TableName="T", IndexName="keys", ExpressionAttributeNames={"#g": "group"}, **group),
            client.query(TableName="T", IndexName="some", ExpressionAttributeNames={"#g": "group"}, **group),
            client.query(
                TableName="T",
                IndexName="some",
                ProjectionExpression="#s, lastError, n",
                ExpressionAttributeNames=names,
                **group,
            ),
            client.query(
                TableName="T",
                IndexName="some",
                ProjectionExpression="m.inner, #s",
                ExpressionAttributeNames=names,
                **group,
            ),
            client.query(
                TableName="T",
                IndexName="some",
                ProjectionExpression="m, n",
                ExpressionAttributeNames={"#g": "group"},
                **group,
            ),
            client.get_item(TableName="T", Key={"pk": {"S": "p1"}}, ProjectionExpression="flag, ss, nothing"),
            client.get_item(TableName="T", Key={"pk": {"S": "p2"}}, ProjectionExpression="flag, n, pk"),
            client.get_item(TableName="T", Key={"pk": {"S": "p3"}}, ProjectionExpression="m.list[1], lastError"),
            client.scan(TableName="T", ProjectionExpression="pk, #s", ExpressionAttributeNames={"#s": "status"}),
        ]
        for answer in answers:
            answer.pop("ResponseMetadata", None)
            for item in answer.get("Items", []):
                assert "ss" not in item or "flag" in item  # projected, not whole items
        return answers


def test_quick_top_level_projections_answer_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    quick_top_level_projections()
    fast = projected_answers()
    monkeypatch.setattr(Item, "project", Item.project_through_moto)  # type: ignore[attr-defined]
    assert fast == projected_answers()
    assert fast[2]["Items"][1] == {"status": {"S": "sent"}, "lastError": {"S": "HTTP 400: refused"}, "n": {"N": "1.5"}}


def queue_traffic() -> list[Any]:
    """Receives and deletes on one queue, including a stale receipt handle and a second delete."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for n in range(30):
            sqs.send_message(QueueUrl=url, MessageBody=str(n), DelaySeconds=900 if n % 10 == 0 else 0)
        seen: list[Any] = []
        first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
        stale = first[0]["ReceiptHandle"]
        again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
        seen.append(sorted(m["Body"] for m in again))
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(again[:5])]
        answer = sqs.delete_message_batch(QueueUrl=url, Entries=[*entries, {"Id": "stale", "ReceiptHandle": stale}])
        seen.append((sorted(e["Id"] for e in answer.get("Successful", [])), answer.get("Failed", [])))
        answer = sqs.delete_message_batch(QueueUrl=url, Entries=entries)  # deleting twice is fine
        seen.append(sorted(e["Id"] for e in answer.get("Successful", [])))
        answer = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "bad", "ReceiptHandle": "not-a-handle"}])
        seen.append([(e["Id"], e["Code"]) for e in answer.get("Failed", [])])
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        seen.append(
            {
                name: attributes[name]
                for name in (
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                )
            }
        )
        rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        seen.append(sorted(m["Body"] for m in rest))
        return seen


def test_quick_sqs_scans_answer_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.sqs.models as sqs_models

    moto_messages, moto_delete = sqs_models.Queue.messages, sqs_models.Queue.delete_message
    quick_sqs_scans()
    fast = queue_traffic()
    monkeypatch.setattr(sqs_models.Queue, "messages", moto_messages)
    monkeypatch.setattr(sqs_models.Queue, "delete_message", moto_delete)
    assert fast == queue_traffic()
    assert fast[1][0] == ["0", "1", "2", "3", "4", "stale"]


def binary_traffic() -> list[Any]:
    """Requests with blobs (a DynamoDB binary attribute, an SQS binary message attribute) and without."""
    with mock_aws():
        client = table_with_hash_key("T", "pk")
        client.put_item(TableName="T", Item={"pk": {"S": "a"}, "b": {"B": b"\x00\x01"}, "bs": {"BS": [b"\x02"]}})
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        attributes = {
            "text": {"DataType": "String", "StringValue": "x"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        }
        sqs.send_message(QueueUrl=url, MessageBody="one", MessageAttributes=attributes)
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": "1", "MessageBody": "two", "DelaySeconds": 0, "MessageAttributes": attributes}],
        )
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        return [
            client.get_item(TableName="T", Key={"pk": {"S": "a"}})["Item"],
            sorted((m["Body"], m["MessageAttributes"]["raw"]["BinaryValue"]) for m in received["Messages"]),
        ]


RANDOM_VALUES = frozenset({"ClientRequestToken", "ReceiptHandle"})


def without_random_values(value: Any) -> Any:
    """Parameters with the values that differ on every run (tokens, receipt handles) blanked."""
    if isinstance(value, dict):
        return {k: "<random>" if k in RANDOM_VALUES else without_random_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_random_values(v) for v in value]
    return value


def parsed_requests(monkeypatch: pytest.MonkeyPatch, parse: Any) -> tuple[list[Any], list[Any]]:
    """Every request's parsed parameters (by parse) and the answers, over the other tests' call sequences."""
    recorded: list[Any] = []

    def record(self: BaseResponse, request: Any) -> None:
        parse(self, request)
        recorded.append((self._get_action(), without_random_values(copy.deepcopy(getattr(self, "params", None)))))

    monkeypatch.setattr(BaseResponse, "parse_parameters", record)
    answers = [dynamodb_answers(), updates_answers(), projected_answers(), queue_traffic(), binary_traffic()]
    return recorded, answers


def test_plain_json_requests_parse_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    plain_json_requests()
    fast = parsed_requests(monkeypatch, BaseResponse.parse_parameters)
    slow = parsed_requests(monkeypatch, BaseResponse.parse_parameters_through_moto)  # type: ignore[attr-defined]
    assert fast == slow
    actions = Counter(action for action, _ in fast[0])
    assert actions["BatchWriteItem"]
    assert actions["SendMessageBatch"]
    assert actions["Query"]
    assert fast[1][-1][1] == [("one", b"\x00\xff"), ("two", b"\x00\xff")]


def test_sends_read_the_dedup_flag_cheaply_and_every_other_reader_gets_full_attributes() -> None:
    cheap_content_dedup_check()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        standard = sqs.create_queue(QueueName="plain")["QueueUrl"]
        fifo = sqs.create_queue(
            QueueName="dedup.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        )["QueueUrl"]
        sqs.send_message_batch(
            QueueUrl=standard, Entries=[{"Id": str(n), "MessageBody": "x", "DelaySeconds": 60} for n in range(10)]
        )
        sqs.send_message(QueueUrl=standard, MessageBody="now")
        counts = sqs.get_queue_attributes(QueueUrl=standard, AttributeNames=["All"])["Attributes"]
        assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesDelayed"]) == ("1", "10")
        # Content-based deduplication still holds on a FIFO queue: the same body twice is one message
        for _ in range(2):
            sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
        assert (
            sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
            == "1"
        )


def test_items_over_400_kb_are_still_refused_however_they_grow() -> None:
    incremental_item_size()
    with mock_aws():
        ddb = table_with_hash_key("t", "k")
        ddb.put_item(TableName="t", Item={"k": {"S": "a"}, "x": {"S": "1" * 200_000}})
        with pytest.raises(ddb.exceptions.ClientError, match="maximum allowed size"):
            ddb.put_item(TableName="t", Item={"k": {"S": "b"}, "x": {"S": "1" * 300_000}, "y": {"S": "2" * 200_000}})
        # An update that makes an item too big is refused too; a replaced value is counted once
        with pytest.raises(ddb.exceptions.ClientError, match="maximum allowed size"):
            ddb.update_item(
                TableName="t", Key={"k": {"S": "a"}}, UpdateExpression="SET y = :y",
                ExpressionAttributeValues={":y": {"S": "2" * 300_000}},
            )  # fmt: skip
        for _ in range(3):
            ddb.update_item(
                TableName="t", Key={"k": {"S": "a"}}, UpdateExpression="SET x = :x",
                ExpressionAttributeValues={":x": {"S": "3" * 300_000}},
            )  # fmt: skip
        assert len(ddb.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"]["x"]["S"]) == 300_000


def test_items_put_by_small_requests_are_measured_only_once_they_change() -> None:
    incremental_item_size()
    with mock_aws():
        ddb = table_with_hash_key("t", "k")
        ddb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {"k": {"S": "a"}, "x": {"S": "é" * 1000}}}}]})
        table = dynamodb_backends["123456789012"]["us-east-1"].get_table("t")
        # A request of a few KB cannot hold an item over the limit: its items are stored unmeasured
        assert "_entry_sizes" not in table.get_item(DynamoType({"S": "a"})).attrs.__dict__
        ddb.update_item(
            TableName="t", Key={"k": {"S": "a"}}, UpdateExpression="SET y = :y",
            ExpressionAttributeValues={":y": {"N": "12"}},
        )  # fmt: skip
        # Measured whole at its first change, as moto measures each entry (é is two bytes)
        assert table.get_item(DynamoType({"S": "a"})).attrs.__dict__["_entry_sizes"] == {"k": 2, "x": 2001, "y": 3}


def put_answers() -> list[Any]:
    """Batch writes of items of every attribute type (one replacing an earlier item, one too big, one batch
    with a key twice), and puts with and without conditions, then every item read back."""
    with mock_aws():
        ddb = table_with_hash_key("P", "k")
        shapes = {
            "s": {"S": "text é"},
            "n": {"N": "12.5"},
            "b": {"B": b"\x00\x01"},
            "flag": {"BOOL": True},
            "none": {"NULL": True},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2"]},
            "m": {"M": {"inner": {"S": "x"}, "list": {"L": [{"N": "1"}, {"S": "y"}]}}},
        }
        answers: list[Any] = []

        def record(call: Callable[[], Any]) -> None:
            try:
                answer = call()
                answer.pop("ResponseMetadata", None)
                answers.append(answer)
            except ddb.exceptions.ClientError as exc:
                answers.append(exc.response["Error"])

        def puts(items: list[dict[str, Any]]) -> dict[str, Any]:
            return {"P": [{"PutRequest": {"Item": item}} for item in items]}

        record(lambda: ddb.batch_write_item(RequestItems=puts([{"k": {"S": f"i{n}"}, **shapes} for n in range(5)])))
        record(lambda: ddb.batch_write_item(RequestItems=puts([{"k": {"S": "i0"}, "s": {"S": "replaced"}}])))
        record(lambda: ddb.batch_write_item(RequestItems=puts([{"k": {"S": "big"}, "x": {"S": "1" * 410_000}}])))
        record(lambda: ddb.batch_write_item(RequestItems=puts([{"k": {"S": "d"}}, {"k": {"S": "d"}}])))
        record(lambda: ddb.put_item(TableName="P", Item={"k": {"S": "i1"}, "s": {"S": "put"}}))
        conditional = {"ConditionExpression": "attribute_not_exists(k)"}
        record(lambda: ddb.put_item(TableName="P", Item={"k": {"S": "i2"}}, **conditional))
        record(lambda: ddb.put_item(TableName="P", Item={"k": {"S": "new"}}, **conditional))
        record(lambda: ddb.put_item(TableName="P", Item={"k": {"S": "i3"}}, Expected={"s": {"Value": {"S": "no"}}}))
        record(lambda: ddb.scan(TableName="P"))
        answers[-1]["Items"].sort(key=lambda item: item["k"]["S"])
        return answers


def test_puts_store_and_refuse_what_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    incremental_item_size()
    unconditional_puts_skip_conditions()
    fast = put_answers()
    monkeypatch.setattr(Item, "__init__", Item.init_through_moto)  # type: ignore[attr-defined]
    monkeypatch.setattr(Table, "put_item", Table.put_item_through_moto)  # type: ignore[attr-defined]
    assert fast == put_answers()
    assert [answer.get("Code") for answer in fast[2:4]] == ["ValidationException", "ValidationException"]
    assert [answer.get("Code") for answer in fast[5:8]] == [
        "ConditionalCheckFailedException",
        None,
        "ConditionalCheckFailedException",
    ]
    assert len(fast[-1]["Items"]) == 6
    assert fast[-1]["Items"][0]["s"] == {"S": "replaced"}


def test_actions_are_found_as_moto_finds_them_also_when_one_is_added_or_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    direct_action_lookup()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        sqs.create_queue(QueueName="q")
        monkeypatch.delattr(SQSResponse, "list_queues")
        with pytest.raises(NotImplementedError):
            sqs.list_queues()  # as moto answers an action it does not have
        monkeypatch.undo()  # the action is back, as a patch applied later adds one
        assert [url.rsplit("/", 1)[1] for url in sqs.list_queues()["QueueUrls"]] == ["q"]
    # For every name of the classes the emulator serves: an action exactly when moto would list it
    for response_class in (SQSResponse, DynamoHandler, SchedulerResponse):
        listed = set(method_names_from_class(response_class))
        found = moto_core_responses.method_names_from_class(response_class)
        assert {name for name in dir(response_class) if name in found} == listed


def test_messages_items_and_rollback_copies_are_not_kept_once_gone() -> None:
    untracked_model_instances()
    one_backup_per_transaction()
    with mock_aws():
        ddb = table_with_hash_key("L", "id")
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        tracked = (Item.instances_tracked, Table.instances_tracked, sqs_models.Message.instances_tracked)  # type: ignore[attr-defined]
        before = [len(instances) for instances in tracked]
        for n in range(20):
            ddb.put_item(TableName="L", Item={"id": {"S": "same"}, "n": {"N": str(n)}})  # 19 replaced
            sqs.send_message(QueueUrl=url, MessageBody=str(n))
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        refused = {"ConditionExpression": "attribute_not_exists(id)"}
        with pytest.raises(ddb.exceptions.TransactionCanceledException):  # rolled back from a copy of the table
            ddb.transact_write_items(
                TransactItems=[{"Put": {"TableName": "L", "Item": {"id": {"S": "same"}}, **refused}}]
            )
        assert [len(instances) for instances in tracked] == before
        assert ddb.get_item(TableName="L", Key={"id": {"S": "same"}})["Item"]["n"] == {"N": "19"}
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"] == {
            "ApproximateNumberOfMessages": "10"
        }


def transaction_answers() -> list[Any]:
    """Transactions over a hash-key table and a hash-and-range table: one refused by its last check (every
    put, update and delete before it undone), then the same without the check; each table read after each."""
    with mock_aws():
        ddb = table_with_hash_key("A", "id")
        create_keyed_table(ddb, "R", "pk", "sk", range_type="N")
        for name in ("a1", "a2"):
            ddb.put_item(TableName="A", Item={"id": {"S": name}, "v": {"N": "0"}, "m": {"M": {"x": {"S": "y"}}}})
        ddb.put_item(TableName="R", Item={"pk": {"S": "p"}, "sk": {"N": "1"}})
        ops: list[dict[str, Any]] = [
            {"Put": {"TableName": "A", "Item": {"id": {"S": "a3"}}}},
            {
                "Update": {
                    "TableName": "A",
                    "Key": {"id": {"S": "a1"}},
                    "UpdateExpression": "SET v = :one, m.x = :z",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":z": {"S": "z"}},
                }
            },
            {"Delete": {"TableName": "R", "Key": {"pk": {"S": "p"}, "sk": {"N": "1"}}}},
            {"Put": {"TableName": "R", "Item": {"pk": {"S": "q"}, "sk": {"N": "2"}}}},
        ]
        refused = {
            "ConditionCheck": {
                "TableName": "A",
                "Key": {"id": {"S": "a2"}},
                "ConditionExpression": "attribute_not_exists(id)",
            }
        }
        answers: list[Any] = []
        for transaction in ([*ops, refused], ops):
            try:
                ddb.transact_write_items(TransactItems=transaction)
                answers.append("written")
            except ddb.exceptions.TransactionCanceledException as exc:
                answers.append(exc.response["CancellationReasons"])
            for table in ("A", "R"):
                answers.append(
                    sorted(ddb.scan(TableName=table)["Items"], key=lambda item: json.dumps(item, sort_keys=True))
                )
        return answers


def test_transactions_roll_back_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    one_backup_per_transaction()
    fast = transaction_answers()
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items_through_moto)  # type: ignore[attr-defined]
    assert fast == transaction_answers()
    assert [len(fast[1]), len(fast[2])] == [2, 1]  # refused: nothing written
    assert fast[3] == "written"
    assert [len(fast[4]), len(fast[5])] == [3, 1]


def recorder(client: Any, answers: list[Any]) -> Callable[[Callable[[], Any]], None]:
    """record(call): appends call()'s answer, or for a refusal its error code, message and cancellation
    reasons."""

    def record(call: Callable[[], Any]) -> None:
        try:
            answer = call()
            answer.pop("ResponseMetadata", None)
        except client.exceptions.ClientError as error:
            answer = {
                "error": error.response["Error"]["Code"],
                "message": error.response["Error"].get("Message"),
                "reasons": error.response.get("CancellationReasons"),
            }
        answers.append(answer)

    return record


def conditional_answers() -> list[Any]:
    """Answers and final items of conditional writes that repeat one condition with the same values: a claim
    transaction, a transaction refused for one item, conditional puts passing and refused, and a request
    naming an attribute its condition does not use (refused each time, also once its condition was parsed)."""
    with mock_aws():
        client = table_with_hash_key("L", "id")
        for n in range(4):
            client.put_item(TableName="L", Item={"id": {"S": f"m{n}"}, "status": {"S": "queued"}, "v": {"N": "0"}})
        condition = {
            "ConditionExpression": "#s IN (:queued, :sending) AND #v = :v",
            "ExpressionAttributeNames": {"#s": "status", "#v": "v"},
        }
        values = {":queued": {"S": "queued"}, ":sending": {"S": "sending"}, ":v": {"N": "0"}}

        def claim(ids: list[str]) -> dict[str, Any]:
            return {
                "TransactItems": [
                    {
                        "Update": {
                            "TableName": "L",
                            "Key": {"id": {"S": message_id}},
                            "UpdateExpression": "SET #s = :target",
                            **condition,
                            "ExpressionAttributeValues": {**values, ":target": {"S": "sending"}},
                        }
                    }
                    for message_id in ids
                ]
            }

        answers: list[Any] = []
        record = recorder(client, answers)

        record(lambda: client.transact_write_items(**claim(["m0", "m1"])))
        client.update_item(
            TableName="L",
            Key={"id": {"S": "m1"}},
            UpdateExpression="SET #v = :one",
            ExpressionAttributeNames={"#v": "v"},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        record(
            lambda: client.transact_write_items(**claim(["m1", "m2"]))
        )  # m1's version moved on: refused, m2 untouched
        record(lambda: client.transact_write_items(**claim(["m2", "m3"])))
        for _ in range(2):
            put = {"TableName": "L", "Item": {"id": {"S": "m1"}, "status": {"S": "done"}}, **condition}
            record(lambda put=put: client.put_item(**put, ExpressionAttributeValues=values))  # refused: v is 1
            # On m3, whose condition holds, a name the expressions do not use: refused for it alone (moto finds
            # the names used in the parse, which the cache must give back with the parsed condition).
            unused = {
                **put,
                "Item": {"id": {"S": "m3"}},
                "ExpressionAttributeNames": {"#s": "status", "#v": "v", "#x": "x"},
            }
            record(lambda put=unused: client.put_item(**put, ExpressionAttributeValues=values))
        record(
            lambda: client.put_item(
                TableName="L",
                Item={"id": {"S": "m0"}, "status": {"S": "x"}},
                ConditionExpression="attribute_not_exists(id)",
            )
        )
        answers.append(client.scan(TableName="L")["Items"])
        return answers


def test_cached_conditions_decide_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    cache_condition_parsing()
    cached = conditional_answers()
    monkeypatch.setattr(ConditionExpressionParser, "parse", ConditionExpressionParser.parse_through_moto)
    assert cached == conditional_answers()
    assert "error" not in cached[0]
    assert cached[1]["error"] == "TransactionCanceledException"
    assert [answer.get("error") for answer in cached[3:7]] == [
        "ConditionalCheckFailedException",
        "ValidationException",
    ] * 2


def update_answers() -> list[Any]:
    """Answers and final items of updates whose expressions repeat: a claim transaction, the same text with
    a name or value it does not use (refused each time, also once the text was parsed), a text that does not
    parse (refused each time), and a single UpdateItem with an expression the transaction used."""
    with mock_aws():
        client = table_with_hash_key("L", "id")
        for n in range(3):
            client.put_item(TableName="L", Item={"id": {"S": f"m{n}"}, "status": {"S": "queued"}, "n": {"N": "0"}})
        answers: list[Any] = []
        record = recorder(client, answers)

        def update(message_id: str, expression: str, names: dict[str, str], values: dict[str, Any]) -> dict[str, Any]:
            return {
                "Update": {
                    "TableName": "L",
                    "Key": {"id": {"S": message_id}},
                    "UpdateExpression": expression,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }

        def update_m2(expression: str, names: dict[str, str], values: dict[str, Any]) -> Any:
            return client.update_item(
                TableName="L",
                Key={"id": {"S": "m2"}},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

        claim = "SET #s = :target REMOVE extra"
        names, values = {"#s": "status"}, {":target": {"S": "sending"}}
        for _ in range(2):
            record(
                lambda: client.transact_write_items(
                    TransactItems=[update(f"m{n}", claim, names, values) for n in range(2)]
                )
            )
            unused = {**names, "#unused": "x"}
            record(
                lambda unused=unused: client.transact_write_items(TransactItems=[update("m2", claim, unused, values)])
            )
            record(lambda unused=unused: update_m2(claim, unused, values))
            broken = "SET #s = = :target"
            record(
                lambda broken=broken: client.transact_write_items(TransactItems=[update("m2", broken, names, values)])
            )
        record(lambda: update_m2("ADD #n :one", {"#n": "n"}, {":one": {"N": "1"}}))
        answers.append(sorted(client.scan(TableName="L")["Items"], key=lambda item: str(item["id"])))
        return answers


def test_cached_update_expression_checks_refuse_and_write_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    cache_update_expression_checks()
    cached = update_answers()
    monkeypatch.setattr(moto_dynamodb_responses, "UpdateExpressionParser", UpdateExpressionParser)
    assert cached == update_answers()
    assert [answer.get("error") for answer in cached[:8]] == [
        None,
        "ValidationException",
        "ValidationException",
        "ValidationException",
    ] * 2
    assert "unused" in cached[1]["message"]
    assert "unused" in cached[5]["message"]
    assert [item["status"]["S"] for item in cached[-1]] == ["sending", "sending", "queued"]
