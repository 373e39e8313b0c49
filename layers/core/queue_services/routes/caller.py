"""Who is calling: the principal the authorizer put in the current request's context."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services.tenancy import Principal, principal_of


def caller(router: APIGatewayRouter) -> Principal:
    return principal_of(router.current_event.raw_event)
