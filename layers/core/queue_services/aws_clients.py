"""boto3 clients, created once per process on first use (AWS_ENDPOINT_URL redirects them locally)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from queue_services.errors import DependencyUnavailable

# Standard retry mode with a few attempts: SQS and DynamoDB throttles are retried by the SDK, not by us.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=64)


@cache
def aws_client(service: str) -> Any:
    """The shared client for service ('sqs', 'dynamodb', ...)."""
    return boto3.session.Session().client(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests switch moto contexts and endpoints between cases)."""
    aws_client.cache_clear()


def call_aws(client: Any, operation: str, purpose: str, **kwargs: Any) -> dict[str, Any]:
    """client.<operation>(**kwargs), with SDK failures raised as DependencyUnavailable naming the purpose."""
    try:
        result: dict[str, Any] = getattr(client, operation)(**kwargs)
    except (BotoCoreError, ClientError) as exc:
        raise DependencyUnavailable(f"{purpose} {operation}: {type(exc).__name__}") from exc
    return result


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ('ConditionalCheckFailedException', ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))
