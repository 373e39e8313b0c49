"""The emulator's moto patches are safe to apply twice: the second application changes nothing."""

from __future__ import annotations

from moto.dynamodb.models import DynamoDBBackend
from moto.sqs.models import SQSBackend
from moto.sqs.responses import SQSResponse

from local_stack.moto_patches import ALL_PATCHES, apply_clock_fix

PATCHED = (
    (DynamoDBBackend, "put_item"),
    (DynamoDBBackend, "update_item"),
    (DynamoDBBackend, "transact_write_items"),
    (SQSBackend, "receive_message"),
    (SQSBackend, "is_message_valid_based_on_retention_period"),
    (SQSResponse, "start_message_move_task"),
)


def test_every_patch_applied_twice_leaves_one_layer() -> None:
    for patch in (apply_clock_fix, *ALL_PATCHES):
        patch()
    first = {(owner.__name__, name): getattr(owner, name) for owner, name in PATCHED}
    for patch in (apply_clock_fix, *ALL_PATCHES):
        patch()
    assert {(owner.__name__, name): getattr(owner, name) for owner, name in PATCHED} == first
