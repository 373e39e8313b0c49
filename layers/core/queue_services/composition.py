"""Builds the service objects from settings once per process (first use, not import, to keep cold starts lean)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from queue_services.aws_clients import aws_client
from queue_services.channels import Channel
from queue_services.dead_letters import DeadLetterQueue
from queue_services.intake import MessageIntake
from queue_services.ledger import Ledger
from queue_services.metrics import MetricsStore
from queue_services.queueing import SendQueue
from queue_services.schedules import ScheduleStore
from queue_services.settings import get_settings
from queue_services.tenancy import ApiKeyStore

if TYPE_CHECKING:
    from queue_services.ratelimit import DynamoDbSlotClaimer
    from queue_services.worker import ChannelWorker


@cache
def send_queue(channel: Channel) -> SendQueue:
    return SendQueue(aws_client("sqs"), get_settings().queue_url(channel))


@lru_cache(maxsize=1)
def metrics_store() -> MetricsStore:
    return MetricsStore(aws_client("dynamodb"), get_settings().metrics_table_name)


@cache
def dead_letter_queue(channel: Channel) -> DeadLetterQueue:
    settings = get_settings()
    return DeadLetterQueue(
        aws_client("sqs"), channel, settings.dead_letter_queue_url(channel), settings.queue_url(channel)
    )


@lru_cache(maxsize=1)
def api_key_store() -> ApiKeyStore:
    return ApiKeyStore(aws_client("dynamodb"), get_settings().api_keys_table_name)


@lru_cache(maxsize=1)
def ledger() -> Ledger:
    settings = get_settings()
    return Ledger(aws_client("dynamodb"), settings.ledger_table_name, settings.ledger_retention_days)


@lru_cache(maxsize=1)
def schedule_store() -> ScheduleStore:
    settings = get_settings()
    return ScheduleStore(
        aws_client("scheduler"),
        groups={Channel.SMS: settings.sms_schedule_group, Channel.EMAIL: settings.email_schedule_group},
        queue_urls={channel: settings.queue_url(channel) for channel in Channel},
        role_arn=settings.scheduler_role_arn,
    )


@lru_cache(maxsize=1)
def message_intake() -> MessageIntake:
    return MessageIntake(
        {channel: send_queue(channel) for channel in Channel},
        ledger(),
        schedule_store(),
        get_settings().max_sqs_delay_seconds,
    )


def provider_token(secret_arn: str) -> Callable[[], str | None] | None:
    """Reads the provider bearer token from Secrets Manager, cached for five minutes; None if not configured."""
    if not secret_arn:
        return None
    from aws_lambda_powertools.utilities import parameters  # only functions with a token pay for this import

    return lambda: str(parameters.get_secret(secret_arn, max_age=300))


@cache
def slot_claimer(channel: Channel) -> DynamoDbSlotClaimer:
    from queue_services.ratelimit import DynamoDbSlotClaimer, SlotPlan

    settings = get_settings()
    plan = SlotPlan.for_rate(settings.rate_per_second(channel))
    return DynamoDbSlotClaimer(aws_client("dynamodb"), settings.rate_limit_table_name, str(channel), plan)


@cache
def channel_worker(channel: Channel) -> ChannelWorker:
    # Imported here: only the workers send, and the api and authorizer cold starts need not load Powertools
    # Idempotency, requests or the sending modules.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    from queue_services.delivery import BatchSender, make_send_once
    from queue_services.idempotency_store import BatchingDynamoDBPersistenceLayer
    from queue_services.providers import ProviderClient, new_session
    from queue_services.ratelimit import SharedRateLimiter
    from queue_services.retry import RetryPolicy
    from queue_services.worker import ChannelWorker, RetryQueues

    settings = get_settings()
    client = ProviderClient(
        settings.provider_url(channel),
        # One invocation per execution environment: one connection per sending thread.
        new_session(settings.provider_max_workers),
        settings.provider_connect_timeout,
        settings.provider_read_timeout,
        provider_token(settings.provider_token_secret_arn),
    )
    persistence = BatchingDynamoDBPersistenceLayer(
        table_name=settings.idempotency_table_name, boto3_client=aws_client("dynamodb")
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="messageId",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=settings.idempotency_expiry_seconds,
    )
    send_once = idempotent_function(
        data_keyword_argument="payload",
        persistence_store=persistence,
        config=idempotency,
        key_prefix=f"send-{channel}",
    )(make_send_once(client.send, settings.retry_base_seconds))
    claimer = slot_claimer(channel)
    sender = BatchSender(send_once, lambda demand: SharedRateLimiter(claimer, demand), settings.provider_max_workers)
    queues = RetryQueues(
        send=send_queue(channel),
        dead_letter=SendQueue(aws_client("sqs"), settings.dead_letter_queue_url(channel)),
        max_receive_count=settings.max_receive_count,
    )
    return ChannelWorker(
        channel,
        sender,
        metrics_store(),
        queues,
        RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds, settings.retry_max_attempts),
        safety_margin_seconds=settings.provider_connect_timeout + settings.provider_read_timeout + 1.0,
        ledger=ledger(),
        # In-progress idempotency records then expire with the invocation, well inside the visibility timeout.
        on_invocation=idempotency.register_lambda_context,
    )


def reset() -> None:
    """Forget every built object (tests change settings and moto contexts between cases)."""
    for cached in (
        send_queue,
        metrics_store,
        api_key_store,
        dead_letter_queue,
        ledger,
        schedule_store,
        message_intake,
        slot_claimer,
        channel_worker,
        get_settings,
    ):
        cached.cache_clear()
