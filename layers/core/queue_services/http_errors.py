"""The one place errors become HTTP answers: 422 bodies name each bad field, never echoing its value."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from queue_services.errors import DependencyUnavailable, RequestError
from queue_services.observability import logger
from queue_services.request_guards import JSON_ONLY, Refusal

_LOCATIONS = ("body", "path", "query", "header")


def _field_name(loc: list[Any]) -> str:
    """["body", "phoneNumber"] -> "phoneNumber"; ["path", "channel"] -> "channel"."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or (str(loc[0]) if loc else "body")


def _json(status: int, message: str, detail: list[dict[str, Any]] | None = None) -> Response[Any]:
    body: dict[str, Any] = {"statusCode": status, "message": message}
    if detail is not None:
        body["detail"] = detail
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def validation_error_response(errors: list[dict[str, Any]]) -> Response[Any]:
    detail = []
    for error in errors:
        loc = list(error.get("loc", ()))
        msg = error.get("msg") or error.get("type", "invalid")
        if error.get("type") == "json_invalid":
            loc, msg = ["body"], "body must be a JSON object"
        detail.append({"loc": loc, "field": _field_name(loc), "type": error.get("type", "value_error"), "msg": msg})
    fields = ", ".join(dict.fromkeys(item["field"] for item in detail))
    return _json(422, f"invalid request: {fields}", detail)


# Fields that are request headers, not body fields: their errors are located in the header.
_HEADER_FIELDS = frozenset({"Content-Type", "Idempotency-Key"})


# Methods whose requests carry no body: a field they are refused for is a query parameter (or in the path).
_BODILESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


def field_location(field: str, method: str, route: str) -> str:
    """Where a refused field was given: a header, a parameter of the route's path (`/api/x/{field}`), the
    query string (a request without a body) or the body."""
    if field in _HEADER_FIELDS:
        return "header"
    if f"{{{field}}}" in route:
        return "path"
    return "query" if method.upper() in _BODILESS_METHODS else "body"


def _problem(status: int, field: str, message: str, location: str | None = None) -> dict[str, Any]:
    """The JSON body of a refusal naming one field (the body itself, a body field, a header, or where
    location says)."""
    location = location or ("header" if field in _HEADER_FIELDS else "body")
    loc = [location] if field == location else [location, field]
    detail = [{"loc": loc, "field": field, "type": "value_error", "msg": message}]
    return {"statusCode": status, "message": f"{field}: {message}", "detail": detail}


def _field_response(status: int, field: str, message: str, location: str | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=_problem(status, field, message, location),
    )


def refusal_answer(refusal: Refusal, extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A request refused before routing, as the proxy result API Gateway expects (CORS headers as extra)."""
    body = _problem(refusal.status, refusal.field, refusal.message)
    headers = {"Content-Type": "application/json", **(extra_headers or {})}
    return {"statusCode": refusal.status, "headers": headers, "body": json.dumps(body)}


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[Any]:
        return validation_error_response(list(exc.errors()))

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_type(exc: RequestUnsupportedContentType) -> Response[Any]:
        # A type the guards let through (text/plain, ...): Powertools' own 415 body names nothing.
        return _field_response(415, "Content-Type", JSON_ONLY)

    @app.exception_handler(RequestError)
    def _request_error(exc: RequestError) -> Response[Any]:
        if exc.field is None:
            return _json(exc.status_code, exc.message)
        try:
            route = app.request.route  # the matched route's path, e.g. /api/admin/keys/{keyId}
        except RuntimeError:  # raised before a route matched
            route = ""
        location = field_location(exc.field, app.current_event.http_method, route)
        return _field_response(exc.status_code, exc.field, exc.message, location)

    @app.exception_handler(RecursionError)
    def _too_deep(exc: RecursionError) -> Response[Any]:
        return _field_response(400, "body", "JSON nested too deeply")

    @app.exception_handler(IdempotencyValidationError)
    def _other_body(exc: IdempotencyValidationError) -> Response[Any]:
        return _field_response(422, "Idempotency-Key", "this key was used with another body in the last 24 hours")

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def _in_progress(exc: IdempotencyAlreadyInProgressError) -> Response[Any]:
        return _json(409, "Idempotency-Key: a request with this key is still being processed; retry shortly")

    @app.exception_handler(IdempotencyPersistenceLayerError)
    def _idempotency_store(exc: IdempotencyPersistenceLayerError) -> Response[Any]:
        logger.error("idempotency store unavailable", extra={"error": type(exc).__name__})
        return _json(503, "service temporarily unavailable, retry later")

    @app.exception_handler(DependencyUnavailable)
    def _unavailable(exc: DependencyUnavailable) -> Response[Any]:
        logger.error("dependency unavailable", extra={"error": str(exc)})
        return _json(503, "service temporarily unavailable, retry later")
