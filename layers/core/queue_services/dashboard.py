"""GET /api/admin/queues: what the queue dashboard (/admin/queues) shows, for the admin key or one workspace.

An admin sees everything: queues, schedule groups, channels' last 30 minutes, every workspace, recent
broadcasts. A workspace key sees its own workspace only (its counters, settings and broadcasts), nothing
queue-wide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Protocol

from pydantic import Field

from queue_services.adapters.broadcasts import BroadcastRecord
from queue_services.adapters.ledger import MessageRecord
from queue_services.broadcasts import BroadcastView
from queue_services.channels import Channel
from queue_services.models import CamelModel, Counters, MetricsResponse, MinuteCounts, QueueDepth
from queue_services.scheduling import iso_utc
from queue_services.tenancy import Principal
from queue_services.workspaces import WorkspaceSettings

CHART_MINUTES = 30
NEXT_DUE = 5
RECENT_BROADCASTS = 8


class ScheduledEntry(CamelModel):
    message_id: str
    workspace_id: str
    send_at: str


class ScheduleGroupView(CamelModel):
    group: str
    channel: str
    scheduled: int = Field(description="single messages waiting in the group (a broadcast has one schedule)")
    next_due: list[ScheduledEntry]


class ChannelView(CamelModel):
    channel: str
    rate_per_second: float = Field(description="the configured rate")
    minutes: list[MinuteCounts] = Field(description="the last 30 minutes, oldest first")


class WorkspaceChannelView(Counters):
    success_rate: float | None = Field(description="success / total; null before any outcome")
    per_second_cap: float | None = None


class WorkspaceView(CamelModel):
    workspace_id: str
    paused: bool
    sms: WorkspaceChannelView
    email: WorkspaceChannelView


class QueueOverview(CamelModel):
    """GET /api/admin/queues."""

    generated_at: str
    scope: str = Field(description="admin, or workspace (then only workspaceId's own figures)")
    workspace_id: str | None = None
    read_only: bool = Field(description="the dashboard's write routes answer 405")
    queues: list[QueueDepth]
    schedule_groups: list[ScheduleGroupView]
    channels: list[ChannelView]
    workspaces: list[WorkspaceView]
    broadcasts: list[BroadcastView]


class Depths(Protocol):
    def depths(self, now: datetime) -> list[QueueDepth]: ...


class Counts(Protocol):
    def read(self, now: datetime, workspace_id: str | None = None) -> MetricsResponse: ...

    def minutes(self, channel: Channel, now: datetime, count: int) -> list[MinuteCounts]: ...


class Scheduled(Protocol):
    def scheduled(self, channel: str, next_count: int) -> tuple[int, list[MessageRecord]]: ...


class SettingsSource(Protocol):
    def get(self, workspace_id: str) -> WorkspaceSettings | None: ...

    def all(self) -> list[WorkspaceSettings]: ...


class BroadcastSource(Protocol):
    def recent(self, limit: int) -> list[BroadcastRecord]: ...

    def list_for_workspace(
        self, workspace_id: str, limit: int, cursor: str | None
    ) -> tuple[list[BroadcastRecord], str | None]: ...


def success_rate(counters: Counters) -> float | None:
    return None if counters.total == 0 else round(counters.success / counters.total, 4)


def workspace_view(workspace_id: str, metrics: MetricsResponse, settings: WorkspaceSettings | None) -> WorkspaceView:
    stored = settings or WorkspaceSettings(workspace_id)

    def channel(name: Channel) -> WorkspaceChannelView:
        counters = getattr(metrics, name).workspaces.get(workspace_id, Counters())
        return WorkspaceChannelView(
            **counters.model_dump(), success_rate=success_rate(counters), per_second_cap=stored.cap(name)
        )

    return WorkspaceView(
        workspace_id=workspace_id, paused=stored.paused, sms=channel(Channel.SMS), email=channel(Channel.EMAIL)
    )


class QueueDashboard:
    """Gathers the overview's parts in parallel (each is one or a few AWS calls)."""

    def __init__(
        self,
        queues: Depths,
        counts: Counts,
        scheduled: Scheduled,
        settings: SettingsSource,
        broadcasts: BroadcastSource,
        progress: Callable[[str, Principal], BroadcastView],
        groups: Mapping[Channel, str],
        rates: Mapping[Channel, float],
        read_only: bool,
    ) -> None:
        self._queues = queues
        self._counts = counts
        self._scheduled = scheduled
        self._settings = settings
        self._broadcasts = broadcasts
        self._progress = progress
        self._groups = groups
        self._rates = rates
        self._read_only = read_only

    def overview(self, principal: Principal, now: datetime) -> QueueOverview:
        own = principal.visible_workspace()
        with ThreadPoolExecutor(max_workers=6, thread_name_prefix="overview") as pool:
            metrics = pool.submit(self._counts.read, now, own)
            broadcasts = pool.submit(self._recent_broadcasts, principal, own)
            if own is None:
                queues = pool.submit(self._queues.depths, now)
                groups = pool.submit(self._schedule_groups)
                channels = pool.submit(self._channels, now)
                every_setting = pool.submit(self._settings.all)
            workspaces = self._workspaces(metrics.result(), own, None if own else every_setting.result())
            return QueueOverview(
                generated_at=iso_utc(now),
                scope="workspace" if own else "admin",
                workspace_id=own,
                read_only=self._read_only,
                queues=[] if own else queues.result(),
                schedule_groups=[] if own else groups.result(),
                channels=[] if own else channels.result(),
                workspaces=workspaces,
                broadcasts=broadcasts.result(),
            )

    def _workspaces(
        self, metrics: MetricsResponse, own: str | None, every_setting: list[WorkspaceSettings] | None
    ) -> list[WorkspaceView]:
        if own is not None:
            return [workspace_view(own, metrics, self._settings.get(own))]
        by_id = {s.workspace_id: s for s in every_setting or []}
        ids = set(by_id) | set(metrics.sms.workspaces) | set(metrics.email.workspaces)
        return [workspace_view(ws, metrics, by_id.get(ws)) for ws in sorted(ids)]

    def _schedule_groups(self) -> list[ScheduleGroupView]:
        views = []
        for channel, group in self._groups.items():
            count, due = self._scheduled.scheduled(channel, NEXT_DUE)
            views.append(
                ScheduleGroupView(
                    group=group,
                    channel=channel,
                    scheduled=count,
                    next_due=[
                        ScheduledEntry(message_id=r.message_id, workspace_id=r.workspace_id, send_at=iso_utc(r.send_at))
                        for r in due
                    ],
                )
            )
        return views

    def _channels(self, now: datetime) -> list[ChannelView]:
        return [
            ChannelView(
                channel=channel,
                rate_per_second=self._rates[channel],
                minutes=self._counts.minutes(channel, now, CHART_MINUTES),
            )
            for channel in Channel
        ]

    def _recent_broadcasts(self, principal: Principal, own: str | None) -> list[BroadcastView]:
        if own is None:
            records = self._broadcasts.recent(RECENT_BROADCASTS)
        else:
            records, _ = self._broadcasts.list_for_workspace(own, RECENT_BROADCASTS, None)
        return [self._progress(record.broadcast_id, principal) for record in records]
