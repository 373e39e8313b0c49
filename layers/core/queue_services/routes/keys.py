"""Key management routes (admin key only): create a key, list keys, revoke a key."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from queue_services import composition
from queue_services.models import CreatedKey, CreateKeyRequest, KeyList, KeyRevoked
from queue_services.routes.caller import caller

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


@router.post("/api/admin/keys")
def create_key(request: CreateKeyRequest) -> Response[CreatedKey]:
    caller(router).require_admin()
    created = composition.key_manager().create(request)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=created)


@router.get("/api/admin/keys")
def list_keys() -> KeyList:
    caller(router).require_admin()
    return composition.key_manager().list()


@router.delete("/api/admin/keys/<keyId>")
def revoke_key(keyId: str) -> KeyRevoked:  # noqa: N803 - the path parameter's name on the wire
    caller(router).require_admin()
    return composition.key_manager().revoke(keyId)
