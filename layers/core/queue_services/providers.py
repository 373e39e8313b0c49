"""HTTP clients for the SMS and email provider APIs, and the one place their answers are classified."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any

import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter

from queue_services.errors import PermanentProviderError, ProviderError, RateLimitedError, TransientProviderError
from queue_services.masking import redact_text
from queue_services.models import ProviderReceipt, QueuedEmail, QueuedMessage, QueuedSms

_RATE_LIMIT_TEXTS = ("rate limit", "too many requests")
_MAX_REASON_CHARS = 300


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header given in seconds or as an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, moment.timestamp() - current)


def classify_provider_error(
    *,
    status_code: int | None = None,
    body: str = "",
    retry_after: str | None = None,
    exception: BaseException | None = None,
) -> ProviderError | None:
    """Classify one provider call (DESIGN §4): None when sent, else the ProviderError saying what to do.

    2xx -> sent. 429 or an error text with "rate limit"/"too many requests" -> rate-limited.
    408, 5xx, timeouts and connection errors -> transient. Any other 4xx -> permanent.
    """
    if exception is not None:
        return TransientProviderError(f"{type(exception).__name__}: provider unreachable or too slow")
    if status_code is None:
        return TransientProviderError("no answer from provider")
    if 200 <= status_code < 300:
        return None
    reason = f"HTTP {status_code}: {redact_text(body.strip())[:_MAX_REASON_CHARS]}".rstrip(": ")
    lowered = body.lower()
    if status_code == 429 or any(text in lowered for text in _RATE_LIMIT_TEXTS):
        return RateLimitedError(reason, status_code, parse_retry_after(retry_after))
    if status_code == 408 or status_code >= 500:
        return TransientProviderError(reason, status_code)
    if 400 <= status_code < 500:
        return PermanentProviderError(reason, status_code)
    # 1xx/3xx are not answers a JSON API gives; treat them as a provider fault worth retrying.
    return TransientProviderError(reason, status_code)


def provider_payload(message: QueuedMessage, sender: str | None = None) -> dict[str, Any]:
    """The JSON body of DESIGN §4 for one queued message."""
    payload: dict[str, Any] = {
        "messageId": message.message_id,
        "to": message.to,
    }
    if isinstance(message, QueuedSms):
        payload["message"] = message.message
    elif isinstance(message, QueuedEmail):
        payload["subject"] = message.subject
        payload["html"] = message.html
        if message.text is not None:
            payload["text"] = message.text
    payload["contactId"] = message.contact_id
    payload["workspaceId"] = message.workspace_id
    payload["metadata"] = message.metadata
    if sender:
        payload["from"] = sender
    return payload


def new_session(pool_size: int) -> requests.Session:
    """One pooled session per process; its pool is as large as the worker's thread pool."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class ProviderClient:
    """Posts one message to one provider endpoint; raises a ProviderError subclass unless it was sent."""

    def __init__(
        self,
        url: str,
        session: requests.Session,
        connect_timeout: float,
        read_timeout: float,
        token_provider: Callable[[], str | None] | None = None,
    ) -> None:
        self._url = url
        self._session = session
        self._timeout = (connect_timeout, read_timeout)
        self._token_provider = token_provider

    def send(self, message: QueuedMessage, sender: str | None = None) -> ProviderReceipt:
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.message_id}
        token = self._token_provider() if self._token_provider else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._session.post(
                self._url, json=provider_payload(message, sender), headers=headers, timeout=self._timeout
            )
        except requests.RequestException as exc:
            error = classify_provider_error(exception=exc)
            assert error is not None
            raise error from exc
        error = classify_provider_error(
            status_code=response.status_code, body=response.text, retry_after=response.headers.get("Retry-After")
        )
        if error is not None:
            raise error
        return _parse_receipt(response)


def _parse_receipt(response: requests.Response) -> ProviderReceipt:
    try:
        data: Mapping[str, Any] = response.json()
        return ProviderReceipt.model_validate(data if isinstance(data, Mapping) else {})
    except (ValueError, ValidationError):
        # A 2xx with an unexpected body is still a send; the id is simply unknown.
        return ProviderReceipt()
