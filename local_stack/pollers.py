"""Event source mapping emulation: one poller per SQS event in the template, as Lambda's pollers behave."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from local_stack.runtime import FunctionError, LocalFunction
from local_stack.template import REGION, Resolver, resources_of_type

log = logging.getLogger("local_stack.pollers")


@dataclass(frozen=True)
class MappingConfig:
    """The SQS event's settings that shape batches and concurrency."""

    function_id: str
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window_seconds: float
    maximum_concurrency: int
    report_batch_item_failures: bool


def mappings_from_template(resolver: Resolver) -> list[MappingConfig]:
    configs = []
    for function_id, spec in resources_of_type(resolver.template, "AWS::Serverless::Function").items():
        for event in spec.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "SQS":
                continue
            props = resolver.resolve(event["Properties"])
            queue_logical_id = event["Properties"]["Queue"]["Fn::GetAtt"][0]
            configs.append(
                MappingConfig(
                    function_id=function_id,
                    queue_url=resolver.resources[queue_logical_id].ref,
                    queue_arn=str(props["Queue"]),
                    batch_size=int(props.get("BatchSize", 10)),
                    batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                    # Without ScalingConfig, Lambda scales far beyond anything useful here; 5 is its starting point.
                    maximum_concurrency=int((props.get("ScalingConfig") or {}).get("MaximumConcurrency", 5)),
                    report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                )
            )
    return configs


def to_lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """The record Lambda builds from one received SQS message."""
    attributes = dict(message.get("Attributes", {}))
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def records_to_delete(records: list[dict[str, Any]], response: Any, report_failures: bool) -> list[dict[str, Any]]:
    """The records Lambda deletes after a successful invocation, given the handler's response."""
    if not report_failures:
        return records
    if response is None or not isinstance(response, dict):
        return records
    failures = response.get("batchItemFailures")
    if not failures:
        return records
    ids = {record["messageId"] for record in records}
    failed = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in ids:
            # A malformed response counts as a complete failure (AWS docs, partial batch responses).
            return []
        failed.add(identifier)
    return [record for record in records if record["messageId"] not in failed]


class QueuePoller:
    """Up to MaximumConcurrency threads, each: invoke the function with a gathered batch, hand its deletes
    off, and go on with the next batch, gathered while the last one was being processed.

    Lambda's pollers are not the function's environments: at least five per mapping keep reading batches
    whatever the function is doing, so an environment that finishes a batch gets the next one almost at
    once. Here each thread reads its next batch while its current one is in the function (one batch ahead,
    its messages in flight as they would be in a poller's hands), and deletes after the invocation without
    holding up the next one.
    """

    def __init__(self, config: MappingConfig, function: LocalFunction, sqs: Any) -> None:
        self.config = config
        self.function = function
        self._sqs = sqs
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"poller-{config.function_id}-{n}", daemon=True)
            for n in range(config.maximum_concurrency)
        ]
        # Reads of the next batches (one per thread at a time) and deletes of the finished ones.
        self._gathering = ThreadPoolExecutor(config.maximum_concurrency, f"gather-{config.function_id}")
        self._deleting = ThreadPoolExecutor(config.maximum_concurrency, f"delete-{config.function_id}")
        self.invocations = 0
        self._lock = threading.Lock()

    def start(self) -> QueuePoller:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._gathering.shutdown(wait=False, cancel_futures=True)
        self._deleting.shutdown(wait=True)

    def _run(self) -> None:
        ahead = self._gathering.submit(self.gather_batch)
        while True:
            messages = self._gathered(ahead)
            if self._stop.is_set():
                self._release(messages)
                return
            ahead = self._gathering.submit(self.gather_batch)
            if not messages:
                continue
            try:
                self.invoke(messages)
            except Exception:
                log.exception("poller for %s failed; retrying", self.config.function_id)
                self._stop.wait(1.0)

    def _gathered(self, ahead: Future[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        try:
            return ahead.result()
        except Exception:
            if not self._stop.is_set():
                log.exception("poller for %s failed to receive; retrying", self.config.function_id)
                self._stop.wait(1.0)
            return []

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Messages read but never handed to the function (the stack stopping) become visible again at once."""
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ]
            try:
                self._sqs.change_message_visibility_batch(QueueUrl=self.config.queue_url, Entries=entries)
            except Exception:  # the emulator may already be gone; they come back after their visibility timeout
                return

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self.config.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def gather_batch(self) -> list[dict[str, Any]]:
        """Long-poll for a first message, then keep receiving (10 at a time) until the batch is full or
        MaximumBatchingWindowInSeconds has passed since the first one arrived."""
        config = self.config
        batch = self._receive(min(10, config.batch_size), wait_seconds=1)
        if not batch:
            return []
        window_ends = time.monotonic() + config.batching_window_seconds
        while len(batch) < config.batch_size and not self._stop.is_set():
            remaining = window_ends - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(min(10, config.batch_size - len(batch)), wait_seconds=0)
            if more:
                batch.extend(more)
            else:
                self._stop.wait(min(0.1, remaining))
        return batch

    def invoke(self, messages: list[dict[str, Any]]) -> None:
        config = self.config
        records = [to_lambda_record(message, config.queue_arn) for message in messages]
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        try:
            response = self.function.invoke({"Records": records}, request_id=request_id)
        except FunctionError as exc:
            log.error(
                "%s failed (%s: %s); its batch of %d returns after the visibility timeout (request %s)",
                config.function_id,
                exc.error_type,
                exc,
                len(records),
                request_id[:8],
            )
            response, to_delete = None, []
        else:
            to_delete = records_to_delete(records, response, config.report_batch_item_failures)
        elapsed_ms = (time.monotonic() - started) * 1000
        with self._lock:
            self.invocations += 1
        try:
            # As Lambda's poller does, after the invocation; the next invocation need not wait for it.
            self._deleting.submit(self._finish, records, to_delete, elapsed_ms, request_id)
        except RuntimeError:  # stopping: the executor takes no more work
            self._finish(records, to_delete, elapsed_ms, request_id)

    def _finish(
        self, records: list[dict[str, Any]], to_delete: list[dict[str, Any]], elapsed_ms: float, request_id: str
    ) -> None:
        try:
            self._delete(to_delete)
        except Exception:
            log.exception("%s: deleting a batch failed; its records come back after the visibility timeout", request_id)
            return
        log.info(
            "%s batch of %d from %s: %d deleted, %d back to the queue, %.0fms (request %s)",
            self.config.function_id,
            len(records),
            self.config.queue_url.rsplit("/", 1)[-1],
            len(to_delete),
            len(records) - len(to_delete),
            elapsed_ms,
            request_id[:8],
        )

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)]
            answer = self._sqs.delete_message_batch(QueueUrl=self.config.queue_url, Entries=entries)
            if answer.get("Failed"):
                log.warning("%d deletes failed on %s", len(answer["Failed"]), self.config.queue_url)
