"""Against a provider that enforces its rate (sink maxPerSecond = the rate): no second over it, next to no 429s.

A stack of its own at SmsRatePerSecond=20, so that the whole drain (300 SMS, about 16 s) is paced by the
limiter; every message shares one sendAt, so posting is over before sending starts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.local_stack_process import (
    SEED_SMS,
    LocalStackProcess,
    busiest_window,
    post,
    running_stack,
    wait_until,
)

RATE = 20
COUNT = 300


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    with running_stack(tmp_path_factory.mktemp("strict_stack"), f"SmsRatePerSecond={RATE}") as stack:
        yield stack


def test_a_strict_provider_sees_no_second_over_the_rate_and_at_most_one_429(slow_stack: LocalStackProcess) -> None:
    # Given a provider that answers 429 (Retry-After: 1) to any call over 20 accepted in the last second
    slow_stack.set_faults(maxPerSecond=RATE, retryAfterSeconds=1)
    # And 300 SMS released at one instant, posted before it by 16 callers
    send_at = (datetime.now(UTC) + timedelta(seconds=10)).isoformat()
    seed = {key: value for key, value in SEED_SMS.items() if key != "delay"}
    bodies = [
        {**seed, "phoneNumber": f"+1555{n:07d}", "contactId": f"strict-{n}", "sendAt": send_at} for n in range(COUNT)
    ]
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = set(pool.map(lambda body: post(slow_stack, "schedule-sms", body), bodies))
    # When they drain
    wait_until(lambda: len(slow_stack.sink_messages("sms")) >= COUNT, timeout=90, interval=0.5)
    messages = slow_stack.sink_messages("sms")
    # Then each arrived once, no sliding second held more than 20, and the provider refused at most one call
    assert Counter(m["messageId"] for m in messages) == dict.fromkeys(ids, 1)
    assert busiest_window(sorted(m["receivedAt"] for m in messages)) <= RATE
    refused = [call for call in slow_stack.sink_requests() if call["status"] == 429]
    assert len(refused) <= 1, refused
