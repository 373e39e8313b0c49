"""The local stack's IAM check: real botocore-signed calls, through the emulator's guard, against template.yaml.

Resources are provisioned in moto in-process (only for their names and ARNs); the calls then go through
`IamGuard` by a botocore hook, never over the network. A call the guard lets through reaches a stand-in
that answers `{}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto import mock_aws
from werkzeug.test import EnvironBuilder

from local_stack import iam
from local_stack.emulator import IamGuard
from local_stack.moto_patches import PARSED_BODY, json_params
from local_stack.provision import provision
from local_stack.template import Resolver, load_template, resources_of_type

TEMPLATE = load_template()


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    resolver = Resolver(TEMPLATE)
    with mock_aws():
        provision(resolver, boto3.Session(region_name="us-east-1"))
    return resolver


@pytest.fixture(scope="module")
def guard(resolver: Resolver) -> IamGuard:
    passed: list[str] = []

    def stand_in(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        passed.append(environ.get("HTTP_X_AMZ_TARGET") or environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
        return [b"{}"]

    guard = IamGuard(stand_in)
    grants = iam.grants_to_json(iam.function_grants(TEMPLATE, resolver))
    body = json.dumps(grants).encode()
    builder = EnvironBuilder(method="PUT", path="/_emulator/iam", data=body)
    guard(builder.get_environ(), lambda status, headers: None)
    return guard


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def client_of(guard: IamGuard, service: str, caller: str) -> Any:
    """A boto3 client signing as `caller`, whose requests go through the guard instead of the network."""
    client = boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id=caller,
        aws_secret_access_key="local",
    )

    def send(request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        environ = EnvironBuilder(
            method=request.method,
            path=url.path,
            query_string=url.query,
            headers={k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()},
            data=body.encode() if isinstance(body, str) else body,
        ).get_environ()
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

        content = b"".join(guard(environ, start_response))
        return AWSResponse(request.url, answer["status"], answer["headers"], _Raw(content))

    client.meta.events.register("before-send", send)
    return client


def denied_code(call: Any) -> str | None:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def ref(resolver: Resolver, logical_id: str) -> str:
    """A table's name, a queue's URL, a schedule group's name."""
    return resolver.resources[logical_id].ref


KEY = {"keyHash": {"S": "x"}}


def test_the_authorizer_may_read_keys_and_nothing_else(guard: IamGuard, resolver: Resolver) -> None:
    ddb = client_of(guard, "dynamodb", "AuthorizerFunction")
    assert denied_code(lambda: ddb.get_item(TableName=ref(resolver, "ApiKeysTable"), Key=KEY)) is None
    assert denied_code(lambda: ddb.put_item(TableName=ref(resolver, "ApiKeysTable"), Item=KEY)) == (
        "AccessDeniedException"
    )
    assert denied_code(lambda: ddb.scan(TableName=ref(resolver, "MetricsTable"))) == "AccessDeniedException"


def test_a_worker_sends_to_its_own_queues_only(guard: IamGuard, resolver: Resolver) -> None:
    sqs = client_of(guard, "sqs", "SmsWorkerFunction")
    own = ref(resolver, "SmsDeadLetterQueue")
    assert denied_code(lambda: sqs.send_message(QueueUrl=own, MessageBody="{}")) is None
    entries = [{"Id": "1", "MessageBody": "{}"}]
    assert denied_code(lambda: sqs.send_message_batch(QueueUrl=ref(resolver, "SmsQueue"), Entries=entries)) is None
    other = ref(resolver, "EmailQueue")
    assert denied_code(lambda: sqs.send_message(QueueUrl=other, MessageBody="{}")) == "AccessDenied"
    assert denied_code(lambda: sqs.purge_queue(QueueUrl=own)) == "AccessDenied"


def test_transactions_are_checked_item_by_item(guard: IamGuard, resolver: Resolver) -> None:
    ddb = client_of(guard, "dynamodb", "SmsWorkerFunction")
    ledger = ref(resolver, "MessagesTable")
    values = {":a": {"S": "b"}}
    update = {
        "Update": {
            "TableName": ledger,
            "Key": KEY,
            "UpdateExpression": "SET a = :a",
            "ExpressionAttributeValues": values,
        }
    }
    assert denied_code(lambda: ddb.transact_write_items(TransactItems=[update])) is None
    delete = {"Delete": {"TableName": ledger, "Key": KEY}}
    assert denied_code(lambda: ddb.transact_write_items(TransactItems=[update, delete])) == "AccessDeniedException"


