"""classify_provider_error: the one place a provider answer becomes sent / rate-limited / transient / permanent."""

from __future__ import annotations

import email.utils

import pytest
import requests

from queue_services.errors import PermanentProviderError, RateLimitedError, TransientProviderError
from queue_services.providers import classify_provider_error, parse_retry_after


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_sent(status: int) -> None:
    assert classify_provider_error(status_code=status, body="") is None


def test_429_is_rate_limited_with_retry_after() -> None:
    error = classify_provider_error(status_code=429, body="slow down", retry_after="7")
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7
    assert error.status_code == 429


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, "Rate limit exceeded"), (403, "error: TOO MANY REQUESTS"), (503, '{"error":"rate limit hit"}')],
)
def test_rate_limit_texts_are_rate_limited_whatever_the_status(status: int, body: str) -> None:
    assert isinstance(classify_provider_error(status_code=status, body=body), RateLimitedError)


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 599])
def test_408_and_5xx_are_transient(status: int) -> None:
    assert isinstance(classify_provider_error(status_code=status, body="oops"), TransientProviderError)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
def test_other_4xx_are_permanent_with_the_reason(status: int) -> None:
    error = classify_provider_error(status_code=status, body="invalid number")
    assert isinstance(error, PermanentProviderError)
    assert error.reason == f"HTTP {status}: invalid number"


@pytest.mark.parametrize(
    "exception", [requests.ConnectTimeout(), requests.ReadTimeout(), requests.ConnectionError(), OSError()]
)
def test_timeouts_and_connection_errors_are_transient(exception: BaseException) -> None:
    assert isinstance(classify_provider_error(exception=exception), TransientProviderError)


def test_reasons_do_not_keep_recipients() -> None:
    error = classify_provider_error(status_code=400, body="number +15551234567 unknown, cc jane@example.com")
    assert error is not None
    assert "15551234567" not in error.reason
    assert "jane@example.com" not in error.reason


def test_retry_after_as_http_date() -> None:
    now = 1_800_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30, abs=1)


@pytest.mark.parametrize(("header", "seconds"), [(None, None), ("", None), ("soon", None), ("-3", 0.0), ("2.5", 2.5)])
def test_retry_after_edge_cases(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds
