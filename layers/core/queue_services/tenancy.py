"""Who is calling: API keys (stored hashed) map to one workspace or to admin; the rules each route applies."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from queue_services.errors import RequestError

ADMIN = "admin"
WORKSPACE = "workspace"


class KeyLookup(Protocol):
    """Where the authorizer looks keys up (adapters.api_keys.ApiKeyStore)."""

    def lookup(self, api_key: str) -> Principal | None: ...


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


def authorize(store: KeyLookup, api_key: str, method_arn: str) -> dict[str, Any] | None:
    """The authorizer's answer for a key: an Allow policy with the principal as context, or None (401)."""
    principal = store.lookup(api_key)
    return None if principal is None else authorizer_policy(principal, method_arn)


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