def test_the_api_schedules_only_in_the_service_groups(guard: IamGuard, resolver: Resolver) -> None:
    scheduler = client_of(guard, "scheduler", "ApiFunction")
    group = ref(resolver, "SmsScheduleGroup")
    schedule: dict[str, Any] = {
        "Name": "m-1",
        "ScheduleExpression": "at(2030-01-01T00:00:00)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": "arn:aws:sqs:us-east-1:123456789012:q", "RoleArn": "arn:aws:iam::123456789012:role/r"},
    }
    assert denied_code(lambda: scheduler.create_schedule(GroupName=group, **schedule)) is None
    assert denied_code(lambda: scheduler.delete_schedule(Name="m-1", GroupName=group)) is None
    assert denied_code(lambda: scheduler.create_schedule(GroupName="default", **schedule)) == "AccessDeniedException"


def test_calls_not_signed_by_a_function_are_not_checked(guard: IamGuard, resolver: Resolver) -> None:
    ddb = client_of(guard, "dynamodb", "local")
    assert denied_code(lambda: ddb.scan(TableName=ref(resolver, "ApiKeysTable"))) is None


# X-Ray supports no resource-level permissions: "*" is the only resource AWS accepts for these.
# Actions with no resource-level permissions (the Service Authorization Reference lists no resource type).
RESOURCE_WILDCARD_REQUIRED = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:GetMetricData"}


def test_every_function_has_its_own_role_with_no_wildcard_aws_does_not_require(resolver: Resolver) -> None:
    grants = iam.function_grants(TEMPLATE, resolver)  # raises for a function without its own role
    assert set(grants) == set(resources_of_type(TEMPLATE, "AWS::Serverless::Function"))
    for caller, own in grants.items():
        for grant in own:
            assert not any("*" in action for action in grant.actions), (caller, grant)
            if "*" in grant.resources:
                assert set(grant.actions) <= RESOURCE_WILDCARD_REQUIRED, (caller, grant)
        logs = [grant for grant in own if "logs:PutLogEvents" in grant.actions]
        assert [grant.resources for grant in logs] == [(resolver.resources[f"{caller}Logs"].attributes["Arn"],)]


def test_each_worker_role_lets_its_event_sources_poll_their_queues(resolver: Resolver) -> None:
    # Lambda's event source receives and deletes under the function's role: those calls never go through
    # the local stack's check (its pollers sign as the stack), so the template is checked for them here.
    grants = iam.function_grants(TEMPLATE, resolver)
    polled = 0
    for caller, spec in resources_of_type(TEMPLATE, "AWS::Serverless::Function").items():
        for event in spec["Properties"].get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            queue_arn = resolver.resolve(event["Properties"]["Queue"])
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
                assert any(grant.allows(action, queue_arn) for grant in grants[caller]), (caller, action)
            polled += 1
    assert polled == 4  # each worker: its send queue and its bulk queue


def test_cloudwatch_metric_reads_are_checked_in_either_protocol(guard: IamGuard) -> None:
    """The dashboard's GetMetricData: granted to the api, refused to a worker (CBOR or JSON protocol alike)."""
    from datetime import UTC, datetime

    query = [{"Id": "a", "Expression": "SUM([])", "ReturnData": True}]
    window = {"StartTime": datetime(2026, 1, 1, tzinfo=UTC), "EndTime": datetime(2026, 1, 2, tzinfo=UTC)}

    def read(caller: str) -> str | None:
        client = client_of(guard, "cloudwatch", caller)
        return denied_code(lambda: client.get_metric_data(MetricDataQueries=query, **window))

    assert read("SmsWorkerFunction") == "AccessDeniedException"
    # Allowed calls go on to the emulator, absent here: any answer but a refusal will do.
    assert read("ApiFunction") != "AccessDeniedException"
    request = iam.request_of(
        {"HTTP_X_AMZ_TARGET": "GraniteServiceVersion20100801.GetMetricData", "PATH_INFO": "/"}, "ApiFunction", {}
    )
    assert request.needs == (("cloudwatch:GetMetricData", "*"),)


def test_a_body_the_check_decoded_is_handed_to_moto_and_not_decoded_again(resolver: Resolver) -> None:
    seen: list[dict[str, Any]] = []

    def stand_in(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ)
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
        return [b"{}"]

    checked = IamGuard(stand_in)
    grants = json.dumps(iam.grants_to_json(iam.function_grants(TEMPLATE, resolver))).encode()
    checked(EnvironBuilder(method="PUT", path="/_emulator/iam", data=grants).get_environ(), lambda *_: None)
    table = resolver.resources["MessagesTable"].ref
    client_of(checked, "dynamodb", "ApiFunction").get_item(TableName=table, Key={"messageId": {"S": "m-1"}})
    environ = seen[-1]
    body = environ["wsgi.input"].read()
    # moto reads the same bytes and takes the object the check decoded, the very same one
    assert json_params(body, environ) is environ[PARSED_BODY][1]
    assert json_params(body, environ) == {"TableName": table, "Key": {"messageId": {"S": "m-1"}}}
    # a body other than the one decoded is decoded on its own; no environ, no check: decoded here
    assert json_params(b'{"TableName": "other"}', environ) == {"TableName": "other"}
    assert json_params(body, {}) == json.loads(body)
    assert json_params(b"", {}) == {}
