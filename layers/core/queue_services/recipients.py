"""Recipients as the ledger keeps them for search: a keyed hash of the normalised value, never the value."""

from __future__ import annotations

import hashlib
import hmac

from queue_services.errors import InvalidRequest
from queue_services.validation import normalize_email_address, normalize_phone_number


class RecipientHasher:
    """HMAC-SHA256 of a normalised recipient under the deployment's secret key (README "Message search").

    Without the key, a hash says nothing about the number or address it came from; with it, the same
    recipient always gives the same hash, so the ledger can be searched by recipient.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the recipient hash key must be at least 16 bytes")
        self._key = key

    def __call__(self, recipient: str) -> str:
        """The hash of a recipient that passed the API's validation (already E.164, or a normalised address)."""
        return self._digest(recipient.casefold())

    def of_search(self, recipient: str) -> str:
        """The hash of a recipient as a person types it into a search."""
        return self._digest(normalized_recipient(recipient))

    def _digest(self, normalized: str) -> str:
        return hmac.new(self._key, normalized.encode(), hashlib.sha256).hexdigest()[:40]


def normalized_recipient(recipient: str) -> str:
    """The form two spellings of one recipient share: E.164 for a phone number, a lower-case address.

    Raises InvalidRequest (422, naming `recipient`) for something that is neither.
    """
    value = recipient.strip()
    try:
        if "@" in value:
            return normalize_email_address(value).casefold()
        return normalize_phone_number(value)
    except ValueError as exc:
        raise InvalidRequest(f"recipient: {exc}", field="recipient") from None
