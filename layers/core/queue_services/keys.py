"""API key management for the admin routes: make a key (shown once), list keys, revoke one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from queue_services.adapters.api_keys import ApiKeyStore
from queue_services.errors import NotFound
from queue_services.models import CreatedKey, CreateKeyRequest, KeyList, KeyRevoked, KeyView
from queue_services.tenancy import ADMIN, WORKSPACE, KeyRecord, Principal, new_api_key
from queue_services.times import iso_utc


def key_view(record: KeyRecord) -> KeyView:
    return KeyView(
        key_id=record.key_id,
        scope="admin" if record.principal.is_admin else "workspace",
        workspace_id=record.principal.workspace_id,
        label=record.label,
        created_at=record.created_at,
        last_used_at=record.last_used_at,
    )


class KeyManager:
    """Creates, lists and revokes keys; the key itself exists only in the answer to create."""

    def __init__(self, store: ApiKeyStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._clock = clock

    def create(self, request: CreateKeyRequest) -> CreatedKey:
        principal = (
            Principal(role=ADMIN) if request.admin else Principal(role=WORKSPACE, workspace_id=request.workspace_id)
        )
        api_key = new_api_key()
        record = self._store.add(api_key, principal, request.label, iso_utc(self._clock()))
        return CreatedKey(key=api_key, **key_view(record).model_dump())

    def list(self) -> KeyList:
        records = sorted(self._store.all(), key=lambda record: (record.created_at or "", record.key_id))
        return KeyList(keys=[key_view(record) for record in records])

    def revoke(self, key_id: str) -> KeyRevoked:
        if not self._store.revoke(key_id):
            raise NotFound("no key with that keyId", field="keyId")
        return KeyRevoked(key_id=key_id, revoked=True)
