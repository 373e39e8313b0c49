"""Builds the service objects from settings once per execution environment, on first use (the workers' own
objects are in worker_composition, which the api and authorizer never load)."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import TYPE_CHECKING

from queue_services.adapters.api_keys import ApiKeyStore
from queue_services.adapters.aws import aws_client, call_aws
from queue_services.adapters.broadcasts import BroadcastStore
from queue_services.adapters.dead_letters import DeadLetterQueue
from queue_services.adapters.ledger import Ledger
from queue_services.adapters.metrics_store import MetricsStore
from queue_services.adapters.queue_stats import QueueStats
from queue_services.adapters.schedules import ScheduleStore
from queue_services.adapters.send_queue import SendQueue
from queue_services.adapters.workspace_settings import WorkspaceSettingsStore
from queue_services.broadcasts import BroadcastIntake
from queue_services.channels import Channel
from queue_services.dashboard import QueueDashboard
from queue_services.errors import ReadOnly
from queue_services.intake import MessageIntake
from queue_services.keys import KeyManager
from queue_services.recipients import RecipientHasher
from queue_services.search import MessageSearch
from queue_services.settings import get_settings
from queue_services.workspaces import WorkspaceDirectory

if TYPE_CHECKING:
    from queue_services.request_idempotency import IdempotentIntake


@cache
def send_queue(channel: Channel) -> SendQueue:
    return SendQueue(aws_client("sqs"), get_settings().queue_url(channel))


@cache
def bulk_queue(channel: Channel) -> SendQueue:
    return SendQueue(aws_client("sqs"), get_settings().bulk_queue_url(channel))


@lru_cache(maxsize=1)
def metrics_store() -> MetricsStore:
    return MetricsStore(aws_client("dynamodb"), get_settings().metrics_table_name)


@cache
def dead_letter_queue(channel: Channel, bulk: bool = False) -> DeadLetterQueue:
    """A channel's DLQ of single sends, or with bulk its broadcasts' DLQ; each redrives to its own queue."""
    settings = get_settings()
    if bulk:
        urls = settings.bulk_dead_letter_queue_url(channel), settings.bulk_queue_url(channel)
    else:
        urls = settings.dead_letter_queue_url(channel), settings.queue_url(channel)
    return DeadLetterQueue(aws_client("sqs"), channel, *urls)


@lru_cache(maxsize=1)
def api_key_store() -> ApiKeyStore:
    return ApiKeyStore(aws_client("dynamodb"), get_settings().api_keys_table_name)


@lru_cache(maxsize=1)
def idempotent_intake() -> IdempotentIntake:
    from queue_services.request_idempotency import IdempotentIntake  # Powertools Idempotency: the api only

    return IdempotentIntake(
        message_intake, aws_client("dynamodb"), get_settings().idempotency_table_name, broadcast_intake
    )


@lru_cache(maxsize=1)
def workspace_settings_store() -> WorkspaceSettingsStore:
    return WorkspaceSettingsStore(aws_client("dynamodb"), get_settings().workspaces_table_name)


@lru_cache(maxsize=1)
def workspace_directory() -> WorkspaceDirectory:
    settings = get_settings()
    rates = {channel: settings.rate_per_second(channel) for channel in Channel}
    return WorkspaceDirectory(workspace_settings_store(), rates)


@lru_cache(maxsize=1)
def key_manager() -> KeyManager:
    return KeyManager(api_key_store())


@lru_cache(maxsize=1)
def ledger() -> Ledger:
    settings = get_settings()
    return Ledger(
        aws_client("dynamodb"),
        settings.ledger_table_name,
        settings.ledger_retention_days,
        broadcasts_table=settings.broadcasts_table_name,
    )


@lru_cache(maxsize=1)
def schedule_store() -> ScheduleStore:
    settings = get_settings()
    return ScheduleStore(
        aws_client("scheduler"),
        groups={Channel.SMS: settings.sms_schedule_group, Channel.EMAIL: settings.email_schedule_group},
        queue_urls={channel: settings.queue_url(channel) for channel in Channel},
        role_arn=settings.scheduler_role_arn,
        bulk_queue_urls={channel: settings.bulk_queue_url(channel) for channel in Channel},
    )


@lru_cache(maxsize=1)
def recipient_hasher() -> RecipientHasher | None:
    """The keyed hash of recipients (message search), its key read once from Secrets Manager; None when the
    deployment has no key (then nothing is hashed and a search by recipient is refused)."""
    arn = get_settings().recipient_hash_secret_arn
    if not arn:
        return None
    secret = call_aws(aws_client("secretsmanager"), "get_secret_value", "recipient hash key", SecretId=arn)
    return RecipientHasher(str(secret["SecretString"]).encode())


def recipient_hash(recipient: str) -> str | None:
    hasher = recipient_hasher()
    return None if hasher is None else hasher(recipient)


@lru_cache(maxsize=1)
def message_intake() -> MessageIntake:
    return MessageIntake(
        {channel: send_queue(channel) for channel in Channel},
        ledger(),
        schedule_store(),
        get_settings().max_sqs_delay_seconds,
        recipient_hash,
    )


@lru_cache(maxsize=1)
def broadcast_store() -> BroadcastStore:
    return BroadcastStore(aws_client("dynamodb"), get_settings().broadcasts_table_name)


def workspace_rate(workspace_id: str, channel: Channel) -> float:
    """The most a workspace's messages can go at: its cap, else the channel's rate."""
    settings = get_settings()
    stored = workspace_settings_store().get(workspace_id)
    cap = stored.cap(channel) if stored is not None else None
    return min(cap, settings.rate_per_second(channel)) if cap else settings.rate_per_second(channel)


@lru_cache(maxsize=1)
def broadcast_intake() -> BroadcastIntake:
    return BroadcastIntake(
        {channel: bulk_queue(channel) for channel in Channel},
        ledger(),
        broadcast_store(),
        get_settings().max_sqs_delay_seconds,
        workspace_rate,
        schedule_store(),
        recipient_hash,
    )


@lru_cache(maxsize=1)
def message_search() -> MessageSearch:
    return MessageSearch(ledger(), broadcast_store(), recipient_hasher)


@lru_cache(maxsize=1)
def queue_dashboard() -> QueueDashboard:
    settings = get_settings()
    return QueueDashboard(
        QueueStats(aws_client("sqs"), aws_client("cloudwatch"), settings.queue_urls()),
        metrics_store(),
        ledger(),
        workspace_settings_store(),
        broadcast_store(),
        broadcast_intake().progress,
        groups={Channel.SMS: settings.sms_schedule_group, Channel.EMAIL: settings.email_schedule_group},
        rates={channel: settings.rate_per_second(channel) for channel in Channel},
        read_only=settings.dashboard_read_only,
    )


def require_writable() -> None:
    """The dashboard's write routes refuse (405) in a read-only deployment."""
    if get_settings().dashboard_read_only:
        raise ReadOnly


def reset() -> None:
    """Forget every built object (tests change settings and moto contexts between cases)."""
    from queue_services import worker_composition  # only when loaded: the api does not load it

    for cached in (
        send_queue,
        bulk_queue,
        metrics_store,
        api_key_store,
        key_manager,
        workspace_settings_store,
        workspace_directory,
        idempotent_intake,
        dead_letter_queue,
        ledger,
        schedule_store,
        message_intake,
        broadcast_store,
        broadcast_intake,
        recipient_hasher,
        message_search,
        queue_dashboard,
        worker_composition.slot_claimer,
        worker_composition.workspace_claimer,
        worker_composition.channel_worker,
        get_settings,
    ):
        cached.cache_clear()
