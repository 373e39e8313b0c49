"""Loads the sample events in events/ and adapts them, so tests exercise the same files `sam local invoke` uses."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


ADMIN = {"role": "admin", "workspaceId": "", "principalId": "admin"}


def workspace_key(workspace_id: str) -> dict[str, str]:
    """The authorizer context of a workspace key."""
    return {"role": "workspace", "workspaceId": workspace_id, "principalId": workspace_id}


def api_event(
    name: str,
    body: Any = ...,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    caller: dict[str, str] | None = ADMIN,
) -> dict[str, Any]:
    """The sample API event `name` with its body replaced (a dict is JSON-encoded; raw_body is sent as is),
    as the authorizer would pass it for `caller` (None: no authorizer context)."""
    event = copy.deepcopy(load_event(name))
    event["requestContext"]["authorizer"] = caller
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not ...:
        event["body"] = None if body is None else json.dumps(body)
    event["headers"].update(headers or {})
    event["multiValueHeaders"] = {key: [value] for key, value in event["headers"].items()}
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    return event


def route_event(
    method: str,
    path: str,
    resource: str | None = None,
    body: Any = None,
    caller: dict[str, str] | None = ADMIN,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST proxy event for any route (resource: its template path, e.g. /api/admin/keys/{keyId})."""
    event = api_event("api_get_metrics", caller=caller)
    event.update(httpMethod=method, path=path, resource=resource or path, pathParameters=path_parameters)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    event["body"] = None if body is None else json.dumps(body)
    event["requestContext"].update(httpMethod=method, resourcePath=resource or path, path=f"/dev{path}")
    return event


def sqs_event_from_messages(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """An SQS event holding messages as ReceiveMessage returned them (AttributeNames=All)."""
    records = []
    for message in messages:
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own digest
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}
