"""IAM for the local stack: every AWS call a function makes is checked against that function's template policies.

On Lambda a function calls AWS with its execution role, and a call its policies do not allow fails with
AccessDenied. The local stack gives each function's environments the function's logical id as access key
id; the emulator (local_stack.emulator) reads it from the request's SigV4 credential scope and refuses, as
AWS would, any action on any resource that no statement of that function's `Policies` allows. Calls signed
with another key (the stack itself, its pollers and scheduler, tests) are not checked.

Each function names its own execution role (`Role:`), whose inline policies are what is checked: SAM's
generated roles and policy templates (AWSLambdaBasicExecutionRole, DynamoDBCrudPolicy, ...) grant actions
on every resource, and the template uses none of them.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from local_stack.template import ACCOUNT_ID, REGION, Resolver, resources_of_type

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
# TransactWriteItems is authorised per item, by the action each item is (AWS DynamoDB API reference).
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Grant:
    """One Allow statement: action patterns (service:Action, * allowed) on resource ARN patterns."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def allows(self, action: str, resource: str) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in self.actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in self.resources
        )


@dataclass(frozen=True)
class Request:
    """What one AWS call asks for: (action, resource ARN) pairs, all of which must be allowed."""

    caller: str
    needs: tuple[tuple[str, str], ...]


def _as_tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def function_grants(template: dict[str, Any], resolver: Resolver) -> dict[str, list[Grant]]:
    """Each function's Allow statements (those of its execution role), resolved to local ARNs.

    Call after provisioning. A function must name its role (`Role: !GetAtt XRole.Arn`): without one, SAM
    would make a role with managed policies on every resource.
    """
    roles = resources_of_type(template, "AWS::IAM::Role")
    grants: dict[str, list[Grant]] = {}
    for logical_id, spec in resources_of_type(template, "AWS::Serverless::Function").items():
        props = spec.get("Properties", {})
        role = props.get("Role")
        if "Policies" in props or not (isinstance(role, dict) and "Fn::GetAtt" in role):
            raise ValueError(f"{logical_id}: give it Role: !GetAtt <its role>.Arn, not SAM Policies")
        role_id = role["Fn::GetAtt"][0]
        found: list[Grant] = []
        for policy in resolver.resolve(roles[role_id].get("Properties", {}).get("Policies", [])):
            for statement in policy["PolicyDocument"]["Statement"]:
                # Conditions are not evaluated: the only one (iam:PassedToService on PassRole) guards a call
                # AWS makes itself, which the emulator never sees.
                if statement.get("Effect") != "Allow":
                    raise ValueError(f"{logical_id}: only Allow statements are supported: {statement!r:.120}")
                found.append(Grant(_as_tuple(statement["Action"]), _as_tuple(statement["Resource"])))
        grants[logical_id] = found
    return grants


def _table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"


