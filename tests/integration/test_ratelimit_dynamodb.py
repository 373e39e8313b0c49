"""The channel-wide slot claimer on DynamoDB (moto): slots go out once, in time order, and a 429 pauses all."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_stack.moto_patches import atomic_dynamodb_writes
from queue_services.adapters.rate_limit_table import RECOVERY_STEPS, DynamoDbSlotClaimer
from queue_services.ratelimit import Slot, SlotPlan
from tests.support.tables import create_keyed_table

PLAN = SlotPlan.for_rate(50)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    # moto checks a condition and writes without a lock; DynamoDB does both atomically. The integration
    # stack applies this patch too, but under two pytest workers this file may run in a process where no
    # earlier test did (two claimers then got the same slot in moto, not in the claimer).
    atomic_dynamodb_writes()
    with mock_aws():
        client = boto3.client("dynamodb")
        create_keyed_table(client, "rate", "pk", "sk")
        yield client


def test_claims_are_consecutive_slots_from_now(dynamodb: Any) -> None:
    claimer = DynamoDbSlotClaimer(dynamodb, "rate", "sms", PLAN)  # 49 slots a second, 5 per claim
    now = 2_000_000_000.25
    slots = [claimer.claim(now, now + 10) for _ in range(15)]
    assert all(slots)
    # Slot 12 holds `now` (12/49 s = 0.245); claims of 5 run to the second's 49th slot, which ends the
    # eighth claim early (slots 47 and 48), then the next second starts at its slot 0.
    first_second = [second_start + index / 49 for second_start, index in [(2_000_000_000, i) for i in range(12, 49, 5)]]
    next_second = [2_000_000_001 + index / 49 for index in range(0, 35, 5)]
    assert [s.start for s in slots if s] == pytest.approx(first_second + next_second, abs=1e-6)
    assert [s.tokens for s in slots if s] == [5] * 7 + [2] + [5] * 7
    assert claimer.writes == 15


def test_a_claim_takes_as_many_slots_as_asked_within_its_second(dynamodb: Any) -> None:
    claimer = DynamoDbSlotClaimer(dynamodb, "rate", "sms", PLAN)
    now = 2_000_000_000.0
    wide = claimer.claim(now, now + 10, max_slots=12)
    assert wide is not None
    assert wide.tokens == 12
    end_of_second = claimer.claim(now + 46 / 49, now + 10, max_slots=12)
    assert end_of_second is not None
    assert end_of_second.tokens == 3  # slots 46, 47, 48: the second has no more


def test_no_slot_after_latest(dynamodb: Any) -> None:
    claimer = DynamoDbSlotClaimer(dynamodb, "rate", "sms", PLAN)
    now = 2_000_000_000.0
    first, second = claimer.claim(now, now + 0.15), claimer.claim(now, now + 0.15)
    assert first is not None
    assert second is not None
    assert (first.start - now, first.end - now) == pytest.approx((0, 5 / 49), abs=1e-6)
    assert (second.start - now, second.end - now) == pytest.approx((5 / 49, 10 / 49), abs=1e-6)
    assert claimer.claim(now, now + 0.15) is None


def test_concurrent_claimers_never_share_a_slot(dynamodb: Any) -> None:
    now = time.time()
    claimed: list[Slot] = []
    lock = threading.Lock()
    claimers = [DynamoDbSlotClaimer(dynamodb, "rate", "email", SlotPlan.for_rate(100)) for _ in range(5)]

    def claim_many(claimer: DynamoDbSlotClaimer) -> None:
        for _ in range(20):
            slot = claimer.claim(now, now + 60)
            assert slot is not None
            with lock:
                claimed.append(slot)

    threads = [threading.Thread(target=claim_many, args=(c,)) for c in claimers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts = Counter(round(slot.start, 3) for slot in claimed)
    assert len(claimed) == 100
    assert max(starts.values()) == 1
    per_second = Counter(int(slot.start) for slot in claimed)
    assert max(per_second.values()) <= 10
    # Five claimers racing flat out cost retries; the broadcast benchmark measures writes per message.


def test_slow_down_pauses_every_claimer_then_recovers_gradually(dynamodb: Any) -> None:
    first = DynamoDbSlotClaimer(dynamodb, "rate", "sms", PLAN)
    other = DynamoDbSlotClaimer(dynamodb, "rate", "sms", PLAN)
    now = 2_000_000_000.55
    first.slow_down(now, pause_seconds=2.0)
    slot = other.claim(now, now + 60)
    assert slot is not None
    assert slot.start >= now + 2.0
    # The seconds after the pause allow only part of their slots, rising back to all of them.
    recovery_second = int(now + 2.0) + 1
    assert int(slot.start) == recovery_second
    usable = []
    for step in range(len(RECOVERY_STEPS) + 1):
        second = recovery_second + step
        slots = 0
        while True:
            claimed = other.claim(second, second + 0.999)
            if claimed is None:
                break
            slots += round((claimed.end - claimed.start) * PLAN.slots_per_period)
        usable.append(slots)
    usable[0] += round((slot.end - slot.start) * PLAN.slots_per_period)  # the claim above
    assert usable == [int(PLAN.slots_per_period * share) for share in RECOVERY_STEPS] + [PLAN.slots_per_period]


def test_a_second_429_never_lifts_an_earlier_longer_pause(dynamodb: Any) -> None:
    claimer = DynamoDbSlotClaimer(dynamodb, "rate", "sms", PLAN)
    now = 2_000_000_000.0
    claimer.slow_down(now, pause_seconds=5.0)
    claimer.slow_down(now, pause_seconds=1.0)
    slot = claimer.claim(now, now + 60)
    assert slot is not None
    assert slot.start >= now + 5.0


def test_the_waiting_line_hands_out_places_one_step_apart_and_restarts_when_dry(dynamodb: Any) -> None:
    claimers = [DynamoDbSlotClaimer(dynamodb, "rate", "sms#workspace#ws-1", SlotPlan.for_rate(10)) for _ in range(2)]
    now = 2_000_000_000.0
    places = [place for n in range(3) for place in claimers[n % 2].places_in_line(now, 0.1, 2)]
    # Across environments, two places a call, one step apart after now, in order
    assert places == pytest.approx([now + 0.1 * n for n in range(1, 7)])
    # Once the line has passed, the next places start one step after the new now
    later = now + 60
    assert claimers[0].places_in_line(later, 0.1, 3) == pytest.approx([later + 0.1, later + 0.2, later + 0.3])


def test_known_frontier_is_where_the_slots_this_process_saw_taken_end(dynamodb: Any) -> None:
    mine = DynamoDbSlotClaimer(dynamodb, "rate", "sms#workspace#w1", PLAN)
    other = DynamoDbSlotClaimer(dynamodb, "rate", "sms#workspace#w1", PLAN)
    now = 2_000_000_000.0
    assert mine.known_frontier() is None
    assert mine.claim(now, now + 10, max_slots=3) is not None
    assert mine.known_frontier() == pytest.approx(now + 3 / 49)
    # Another environment takes the next ten: this one learns it from its next refused claim, not before
    assert other.claim(now, now + 10, max_slots=10) is not None
    assert mine.known_frontier() == pytest.approx(now + 3 / 49)
    assert mine.claim(now, now + 10, max_slots=1) is not None
    assert mine.known_frontier() == pytest.approx(now + 14 / 49)


def test_a_rate_under_two_a_second_gets_one_slot_a_period_over_a_second(dynamodb: Any) -> None:
    # A workspace capped at 0.5 a second: one slot every 2.04 s (SlotPlan), one item per period
    plan = SlotPlan.for_rate(0.5)
    claimer = DynamoDbSlotClaimer(dynamodb, "rate", "sms#workspace#w", plan)
    now = 2_000_000_000.3
    slots = [claimer.claim(now, now + 60) for _ in range(4)]
    starts = [slot.start for slot in slots if slot is not None]
    assert [slot.tokens for slot in slots if slot is not None] == [1, 1, 1, 1]
    # The first holds now; each next one is a period later
    assert starts[0] <= now < starts[0] + plan.period_seconds
    assert [later - earlier for earlier, later in itertools.pairwise(starts)] == pytest.approx([2.04] * 3)
    assert claimer.known_frontier() == pytest.approx(starts[-1] + 2.04)
    # Another environment's claimer gets the slot after them, never one of them
    other = DynamoDbSlotClaimer(dynamodb, "rate", "sms#workspace#w", plan)
    slot = other.claim(now, now + 60)
    assert slot is not None
    assert slot.start == pytest.approx(starts[-1] + 2.04)
