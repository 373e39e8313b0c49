"""email_worker function: consumes send-email-queue and sends through the email provider."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from queue_services import worker_composition
from queue_services.channels import Channel
from queue_services.observability import logger, metrics, tracer
from queue_services.settings import get_settings

get_settings()  # fail the cold start, not the first message, if the environment is wrong


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return worker_composition.channel_worker(Channel.EMAIL).process(event, context)
