"""BatchPutWriter's handling of items DynamoDB leaves unprocessed (moto never throttles, so a stub table)."""

from __future__ import annotations

from typing import Any

import pytest

from queue_services import idempotency_store
from queue_services.idempotency_store import BatchPutWriter, BatchWriteFailed


class ThrottlingTable:
    """Leaves the first item of each request unprocessed for the first `throttled` calls."""

    def __init__(self, throttled: int) -> None:
        self.throttled = throttled
        self.written: list[str] = []
        self.calls = 0

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        ((table, requests),) = RequestItems.items()
        keep = requests[:1] if self.calls <= self.throttled else []
        self.written += [r["PutRequest"]["Item"]["id"]["S"] for r in requests if r not in keep]
        return {"UnprocessedItems": {table: keep} if keep else {}}


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency_store.time, "sleep", lambda seconds: None)


def test_unprocessed_items_are_written_again_until_done() -> None:
    table = ThrottlingTable(throttled=2)
    writer = BatchPutWriter(table, "t", linger_seconds=0)
    writer.put({"id": {"S": "a"}})
    assert table.written == ["a"]
    assert table.calls == 3


def test_items_still_unprocessed_after_the_retries_fail_the_put() -> None:
    table = ThrottlingTable(throttled=100)
    writer = BatchPutWriter(table, "t", linger_seconds=0)
    with pytest.raises(BatchWriteFailed):
        writer.put({"id": {"S": "a"}})
    assert table.calls == idempotency_store.UNPROCESSED_RETRIES + 1
    assert table.written == []
