"""CORS_ALLOWED_ORIGINS: a comma-separated list of origins, validated at cold start; none by default."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from queue_services.cors import cors_config, cors_headers
from queue_services.settings import Settings

REQUIRED = {
    name: "x"
    for name in (
        "SMS_QUEUE_URL",
        "EMAIL_QUEUE_URL",
        "METRICS_TABLE_NAME",
        "LEDGER_TABLE_NAME",
        "SCHEDULER_ROLE_ARN",
        "API_KEYS_TABLE_NAME",
        "RATE_LIMIT_TABLE_NAME",
        "IDEMPOTENCY_TABLE_NAME",
        "WORKSPACES_TABLE_NAME",
        "SMS_DLQ_URL",
        "EMAIL_DLQ_URL",
        "SMS_BULK_QUEUE_URL",
        "EMAIL_BULK_QUEUE_URL",
        "SMS_BULK_DLQ_URL",
        "EMAIL_BULK_DLQ_URL",
        "BROADCASTS_TABLE_NAME",
    )
} | {"SMS_API_URL": "http://127.0.0.1:1", "EMAIL_API_URL": "http://127.0.0.1:1"}


def settings_with(**env: str) -> Settings:
    return Settings.model_validate({**REQUIRED, **env})


def test_no_origin_by_default_means_no_cors_at_all() -> None:
    assert settings_with().cors_allowed_origins == ()
    assert cors_config(()) is None
    assert cors_headers(None, {"headers": {"Origin": "https://crm.example.com"}}) == {}


def test_origins_are_split_on_commas() -> None:
    origins = settings_with(
        CORS_ALLOWED_ORIGINS=" https://crm.example.com, http://localhost:5173 ,"
    ).cors_allowed_origins
    assert origins == ("https://crm.example.com", "http://localhost:5173")


@pytest.mark.parametrize("bad", ["crm.example.com", "https://crm.example.com/", "https://a.example/app", "ftp://a.b"])
def test_what_is_not_an_origin_fails_the_cold_start(bad: str) -> None:
    with pytest.raises(ValidationError, match="CORS_ALLOWED_ORIGINS"):
        settings_with(CORS_ALLOWED_ORIGINS=bad)


@pytest.mark.parametrize("header", ["Origin", "origin"])
def test_headers_for_an_allowed_origin_never_allow_credentials(header: str) -> None:
    config = cors_config(("https://crm.example.com",))
    event: dict[str, Any] = {"headers": {header: "https://crm.example.com"}}
    headers = cors_headers(config, event)
    assert headers["Access-Control-Allow-Origin"] == "https://crm.example.com"
    assert "Access-Control-Allow-Credentials" not in headers
    assert cors_headers(config, {"headers": {header: "https://elsewhere.example"}}) == {}
    assert cors_headers(config, {"headers": None}) == {}
