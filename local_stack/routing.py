"""API Gateway routing for the local stack: template routes, REST proxy events (v1), Lambda authorizers."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from local_stack.runtime import FunctionError, LocalFunction
from local_stack.template import ACCOUNT_ID, REGION, resources_of_type

log = logging.getLogger("local_stack.gateway")

_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    resource: str  # the template path, e.g. /api/messages/{messageId}
    function_id: str
    authorizer_id: str | None  # logical id of the authorizer function, if the route has one
    authorizer_type: str | None  # TOKEN or REQUEST
    identity_header: str | None
    pattern: re.Pattern[str]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        return None if found is None else found.groupdict()


def _path_pattern(resource: str) -> re.Pattern[str]:
    def param(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith("+"):
            return f"(?P<{name[:-1]}>.+)"
        return f"(?P<{name}>[^/]+)"

    parts = re.split(r"(\{[^}]+\})", resource)
    regex = "".join(
        param(re.fullmatch(r"\{([^}]+)\}", part)) if part.startswith("{") else re.escape(part)  # type: ignore[arg-type]
        for part in parts
    )
    return re.compile(regex)


def routes_from_template(template: dict[str, Any]) -> list[Route]:
    """Every `Type: Api` event of every function, with the authorizer that guards it."""
    apis = resources_of_type(template, "AWS::Serverless::Api")
    routes: list[Route] = []
    for function_id, spec in resources_of_type(template, "AWS::Serverless::Function").items():
        for event in spec.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "Api":
                continue
            props = event["Properties"]
            api_id = (props.get("RestApiId") or {}).get("Ref")
            api_auth = apis.get(api_id, {}).get("Properties", {}).get("Auth", {}) if api_id else {}
            authorizer_name = (props.get("Auth") or {}).get("Authorizer", api_auth.get("DefaultAuthorizer"))
            authorizer_id = authorizer_type = identity_header = None
            if authorizer_name and authorizer_name != "NONE":
                config = api_auth["Authorizers"][authorizer_name]
                authorizer_id = config["FunctionArn"]["Fn::GetAtt"][0]
                authorizer_type = config.get("FunctionPayloadType", "TOKEN")
                identity = config.get("Identity", {})
                identity_header = identity.get("Header", "Authorization")
                if authorizer_type == "REQUEST":
                    headers = identity.get("Headers") or []
                    identity_header = headers[0] if headers else None
            routes.append(
                Route(
                    method=str(props["Method"]).upper(),
                    resource=props["Path"],
                    function_id=function_id,
                    authorizer_id=authorizer_id,
                    authorizer_type=authorizer_type,
                    identity_header=identity_header,
                    pattern=_path_pattern(props["Path"]),
                )
            )
    # Literal paths win over parameterised ones, as in API Gateway.
    routes.sort(key=lambda route: (route.resource.count("{"), -len(route.resource)))
    return routes


USAGE_PATH = "/_local/invocations"


def _json_response(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")


class ApiRouter:
    """Turns one HTTP request into what API Gateway would answer: route, authorizer, proxy event, handler."""

    def __init__(self, template: dict[str, Any], functions: dict[str, LocalFunction], stage: str = "local") -> None:
        self.routes = routes_from_template(template)
        self.functions = functions
        self.stage = stage

    def resource_of(self, method: str, path: str) -> str:
        """The template path a request's route has (/api/messages/{messageId}); its own path if none."""
        for route in self.routes:
            if route.match(method, path) is not None:
                return route.resource
        return path if path.startswith("/_") else "(no route)"

    def handle(self, request: Request) -> Response:
        if request.path == USAGE_PATH and request.method in ("GET", "DELETE"):
            # Local only (benchmarks): what each function was invoked and billed for; DELETE clears it.
            clear = request.method == "DELETE"
            return _json_response(200, {fid: f.usage_report(clear) for fid, f in self.functions.items()})
        for route in self.routes:
            params = route.match(request.method, request.path)
            if params is not None:
                break
        else:
            # What API Gateway answers for an unknown route or method.
            return _json_response(403, {"message": "Missing Authentication Token"})
        event = self.proxy_event(request, route, params)
        if route.authorizer_id:
            denied = self._authorize(request, route, event)
            if denied is not None:
                return denied
        try:
            result = self.functions[route.function_id].invoke(event)
        except FunctionError as exc:
            log.error("%s failed: %s: %s", route.function_id, exc.error_type, exc)
            return _json_response(502, {"message": "Internal server error"})
        return self._to_response(result)

    def proxy_event(self, request: Request, route: Route, path_params: dict[str, str]) -> dict[str, Any]:
        raw = request.get_data()
        content_type = request.headers.get("Content-Type", "")
        is_text = not raw or any(content_type.startswith(kind) for kind in _TEXT_TYPES) or not content_type
        body: str | None
        if not raw:
            body, encoded = None, False
        elif is_text:
            try:
                body, encoded = raw.decode("utf-8"), False
            except UnicodeDecodeError:
                body, encoded = base64.b64encode(raw).decode(), True
        else:
            body, encoded = base64.b64encode(raw).decode(), True
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query = {key: values[-1] for key, values in request.args.lists()}
        multi_query = {key: values for key, values in request.args.lists()}
        request_id = str(uuid.uuid4())
        return {
            "resource": route.resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "local",
                "resourcePath": route.resource,
                "httpMethod": request.method,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
                "path": f"/{self.stage}{request.path}",
                "accountId": ACCOUNT_ID,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "stage": self.stage,
                "domainPrefix": "localhost",
                "requestTimeEpoch": int(time.time() * 1000),
                "requestId": request_id,
                "identity": {"sourceIp": request.remote_addr or "127.0.0.1", "userAgent": request.user_agent.string},
                "domainName": request.host,
                "apiId": "local",
                "authorizer": None,
            },
            "body": body,
            "isBase64Encoded": encoded,
        }

    def _authorize(self, request: Request, route: Route, event: dict[str, Any]) -> Response | None:
        """Run the route's Lambda authorizer; None to go on, or the 401/403 API Gateway would answer."""
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:local/{self.stage}/{request.method}{route.resource}"
        token = request.headers.get(route.identity_header) if route.identity_header else None
        if route.identity_header and not token:
            return _json_response(401, {"message": "Unauthorized"})
        if route.authorizer_type == "REQUEST":
            auth_event = {**event, "type": "REQUEST", "methodArn": method_arn}
        else:
            auth_event = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
        assert route.authorizer_id is not None
        try:
            policy = self.functions[route.authorizer_id].invoke(auth_event)
        except FunctionError as exc:
            if str(exc) == "Unauthorized":
                return _json_response(401, {"message": "Unauthorized"})
            log.error("authorizer %s failed: %s: %s", route.authorizer_id, exc.error_type, exc)
            return _json_response(500, {"message": None})
        if not _policy_allows(policy, method_arn):
            return _json_response(403, {"message": "User is not authorized to access this resource"})
        context = {key: value for key, value in (policy.get("context") or {}).items()}
        context["principalId"] = policy.get("principalId")
        event["requestContext"]["authorizer"] = context
        return None

    @staticmethod
    def _to_response(result: Any) -> Response:
        if not isinstance(result, dict) or "statusCode" not in result:
            return _json_response(502, {"message": "Internal server error"})
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        response = Response(data, status=int(result["statusCode"]))
        response.headers.pop("Content-Type", None)
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response.headers.pop(name, None)
            for value in values:
                response.headers.add(name, str(value))
        return response


def _policy_allows(policy: Any, method_arn: str) -> bool:
    """True when an Allow statement matches method_arn and no Deny does (wildcards as in IAM)."""
    if not isinstance(policy, dict):
        return False
    statements = (policy.get("policyDocument") or {}).get("Statement") or []
    allowed = False
    for statement in statements:
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        matches = any(re.fullmatch(re.escape(r).replace(r"\*", ".*"), method_arn) for r in resources)
        if not matches:
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed
