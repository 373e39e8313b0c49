"""write_batches: chunks of 25, and items DynamoDB leaves unprocessed (moto never throttles: a stub table)."""

from __future__ import annotations

from typing import Any

import pytest

from queue_services.adapters import aws as aws_clients
from queue_services.adapters.aws import write_batches
from queue_services.errors import DependencyUnavailable


class ThrottlingTable:
    """Leaves the first item of each request unprocessed for the first `throttled` calls."""

    def __init__(self, throttled: int) -> None:
        self.throttled = throttled
        self.written: list[str] = []
        self.calls = 0

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        ((table, requests),) = RequestItems.items()
        assert len(requests) <= 25
        keep = requests[:1] if self.calls <= self.throttled else []
        self.written += [r["PutRequest"]["Item"]["id"]["S"] for r in requests if r not in keep]
        return {"UnprocessedItems": {table: keep} if keep else {}}


def puts(count: int) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": {"id": {"S": f"k{index}"}}}} for index in range(count)]


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_clients.time, "sleep", lambda seconds: None)


def test_sixty_items_take_three_calls() -> None:
    table = ThrottlingTable(throttled=0)
    write_batches(table, "t", puts(60), "test")
    assert table.calls == 3
    assert sorted(table.written) == sorted(f"k{index}" for index in range(60))


def test_unprocessed_items_are_written_again_until_done() -> None:
    table = ThrottlingTable(throttled=2)
    write_batches(table, "t", puts(3), "test")
    assert sorted(table.written) == ["k0", "k1", "k2"]
    assert table.calls == 3


def test_items_still_unprocessed_after_the_retries_are_an_unavailable_dependency() -> None:
    table = ThrottlingTable(throttled=100)
    with pytest.raises(DependencyUnavailable, match="unprocessed"):
        write_batches(table, "t", puts(1), "test")
    assert table.calls == aws_clients.UNPROCESSED_RETRIES + 1
    assert table.written == []
