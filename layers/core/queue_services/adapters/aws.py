"""boto3 clients (one per environment, AWS_ENDPOINT_URL redirects them locally) and the one SDK error translation:
every call an adapter makes raises DependencyUnavailable for an SDK failure, never a raw ClientError."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from queue_services.errors import DependencyUnavailable

# BatchWriteItem's limit, and how often items DynamoDB left unprocessed (throttling) are written again.
BATCH_WRITE_LIMIT = 25
UNPROCESSED_RETRIES = 5

# Standard retry mode with a few attempts: SQS and DynamoDB throttles are retried by the SDK, not by us.
# No client-side parameter validation: the services validate every request anyway, and botocore's pass
# over each request's parameters was a large part of the api's CPU while accepting a broadcast (every
# ledger record and queue copy checked field by field). A bad parameter still fails, as a ClientError.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=64, parameter_validation=False)


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


def call_aws_or_refusal(
    client: Any, operation: str, purpose: str, refusal_code: str | tuple[str, ...], **kwargs: Any
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """call_aws, but when AWS refuses with the error code refusal_code (or one of them: a refused condition,
    a cancelled transaction, an expected outcome), (None, the error response) instead of an exception."""
    codes = (refusal_code,) if isinstance(refusal_code, str) else refusal_code
    try:
        result: dict[str, Any] = getattr(client, operation)(**kwargs)
    except ClientError as exc:
        if error_code(exc) in codes:
            return None, dict(exc.response)
        raise DependencyUnavailable(f"{purpose} {operation}: {type(exc).__name__}") from exc
    except BotoCoreError as exc:
        raise DependencyUnavailable(f"{purpose} {operation}: {type(exc).__name__}") from exc
    return result, None


def call_aws_or_none(client: Any, operation: str, purpose: str, none_on: str, **kwargs: Any) -> dict[str, Any] | None:
    """call_aws, but None when AWS answers with the error code none_on (an expected outcome, such as a
    refused condition or a resource that is already gone)."""
    result, _ = call_aws_or_refusal(client, operation, purpose, none_on, **kwargs)
    return result


def write_batches(client: Any, table: str, requests: list[dict[str, Any]], purpose: str) -> None:
    """Every PutRequest/DeleteRequest written, 25 per BatchWriteItem; unprocessed items are written again
    with backoff. DependencyUnavailable if the SDK fails or items are still unprocessed after the retries."""
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending: dict[str, Any] = {table: requests[start : start + BATCH_WRITE_LIMIT]}
        for attempt in range(UNPROCESSED_RETRIES + 1):
            if attempt:
                time.sleep(min(0.05 * 2 ** (attempt - 1), 1.0))
            pending = call_aws(client, "batch_write_item", purpose, RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
        else:
            raise DependencyUnavailable(f"{purpose}: {len(pending.get(table, []))} items unprocessed after retries")


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ('ConditionalCheckFailedException', ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))
