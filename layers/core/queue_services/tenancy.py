"""Who is calling: API keys (stored hashed) map to one workspace or to admin; the rules each route applies."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from queue_services.errors import DependencyUnavailable, RequestError
from queue_services.observability import logger
from queue_services.times import iso_utc

ADMIN = "admin"
WORKSPACE = "workspace"


# lastUsedAt is written at most this often per key, not on every request.
LAST_USED_EVERY = timedelta(minutes=1)
KEY_ID_CHARS = 12


class KeyLookup(Protocol):
    """Where the authorizer looks keys up (adapters.api_keys.ApiKeyStore)."""

    def find(self, api_key: str) -> KeyRecord | None: ...

    def touch(self, stored: KeyRecord, now: str, not_after: str) -> None: ...


class Forbidden(RequestError):
    """A valid key asking for something it may not do (another workspace, an admin route)."""

    status_code = 403


class Unauthorized(RequestError):
    """No caller identity reached the function (it must sit behind the authorizer)."""

    status_code = 401


class Principal(BaseModel):
    """The caller, as the authorizer passes it in requestContext.authorizer."""

    model_config = ConfigDict(frozen=True)

    role: str
    workspace_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this route needs the admin key")

    def require_workspace(self, workspace_id: str) -> None:
        """A workspace key may act only for its own workspace; the admin key for any."""
        if not self.is_admin and workspace_id != self.workspace_id:
            raise Forbidden("this key may not act for that workspace", field="workspaceId")

    def visible_workspace(self) -> str | None:
        """None for admin (everything), else the only workspace this key may see."""
        return None if self.is_admin else self.workspace_id

    def to_context(self) -> dict[str, str]:
        """requestContext.authorizer values must be strings."""
        return {"role": self.role, "workspaceId": self.workspace_id or ""}


@dataclass(frozen=True)
class KeyRecord:
    """One API key as stored (its SHA-256 digest, never the key) with its scope, label and times."""

    key_hash: str
    principal: Principal
    label: str | None = None
    created_at: str | None = None
    last_used_at: str | None = None

    @property
    def key_id(self) -> str:
        return key_id_of(self.key_hash)


def key_id_of(key_hash: str) -> str:
    """A key's short public id: the start of its digest (names it in lists and revocations, opens nothing)."""
    return key_hash[:KEY_ID_CHARS]


def new_api_key() -> str:
    """32 random bytes, URL-safe, with a prefix that says what it is (secret scanners match on it)."""
    return "qs_" + secrets.token_urlsafe(32)


def last_used_due(last_used_at: str | None, now: datetime) -> bool:
    """Whether this request should record itself as the key's last use (ISO 8601 UTC texts compare in order)."""
    return last_used_at is None or last_used_at < iso_utc(now - LAST_USED_EVERY)


def principal_of(event: dict[str, Any]) -> Principal:
    """The caller of an API Gateway proxy event, from what the authorizer put in its requestContext."""
    return principal_from_authorizer((event.get("requestContext") or {}).get("authorizer"))


def principal_from_authorizer(context: dict[str, Any] | None) -> Principal:
    if not context or context.get("role") not in (ADMIN, WORKSPACE):
        raise Unauthorized("no API key identity; call through the API with an x-api-key header")
    workspace = context.get("workspaceId") or None
    if context["role"] == WORKSPACE and not workspace:
        raise Unauthorized("workspace key without a workspace")
    return Principal(role=context["role"], workspace_id=workspace)


def hash_api_key(api_key: str) -> str:
    """Keys are stored as SHA-256 digests: a leaked table does not leak usable keys."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def api_wide_resource(method_arn: str) -> str:
    """arn:...:api-id/stage/METHOD/path -> arn:...:api-id/stage/*/* so a cached answer covers every route."""
    head, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{head}/{stage}/*/*"


def authorize(store: KeyLookup, api_key: str, method_arn: str, now: datetime) -> dict[str, Any] | None:
    """The authorizer's answer for a key: an Allow policy with the principal as context, or None (401).

    A revoked key is no longer in the table, so it gets None. The key's lastUsedAt is brought up to date
    when it is a minute old or more (a conditional write: at most once a minute across environments).
    """
    stored = store.find(api_key)
    if stored is None:
        return None
    if last_used_due(stored.last_used_at, now):
        try:
            store.touch(stored, iso_utc(now), iso_utc(now - LAST_USED_EVERY))
        except DependencyUnavailable as exc:
            # Worth a log line, not a refused request: the key is valid.
            logger.warning("could not record the key's last use", extra={"key_id": stored.key_id, "error": str(exc)})
    return authorizer_policy(stored.principal, method_arn)


def authorizer_policy(principal: Principal, method_arn: str) -> dict[str, Any]:
    return {
        "principalId": principal.workspace_id or ADMIN,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_wide_resource(method_arn)}
            ],
        },
        "context": principal.to_context(),
    }
