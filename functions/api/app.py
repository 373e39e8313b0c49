"""api function: the HTTP routes of DESIGN §3 (queue_services.routes), assembled into one resolver."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from queue_services import composition
from queue_services.api import build_api
from queue_services.cors import cors_config, cors_headers
from queue_services.http_errors import refusal_answer
from queue_services.observability import logger, tracer
from queue_services.request_guards import check_request
from queue_services.settings import get_settings

settings = get_settings()  # fail the cold start, not the first request, if the environment is wrong

# The recipients' hash key (Secrets Manager) is read by the first request that hashes a recipient and kept
# for the environment (composition.recipient_hasher). Read here, its client and call were 80-150 ms of
# INIT: 1.35-1.37x the bare imports against the 1.3x DESIGN §6 allows (1.14-1.25x without;
# bench/RESULTS.md, "Cold start").

cors = cors_config(settings.cors_allowed_origins)
app = build_api(cors, docs=settings.api_docs_enabled)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Idempotency-Key records in progress expire with this invocation if it dies mid-request.
    composition.idempotent_intake().config.register_lambda_context(context)
    refusal = check_request(event)
    if refusal is not None:
        return refusal_answer(refusal, cors_headers(cors, event))
    return app.resolve(event, context)
