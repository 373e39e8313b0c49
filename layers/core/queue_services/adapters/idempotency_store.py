"""Powertools idempotency on DynamoDB with the completion writes of concurrent sends batched together."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from queue_services.adapters.aws import BATCH_WRITE_LIMIT, write_batches


@dataclass
class _PendingPut:
    item: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class BatchPutWriter:
    """Coalesces single-item puts from concurrent threads into BatchWriteItem calls.

    put() returns only once its item is written (or raises), so a caller keeps the guarantees of a plain
    PutItem. The first thread to find no write under way leads: it waits up to linger_seconds for others
    to join (or for a full batch), writes, and keeps writing until nothing is pending.
    """

    def __init__(self, dynamodb_client: Any, table_name: str, linger_seconds: float) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self._linger = linger_seconds
        self._lock = threading.Condition()
        self._pending: list[_PendingPut] = []
        self._leading = False
        self.batches_written = 0

    def put(self, item: dict[str, Any]) -> None:
        entry = _PendingPut(item)
        with self._lock:
            self._pending.append(entry)
            if len(self._pending) >= BATCH_WRITE_LIMIT:
                self._lock.notify_all()
            lead = not self._leading
            if lead:
                self._leading = True
        if lead:
            self._lead()
        entry.done.wait()
        if entry.error is not None:
            raise entry.error

    def _lead(self) -> None:
        deadline = time.monotonic() + self._linger
        with self._lock:
            while len(self._pending) < BATCH_WRITE_LIMIT and (remaining := deadline - time.monotonic()) > 0:
                self._lock.wait(remaining)
        while True:
            with self._lock:
                chunk, self._pending = self._pending[:BATCH_WRITE_LIMIT], self._pending[BATCH_WRITE_LIMIT:]
                if not chunk:
                    self._leading = False
                    return
            self._write(chunk)

    def _write(self, chunk: list[_PendingPut]) -> None:
        error: BaseException | None = None
        self.batches_written += 1
        try:
            write_batches(
                self._ddb, self._table, [{"PutRequest": {"Item": entry.item}} for entry in chunk], "idempotency"
            )
        except Exception as exc:  # handed to every caller of the chunk, as its own write would have raised
            error = exc
        for entry in chunk:
            entry.error = error
            entry.done.set()


class BatchingDynamoDBPersistenceLayer(DynamoDBPersistenceLayer):
    """DynamoDBPersistenceLayer whose success records go through a BatchPutWriter.

    Powertools writes the in-progress record with a conditional PutItem (kept: that condition is the
    exactly-once guard) and the success with an UpdateItem. The success write needs no condition, so
    concurrent ones are put whole, 25 per BatchWriteItem: one call per message fewer on the table.
    """

    def __init__(self, table_name: str, boto3_client: Any, linger_seconds: float = 0.05) -> None:
        super().__init__(table_name=table_name, boto3_client=boto3_client)
        self._writer = BatchPutWriter(boto3_client, table_name, linger_seconds)

    def _update_record(self, data_record: DataRecord) -> None:
        item: dict[str, Any] = {
            **self._get_key(data_record.idempotency_key),
            self.expiry_attr: {"N": str(data_record.expiry_timestamp)},
            self.status_attr: {"S": data_record.status},
        }
        if data_record.response_data is not None:
            item[self.data_attr] = {"S": data_record.response_data}
        if self.payload_validation_enabled and data_record.payload_hash:
            item[self.validation_key_attr] = {"S": data_record.payload_hash}
        self._writer.put(item)
