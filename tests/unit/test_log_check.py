"""The e2e tier's log check finds full recipients and texts, and lets masked ones through."""

from __future__ import annotations

from tests.support.local_stack_process import SEED_SMS, personal_data_in


def test_full_recipients_and_texts_are_found() -> None:
    log = f'{{"to": "+15551234567"}} sent to jane.doe@example.com: {SEED_SMS["message"]}'
    assert personal_data_in(log) == sorted(["+15551234567", "jane.doe@example.com", SEED_SMS["message"]])


def test_masked_recipients_ids_and_times_pass() -> None:
    log = (
        '{"to": "+1******567", "email": "j***@example.com", "message_id": "6f1c2d3e-0000-4000-8000-000000000001",'
        ' "timestamp": "2026-12-01T12:00:00.000+00:00", "from": "Acme <noreply@acme.example>", "ms": 12.5}'
    )
    assert personal_data_in(log) == []
