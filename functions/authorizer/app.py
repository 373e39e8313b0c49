"""authorizer function: API Gateway TOKEN authorizer turning the x-api-key header into a workspace or admin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from queue_services import composition
from queue_services.observability import logger
from queue_services.settings import get_settings
from queue_services.tenancy import authorize

get_settings()  # fail the cold start, not the first request, if the environment is wrong


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    api_key = str(event.get("authorizationToken") or "")
    policy = authorize(composition.api_key_store(), api_key, event["methodArn"], datetime.now(UTC))
    if policy is None:
        # The exact message API Gateway turns into a 401.
        raise Exception("Unauthorized")
    return policy
