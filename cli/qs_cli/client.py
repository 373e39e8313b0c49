"""The HTTP API as qs calls it: one session with the key, answers as JSON, errors as ApiError."""

from __future__ import annotations

from typing import Any

import requests

LOCAL_API_URL = "http://127.0.0.1:3000"
LOCAL_ADMIN_KEY = "local-admin-key"


class ApiError(Exception):
    """The API refused or could not be reached; message is what it said."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error_message(response: requests.Response) -> str:
    """The API's own words for a refusal: `message` (and the fields it names), else the raw text."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text.strip()[:300] or response.reason}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}: {body}"
    message = str(body.get("message") or body.get("error") or response.reason)
    fields = [
        str(item.get("field")) for item in body.get("detail") or [] if isinstance(item, dict) and item.get("field")
    ]
    named = f" ({', '.join(fields)})" if fields and not any(field in message for field in fields) else ""
    return f"HTTP {response.status_code}: {message}{named}"


class ApiClient:
    """Calls the API at base_url with x-api-key; returns the JSON answer or raises ApiError."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0) -> None:
        self._base = base_url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["x-api-key"] = api_key
        self._timeout = timeout

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._session.request(
                method, f"{self._base}{path}", json=body, params=params, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise ApiError(f"cannot reach {self._base}: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise ApiError(error_message(response), response.status_code)
        return response.json() if response.content else {}
