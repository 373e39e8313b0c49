"""The benchmarks' counters: the emulator's calls, DynamoDB items and added latency, and each function's
billed invocations (WSGI and runtime objects driven directly, no network)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from local_stack.emulator import CallCounter, dynamodb_items
from local_stack.runtime import LocalFunction


def wsgi(counter: CallCounter, method: str, path: str, body: Any = None, target: str = "") -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
        "HTTP_X_AMZ_TARGET": target,
    }
    answer = b"".join(counter(environ, lambda status, headers: None))
    return json.loads(answer) if answer else None


def backend(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A stand-in for moto: reads the body as moto does, answers a Query with two items."""
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [])
    return [json.dumps({"Count": 2, "Items": [{}, {}]}).encode()]


BATCH = {"RequestItems": {"ledger": [{"PutRequest": {}}] * 3, "metrics": [{"PutRequest": {}}]}}


def test_items_are_counted_only_while_asked_for_and_calls_always() -> None:
    counter = CallCounter(backend)
    wsgi(counter, "POST", "/", BATCH, "DynamoDB_20120810.BatchWriteItem")
    assert wsgi(counter, "GET", "/_emulator/items") == {}
    wsgi(counter, "PUT", "/_emulator/items")
    wsgi(counter, "POST", "/", BATCH, "DynamoDB_20120810.BatchWriteItem")
    wsgi(counter, "POST", "/", {"TableName": "ledger"}, "DynamoDB_20120810.Query")
    wsgi(counter, "POST", "/", {"QueueUrl": "q"}, "AmazonSQS.SendMessage")
    assert wsgi(counter, "GET", "/_emulator/items") == {
        "DynamoDB_20120810.BatchWriteItem": 4,
        "DynamoDB_20120810.Query": 2,
    }
    assert wsgi(counter, "GET", "/_emulator/calls") == {
        "DynamoDB_20120810.BatchWriteItem": 2,
        "DynamoDB_20120810.Query": 1,
        "AmazonSQS.SendMessage": 1,
    }
    wsgi(counter, "DELETE", "/_emulator/items")
    assert wsgi(counter, "GET", "/_emulator/items") == {}
    wsgi(counter, "PUT", "/_emulator/items", {"count": False})
    wsgi(counter, "POST", "/", BATCH, "DynamoDB_20120810.BatchWriteItem")
    assert wsgi(counter, "GET", "/_emulator/items") == {}
    assert wsgi(counter, "GET", "/_emulator/calls")["DynamoDB_20120810.BatchWriteItem"] == 3


def test_a_control_body_that_is_not_a_json_object_reads_as_none() -> None:
    # Given a counter with item counting on
    counter = CallCounter(backend)
    wsgi(counter, "PUT", "/_emulator/items")
    # When a PUT's body is a JSON list, not an object: it reads as no options (counting stays on), not a 500
    wsgi(counter, "PUT", "/_emulator/items", [False])
    wsgi(counter, "POST", "/", BATCH, "DynamoDB_20120810.BatchWriteItem")
    assert wsgi(counter, "GET", "/_emulator/items") != {}
    # And a latency PUT without an object leaves the latency off
    wsgi(counter, "PUT", "/_emulator/latency", "30")
    started = time.monotonic()
    wsgi(counter, "POST", "/", {}, "AmazonSQS.SendMessage")
    assert time.monotonic() - started < 0.03


def test_item_counts_of_each_kind_of_call() -> None:
    transact = json.dumps({"TransactItems": [{"Put": {}}, {"Update": {}}]}).encode()
    assert dynamodb_items("TransactWriteItems", transact, b"") == 2
    keys = json.dumps({"RequestItems": {"t": {"Keys": [{}, {}, {}]}}}).encode()
    assert dynamodb_items("BatchGetItem", keys, b"") == 3
    assert dynamodb_items("Query", b"", b"not json") == 0


def test_added_latency_delays_every_call_until_turned_off() -> None:
    counter = CallCounter(backend)
    wsgi(counter, "PUT", "/_emulator/latency", {"ms": 30})
    started = time.monotonic()
    wsgi(counter, "POST", "/", {}, "AmazonSQS.SendMessage")
    assert time.monotonic() - started >= 0.03
    wsgi(counter, "PUT", "/_emulator/latency", {"ms": 0})
    started = time.monotonic()
    wsgi(counter, "POST", "/", {}, "AmazonSQS.SendMessage")
    assert time.monotonic() - started < 0.03


def test_a_function_reports_its_invocations_and_billed_milliseconds() -> None:
    function = LocalFunction.in_process("Probe", lambda event, context: time.sleep(0.01) or {"ok": True})
    for _ in range(3):
        function.invoke({})
    report = function.usage_report(clear=True)
    assert report["invocations"] == 3
    assert report["billedMs"] >= 30
    assert report["billedMs"] >= report["durationMs"]
    assert function.usage_report()["invocations"] == 0
    function.close()
