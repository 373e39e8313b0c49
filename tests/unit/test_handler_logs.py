"""The stack's log lines for what the handlers print: readable, with the ids, at the handler's level."""

from __future__ import annotations

import json
import logging

from local_stack.handler_logs import format_handler_line


def powertools_line(message: str, level: str = "INFO", **keys: object) -> str:
    record = {
        "level": level,
        "location": "log_reports:272",
        "message": message,
        "timestamp": "2026-12-01 09:00:02,123+0000",
        "service": "queue-services",
        "cold_start": False,
        "function_name": "SmsWorkerFunction",
        "function_memory_size": "512",
        "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:SmsWorkerFunction",
        "function_request_id": "1a2b3c4d-0000-4000-8000-000000000000",
        **keys,
    }
    return json.dumps(record) + "\n"


def test_a_powertools_line_becomes_message_and_its_own_keys() -> None:
    level, text = format_handler_line(powertools_line("message sent", message_id="m-1", workspace_id="ws-1"))
    assert level == logging.INFO
    assert text == "message sent message_id=m-1 workspace_id=ws-1 request=1a2b3c4d"


def test_a_warning_keeps_its_level_and_quotes_values_with_spaces() -> None:
    line = powertools_line("message failed", level="WARNING", message_id="m-2", reason="invalid number")
    level, text = format_handler_line(line)
    assert level == logging.WARNING
    assert 'reason="invalid number"' in text


def test_an_exception_follows_its_line() -> None:
    level, text = format_handler_line(powertools_line("boom", level="ERROR", exception="Traceback ...\nValueError: x"))
    assert level == logging.ERROR
    assert text.splitlines() == ["boom request=1a2b3c4d", "Traceback ...", "ValueError: x"]


def test_emf_blobs_and_plain_text_pass_unchanged() -> None:
    emf = json.dumps({"_aws": {"CloudWatchMetrics": []}, "Sent": [1.0]})
    assert format_handler_line(emf + "\n") == (logging.INFO, emf)
    assert format_handler_line("hello\n") == (logging.INFO, "hello")
    assert format_handler_line("[ERROR] Exception: Unauthorized\n") == (
        logging.ERROR,
        "[ERROR] Exception: Unauthorized",
    )
    assert format_handler_line("{not json\n") == (logging.INFO, "{not json")
