"""Message search within a workspace: by messageId, contactId, recipient (keyed hash) or broadcast."""

from __future__ import annotations

from collections.abc import Callable

from queue_services.adapters.broadcasts import BroadcastStore
from queue_services.adapters.ledger import CONTACT_INDEX, RECIPIENT_INDEX, Ledger, MessageRecord, index_value
from queue_services.errors import Conflict, InvalidRequest
from queue_services.models import MessageSearchResult
from queue_services.recipients import RecipientHasher
from queue_services.tenancy import Principal
from queue_services.views import message_view

CRITERIA = ("messageId", "contactId", "recipient", "broadcastId")


class MessageSearch:
    """Every search reads the ledger's indexes (byContact, byRecipient, byBroadcast) or its key: no scan."""

    def __init__(
        self, ledger: Ledger, broadcasts: BroadcastStore, hasher: Callable[[], RecipientHasher | None]
    ) -> None:
        self._ledger = ledger
        self._broadcasts = broadcasts
        self._hasher = hasher

    def search(
        self, workspace_id: str, criteria: dict[str, str | None], limit: int, principal: Principal
    ) -> MessageSearchResult:
        principal.require_workspace(workspace_id)
        given = {name: value.strip() for name, value in criteria.items() if value is not None and value.strip()}
        if len(given) != 1:
            raise InvalidRequest(f"give exactly one of {', '.join(CRITERIA)}", field="/".join(CRITERIA))
        ((name, value),) = given.items()
        records = self._find(workspace_id, name, value, limit)
        # Belt and braces: every index key holds the workspace, and a record of another one never shows.
        mine = [r for r in records if r.workspace_id == workspace_id]
        return MessageSearchResult(messages=[message_view(r) for r in mine[:limit]])

    def _find(self, workspace_id: str, name: str, value: str, limit: int) -> list[MessageRecord]:
        if name == "messageId":
            record = self._ledger.get(value)
            return [] if record is None else [record]
        if name == "contactId":
            return self._ledger.find(CONTACT_INDEX, index_value(workspace_id, value), limit)
        if name == "recipient":
            hasher = self._hasher()
            if hasher is None:
                raise Conflict("recipient search is off: this deployment has no recipient hash key")
            return self._ledger.find(RECIPIENT_INDEX, index_value(workspace_id, hasher.of_search(value)), limit)
        broadcast = self._broadcasts.get(value)
        if broadcast is None or broadcast.workspace_id != workspace_id:
            return []
        return self._ledger.in_broadcast(value, limit)
