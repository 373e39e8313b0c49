"""Builds a worker's objects (provider client, idempotency, rate limiter, ChannelWorker) once per environment.

Only the workers import this module, at their INIT: Powertools Idempotency, requests and the sending modules
load there, not in the first batch, and the api and authorizer never load them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache, partial

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

from queue_services.adapters.aws import aws_client
from queue_services.adapters.idempotency_store import BatchingDynamoDBPersistenceLayer
from queue_services.adapters.rate_limit_table import DynamoDbSlotClaimer
from queue_services.adapters.send_queue import SendQueue
from queue_services.adapters.settlement import Settlement
from queue_services.channels import Channel
from queue_services.composition import (
    broadcast_store,
    bulk_queue,
    ledger,
    metrics_store,
    send_queue,
    workspace_settings_store,
)
from queue_services.delivery import BatchSender, make_send_once
from queue_services.fanout import BroadcastFanout
from queue_services.providers import ProviderClient, new_session
from queue_services.ratelimit import (
    BULK_BEHIND_HORIZON_SECONDS,
    BULK_HORIZON_SECONDS,
    ClaimLatency,
    ProviderPushback,
    SharedRateLimiter,
    SlotPlan,
)
from queue_services.retry import RetryPolicy
from queue_services.segments import rate_tokens
from queue_services.settings import get_settings
from queue_services.worker import ChannelWorker, RetryQueues
from queue_services.workspaces import SettingsCache


def provider_token(secret_arn: str) -> Callable[[], str | None] | None:
    """Reads the provider bearer token from Secrets Manager, cached for five minutes; None if not configured."""
    if not secret_arn:
        return None
    from aws_lambda_powertools.utilities import parameters  # only functions with a token pay for this import

    return lambda: str(parameters.get_secret(secret_arn, max_age=300))


@cache
def slot_claimer(channel: Channel) -> DynamoDbSlotClaimer:
    settings = get_settings()
    plan = SlotPlan.for_rate(settings.rate_per_second(channel))
    return DynamoDbSlotClaimer(aws_client("dynamodb"), settings.rate_limit_table_name, str(channel), plan)


@cache
def workspace_claimer(channel: Channel, workspace_id: str, cap: float) -> DynamoDbSlotClaimer:
    """A capped workspace's own slots (its key beside the channel's), kept for the environment's life."""
    plan = SlotPlan.for_rate(cap)
    table = get_settings().rate_limit_table_name
    return DynamoDbSlotClaimer(aws_client("dynamodb"), table, f"{channel}#workspace#{workspace_id}", plan)


def places_in_line(claimer: DynamoDbSlotClaimer, count: int) -> list[float]:
    """Seconds until each of count capped messages handed back now should return: their places in the
    workspace's waiting line."""
    now = time.time()
    return [place - now for place in claimer.places_in_line(now, claimer.plan.slot_seconds, count)]


@cache
def channel_worker(channel: Channel) -> ChannelWorker:
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
    )(make_send_once(client.send))
    claimer = slot_claimer(channel)
    # The environment's memory of recent 429s outlives each batch's limiter; without Retry-After, pause
    # for the first retry's delay.
    pushback = ProviderPushback(claimer, settings.retry_base_seconds)
    latency = ClaimLatency()  # how long this environment's channel claims take, across batches
    sender = BatchSender(
        send_once,
        lambda demand: SharedRateLimiter(claimer, demand, pushback, latency=latency),
        settings.provider_max_workers,
        tokens_for=partial(rate_tokens, unit=settings.sms_rate_unit),
        new_workspace_limiter=lambda workspace, cap, demand: SharedRateLimiter(
            workspace_claimer(channel, workspace, cap), demand
        ),
        cap_line=lambda workspace, cap, count: places_in_line(workspace_claimer(channel, workspace, cap), count),
        workspace_claimer=partial(workspace_claimer, channel),
        channel_plan=claimer.plan,
        new_bulk_limiter=lambda demand: SharedRateLimiter(
            claimer,
            demand,
            pushback,
            horizon=BULK_HORIZON_SECONDS,
            latency=latency,
            behind_horizon=BULK_BEHIND_HORIZON_SECONDS,
        ),
    )
    queues = RetryQueues(
        send=send_queue(channel),
        dead_letter=SendQueue(aws_client("sqs"), settings.dead_letter_queue_url(channel)),
        max_receive_count=settings.max_receive_count,
    )
    bulk_queues = RetryQueues(
        send=bulk_queue(channel),
        dead_letter=SendQueue(aws_client("sqs"), settings.bulk_dead_letter_queue_url(channel)),
        max_receive_count=settings.max_receive_count,
        bulk=True,
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
        workspace_settings=SettingsCache(workspace_settings_store()),
        other_queues=[bulk_queues],
        broadcasts=broadcast_store(),
        settlement=Settlement(
            aws_client("dynamodb"), settings.ledger_table_name, metrics_store(), settings.broadcasts_table_name
        ),
        fanout=BroadcastFanout(ledger(), broadcast_store(), bulk_queue(channel)),
    )
