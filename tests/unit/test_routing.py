"""The local gateway builds API Gateway REST proxy events and honours authorizers (no network: test requests)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local_stack.routing import ApiRouter, routes_from_template
from local_stack.runtime import LocalFunction
from local_stack.template import load_template


def fake_function(logical_id: str, handler: Any) -> LocalFunction:
    return LocalFunction.in_process(logical_id, handler)


def request(method: str, path: str, **kwargs: Any) -> Request:
    return Request(EnvironBuilder(method=method, path=path, **kwargs).get_environ())


TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Api": {
            "Type": "AWS::Serverless::Api",
            "Properties": {
                "Auth": {
                    "DefaultAuthorizer": "KeyAuth",
                    "Authorizers": {
                        "KeyAuth": {
                            "FunctionArn": {"Fn::GetAtt": ["AuthFunction", "Arn"]},
                            "FunctionPayloadType": "REQUEST",
                            "Identity": {"Headers": ["x-api-key"]},
                        }
                    },
                }
            },
        },
        "AuthFunction": {"Type": "AWS::Serverless::Function", "Properties": {}},
        "ApiFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Events": {
                    "Get": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": {"Ref": "Api"},
                            "Path": "/api/messages/{messageId}",
                            "Method": "get",
                        },
                    },
                    "Literal": {
                        "Type": "Api",
                        "Properties": {"RestApiId": {"Ref": "Api"}, "Path": "/api/messages/latest", "Method": "get"},
                    },
                    "Health": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": {"Ref": "Api"},
                            "Path": "/health",
                            "Method": "get",
                            "Auth": {"Authorizer": "NONE"},
                        },
                    },
                    "Proxy": {
                        "Type": "Api",
                        "Properties": {"RestApiId": {"Ref": "Api"}, "Path": "/files/{proxy+}", "Method": "any"},
                    },
                }
            },
        },
    }
}


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}


def key_authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # WSGI does not keep a header's spelling (x-api-key arrives as X-Api-Key): look it up case-insensitively.
    key = {name.lower(): value for name, value in event["headers"].items()}.get("x-api-key")
    if key == "bad":
        raise Exception("Unauthorized")
    effect = "Allow" if key == "good" else "Deny"
    return {
        "principalId": "workspace-1",
        "policyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Resource": event["methodArn"]}]},
        "context": {"workspaceId": "workspace-1", "admin": "false"},
    }


@pytest.fixture
def gateway() -> ApiRouter:
    functions = {
        "ApiFunction": fake_function("ApiFunction", echo),
        "AuthFunction": fake_function("Auth", key_authorizer),
    }
    return ApiRouter(TEMPLATE, functions, stage="local")


def test_proxy_event_carries_the_request(gateway: ApiRouter) -> None:
    response = gateway.handle(
        request("GET", "/api/messages/abc-123", query_string="a=1&a=2&b=x", headers={"x-api-key": "good"})
    )
    assert response.status_code == 200
    event = json.loads(response.get_data())
    assert event["resource"] == "/api/messages/{messageId}"
    assert event["path"] == "/api/messages/abc-123"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"messageId": "abc-123"}
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["headers"]["X-Api-Key"] == "good"
    assert event["multiValueHeaders"]["X-Api-Key"] == ["good"]
    context = event["requestContext"]
    assert context["stage"] == "local"
    assert context["requestId"]
    assert context["identity"]["sourceIp"]
    assert context["authorizer"] == {"workspaceId": "workspace-1", "admin": "false", "principalId": "workspace-1"}
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_literal_paths_win_over_parameters(gateway: ApiRouter) -> None:
    event = json.loads(gateway.handle(request("GET", "/api/messages/latest", headers={"x-api-key": "good"})).get_data())
    assert event["resource"] == "/api/messages/latest"


def test_greedy_proxy_and_binary_bodies(gateway: ApiRouter) -> None:
    raw = bytes(range(256))
    response = gateway.handle(
        request(
            "PUT",
            "/files/a/b/c.bin",
            data=raw,
            headers={"x-api-key": "good", "Content-Type": "application/octet-stream"},
        )
    )
    event = json.loads(response.get_data())
    assert event["pathParameters"] == {"proxy": "a/b/c.bin"}
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_json_bodies_pass_as_text(gateway: ApiRouter) -> None:
    response = gateway.handle(
        request(
            "GET", "/api/messages/x", data='{"a": 1}', headers={"x-api-key": "good", "Content-Type": "application/json"}
        )
    )
    event = json.loads(response.get_data())
    assert (event["body"], event["isBase64Encoded"]) == ('{"a": 1}', False)


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"x-api-key": "bad"}, 401), ({"x-api-key": "other"}, 403)])
def test_authorizer_answers_like_api_gateway(gateway: ApiRouter, headers: dict[str, str], status: int) -> None:
    assert gateway.handle(request("GET", "/api/messages/1", headers=headers)).status_code == status


def test_routes_without_authorizer_skip_it(gateway: ApiRouter) -> None:
    assert gateway.handle(request("GET", "/health")).status_code == 200


def test_unknown_routes_and_methods_are_403_missing_token(gateway: ApiRouter) -> None:
    for method, path in (("GET", "/nope"), ("DELETE", "/health")):
        response = gateway.handle(request(method, path, headers={"x-api-key": "good"}))
        assert response.status_code == 403
        assert json.loads(response.get_data()) == {"message": "Missing Authentication Token"}


def test_handler_crash_is_a_502(gateway: ApiRouter) -> None:
    def boom(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    gateway.functions["ApiFunction"] = fake_function("ApiFunction", boom)
    assert gateway.handle(request("GET", "/health")).status_code == 502


def test_routes_of_the_real_template() -> None:
    routes = {(r.method, r.resource): r.function_id for r in routes_from_template(load_template())}
    assert routes[("POST", "/api/schedule-sms")] == "ApiFunction"
    assert routes[("GET", "/health")] == "ApiFunction"
