"""CORS for browser callers: the origins of CORS_ALLOWED_ORIGINS only, never credentials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import CORSConfig

# Callers authenticate with a header (x-api-key), never a cookie: no route needs credentials, so a "*"
# origin can never be combined with them. Preflight answers are cached by the browser for ten minutes.
ALLOWED_HEADERS = ["Idempotency-Key"]
PREFLIGHT_MAX_AGE_SECONDS = 600


def cors_config(origins: Sequence[str]) -> CORSConfig | None:
    """Powertools' CORS for these origins; None (no CORS headers, preflight 404) when there are none."""
    if not origins:
        return None
    first, *others = origins
    return CORSConfig(
        allow_origin=first,
        extra_origins=others,
        allow_headers=ALLOWED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
        allow_credentials=False,
    )


def cors_headers(config: CORSConfig | None, event: dict[str, Any]) -> dict[str, str]:
    """The CORS headers of an answer given before routing (a refused body), for the request's Origin."""
    if config is None:
        return {}
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    origin = headers.get("origin")
    return config.to_dict(origin) if isinstance(origin, str) else {}
