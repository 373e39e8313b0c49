"""The recipients' keyed hash (message search): one hash per recipient however it is typed, none without the key."""

from __future__ import annotations

import pytest

from queue_services.errors import InvalidRequest
from queue_services.models import ScheduleEmailRequest, ScheduleSmsRequest
from queue_services.recipients import RecipientHasher

KEY = b"k" * 32


def accepted_phone(typed: str) -> str:
    return ScheduleSmsRequest(phoneNumber=typed, message="m", contactId="c", workspaceId="w").phone_number


def accepted_address(typed: str) -> str:
    return ScheduleEmailRequest(to=typed, subject="s", html="h", contactId="c", workspaceId="w").to


def test_a_search_typed_another_way_finds_what_the_api_stored() -> None:
    hasher = RecipientHasher(KEY)
    stored = hasher(accepted_phone("+1 (415) 555-0101"))
    assert hasher.of_search("+14155550101") == stored
    assert hasher.of_search(" +1 415-555-0101 ") == stored
    assert hasher(accepted_address("Ada.Lovelace@Example.COM")) == hasher.of_search("ada.lovelace@example.com")


def test_the_hash_depends_on_the_key_and_does_not_show_the_value() -> None:
    value = "+14155550101"
    first, second = RecipientHasher(KEY)(value), RecipientHasher(b"x" * 32)(value)
    assert first != second
    assert "4155550101" not in first
    assert len(first) == 40
    assert RecipientHasher(KEY)("+14155550102") != first


@pytest.mark.parametrize("typed", ["not a number", "12", "@", ""])
def test_a_search_for_something_that_is_no_recipient_is_a_422_naming_recipient(typed: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        RecipientHasher(KEY).of_search(typed)
    assert raised.value.field == "recipient"


def test_a_short_key_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        RecipientHasher(b"short")