def _queue_arn(url: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{url.rstrip('/').rsplit('/', 1)[-1]}"


def _dynamodb_needs(operation: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    if operation == "TransactWriteItems":
        needs = []
        for item in body.get("TransactItems", []):
            ((kind, spec),) = item.items()
            needs.append((f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _table_arn(spec["TableName"])))
        return needs
    if operation == "TransactGetItems":
        return [("dynamodb:GetItem", _table_arn(item["Get"]["TableName"])) for item in body.get("TransactItems", [])]
    if "RequestItems" in body:  # BatchGetItem, BatchWriteItem
        return [(f"dynamodb:{operation}", _table_arn(name)) for name in body["RequestItems"]]
    arn = _table_arn(body.get("TableName", "*"))
    if body.get("IndexName"):
        arn += f"/index/{body['IndexName']}"
    return [(f"dynamodb:{operation}", arn)]


def _sqs_needs(operation: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    # Batch calls are authorised as their single action (SQS developer guide, "batch actions").
    action = operation.removesuffix("Batch")
    if operation == "StartMessageMoveTask":
        return [("sqs:StartMessageMoveTask", body.get("SourceArn", "*"))]
    if "QueueUrl" in body:
        return [(f"sqs:{action}", _queue_arn(body["QueueUrl"]))]
    if "QueueName" in body:
        return [(f"sqs:{action}", f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{body['QueueName']}")]
    return [(f"sqs:{action}", "*")]


_SCHEDULE_ACTIONS = {
    "POST": "CreateSchedule",
    "DELETE": "DeleteSchedule",
    "GET": "GetSchedule",
    "PUT": "UpdateSchedule",
}


def _scheduler_needs(method: str, path: str, query: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    match = re.fullmatch(r"/schedules/([^/]+)", path)
    if match is None:
        return [(f"scheduler:{method}{path}", "*")]
    name = unquote(match.group(1))
    group = body.get("GroupName") or (parse_qs(query).get("groupName") or ["default"])[0]
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/{group}/{name}"
    return [(f"scheduler:{_SCHEDULE_ACTIONS.get(method, method)}", arn)]


_CLOUDWATCH = "GraniteServiceVersion20100801"


def caller_of(environ: dict[str, Any]) -> str | None:
    """The access key id a WSGI request is signed with (a function's logical id), if it is signed."""
    found = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found.group(1) if found else None


def json_object(body: bytes) -> dict[str, Any] | None:
    """A request's body as a JSON object; None when it is empty, not JSON or not an object."""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def request_of(environ: dict[str, Any], caller: str, payload: dict[str, Any]) -> Request:
    """What the caller's call needs, from the WSGI request and its body's JSON (json_object; {} if none)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_"):
        needs = _dynamodb_needs(target.split(".", 1)[1], payload)
    elif target.startswith("AmazonSQS."):
        needs = _sqs_needs(target.split(".", 1)[1], payload)
    elif target.startswith("secretsmanager."):
        needs = [(f"secretsmanager:{target.split('.', 1)[1]}", str(payload.get("SecretId", "*")))]
    elif target.startswith(_CLOUDWATCH + ".") or environ.get("PATH_INFO", "").startswith(f"/service/{_CLOUDWATCH}/"):
        # CloudWatch, in its JSON or its Smithy RPC v2 CBOR protocol: no resource-level permissions.
        operation = target.split(".", 1)[1] if target else environ["PATH_INFO"].rsplit("/", 1)[-1]
        needs = [(f"cloudwatch:{operation}", "*")]
    elif "/scheduler/" in environ.get("HTTP_AUTHORIZATION", ""):
        path, query = environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
        needs = _scheduler_needs(environ.get("REQUEST_METHOD", "GET"), path, query, payload)
    else:
        needs = [(f"unknown:{target or environ.get('PATH_INFO', '?')}", "*")]
    return Request(caller, tuple(needs))


def denied(grants: dict[str, list[Grant]], request: Request) -> tuple[str, str] | None:
    """The first (action, resource) the caller's policies do not allow; None if all are allowed.

    A caller that is not a function of the template is not checked.
    """
    own = grants.get(request.caller)
    if own is None:
        return None
    for action, resource in request.needs:
        if not any(grant.allows(action, resource) for grant in own):
            return action, resource
    return None


def grants_to_json(grants: dict[str, list[Grant]]) -> dict[str, list[dict[str, list[str]]]]:
    return {
        caller: [{"actions": list(g.actions), "resources": list(g.resources)} for g in own]
        for caller, own in grants.items()
    }


def grants_from_json(data: dict[str, Any]) -> dict[str, list[Grant]]:
    return {caller: [Grant(tuple(g["actions"]), tuple(g["resources"])) for g in own] for caller, own in data.items()}


def access_denied(request: Request, action: str, resource: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status, headers and body AWS answers a call no policy allows (botocore reads the error code)."""
    service = action.split(":", 1)[0]
    code = "AccessDenied" if service == "sqs" else "AccessDeniedException"
    message = (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{request.caller}/local is not authorized to perform: "
        f"{action} on resource: {resource} because no identity-based policy allows the {action} action"
    )
    body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
    status = "400 Bad Request" if service == "dynamodb" else "403 Forbidden"
    content_type = "application/x-amz-json-1.0" if service in ("dynamodb", "sqs") else "application/json"
    headers = [("Content-Type", content_type), ("x-amzn-ErrorType", code), ("Content-Length", str(len(body)))]
    return status, headers, body
