"""Workspace settings: sender IDs, per-workspace caps and pause; read by the api and, cached, by the workers."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from queue_services.channels import Channel
from queue_services.errors import InvalidRequest
from queue_services.models import WorkspaceList, WorkspaceSettingsRequest, WorkspaceSettingsView
from queue_services.tenancy import Principal
from queue_services.times import iso_utc

# How long a worker trusts settings it read: a change (a pause, a resume, a new sender) reaches every
# worker within this many seconds. Short, since a resumed workspace must start sending again promptly.
SETTINGS_TTL_SECONDS = 3.0


@dataclass(frozen=True)
class WorkspaceSettings:
    """What the workers need to know about one workspace (the defaults: nothing set, not paused)."""

    workspace_id: str
    sms_from: str | None = None
    email_from: str | None = None
    sms_per_second: float | None = None
    email_per_second: float | None = None
    paused: bool = False
    updated_at: str | None = None

    def sender(self, channel: Channel) -> str | None:
        return self.sms_from if channel is Channel.SMS else self.email_from

    def cap(self, channel: Channel) -> float | None:
        return self.sms_per_second if channel is Channel.SMS else self.email_per_second


class SettingsStore(Protocol):
    """Where settings live (adapters.workspace_settings.WorkspaceSettingsStore)."""

    def get(self, workspace_id: str) -> WorkspaceSettings | None: ...

    def get_many(self, workspace_ids: Iterable[str]) -> dict[str, WorkspaceSettings]: ...

    def put(self, settings: WorkspaceSettings) -> None: ...

    def all(self) -> list[WorkspaceSettings]: ...


def settings_view(settings: WorkspaceSettings) -> WorkspaceSettingsView:
    return WorkspaceSettingsView(**dataclasses.asdict(settings))


class WorkspaceDirectory:
    """The api's side: read and replace a workspace's settings, list the workspaces that have some."""

    def __init__(
        self,
        store: SettingsStore,
        channel_rates: Mapping[Channel, float],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._rates = channel_rates
        self._clock = clock

    def get(self, workspace_id: str, principal: Principal) -> WorkspaceSettingsView:
        principal.require_workspace(workspace_id)
        return settings_view(self._store.get(workspace_id) or WorkspaceSettings(workspace_id))

    def put(self, workspace_id: str, request: WorkspaceSettingsRequest, principal: Principal) -> WorkspaceSettingsView:
        principal.require_workspace(workspace_id)
        for field, channel, cap in (
            ("smsPerSecond", Channel.SMS, request.sms_per_second),
            ("emailPerSecond", Channel.EMAIL, request.email_per_second),
        ):
            if cap is not None and cap > self._rates[channel]:
                raise InvalidRequest(f"at most the channel's rate, {self._rates[channel]:g} a second", field=field)
        settings = WorkspaceSettings(
            workspace_id=workspace_id,
            sms_from=request.sms_from,
            email_from=request.email_from,
            sms_per_second=request.sms_per_second,
            email_per_second=request.email_per_second,
            paused=request.paused,
            updated_at=iso_utc(self._clock()),
        )
        self._store.put(settings)
        return settings_view(settings)

    def set_paused(self, workspace_id: str, paused: bool, principal: Principal) -> WorkspaceSettingsView:
        """Pause or resume, the other settings kept (the dashboard's buttons)."""
        principal.require_workspace(workspace_id)
        stored = self._store.get(workspace_id) or WorkspaceSettings(workspace_id)
        changed = dataclasses.replace(stored, paused=paused, updated_at=iso_utc(self._clock()))
        self._store.put(changed)
        return settings_view(changed)

    def list(self, principal: Principal) -> WorkspaceList:
        principal.require_admin()
        found = sorted(self._store.all(), key=lambda settings: settings.workspace_id)
        return WorkspaceList(workspaces=[settings_view(settings) for settings in found])


class SettingsCache:
    """A worker environment's copy of the settings of the workspaces it sends for, each kept
    SETTINGS_TTL_SECONDS; a batch's missing or stale ones are read in one batched call."""

    def __init__(
        self, store: SettingsStore, ttl: float = SETTINGS_TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._cached: dict[str, tuple[float, WorkspaceSettings]] = {}
        self._lock = threading.Lock()

    def for_workspaces(self, workspace_ids: Iterable[str]) -> dict[str, WorkspaceSettings]:
        now = self._clock()
        wanted = set(workspace_ids)
        with self._lock:
            fresh = {ws: entry[1] for ws, entry in self._cached.items() if ws in wanted and now - entry[0] < self._ttl}
        missing = wanted - set(fresh)
        if missing:
            loaded = self._store.get_many(missing)
            read = {ws: loaded.get(ws) or WorkspaceSettings(ws) for ws in missing}
            with self._lock:
                self._cached.update({ws: (now, settings) for ws, settings in read.items()})
            fresh.update(read)
        return fresh
