"""SMS segments as providers count them: GSM-7 (160 in one part, 153 per part) or UCS-2 (70, 67)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec

from queue_services.channels import SmsRateUnit
from queue_services.models import QueuedMessage, QueuedSms


class SmsEncoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


# (characters of a one-part text, characters per part of a longer one): a multipart text's user data
# header takes 7 septets (GSM-7) or 3 UTF-16 units (UCS-2) of each part.
_PART_SIZES = {SmsEncoding.GSM7: (160, 153), SmsEncoding.UCS2: (70, 67)}


@dataclass(frozen=True)
class SmsSegments:
    """How a text travels: its encoding, its length in that encoding's units and its number of parts."""

    encoding: SmsEncoding
    units: int
    count: int


def _unit_widths(text: str) -> tuple[SmsEncoding, list[int]]:
    """Each character's width: septets in GSM-7 (2 for an extension character such as € [ ] { }), or
    UTF-16 code units in UCS-2 (2 for an emoji) when any character is outside GSM-7."""
    try:
        return SmsEncoding.GSM7, [len(char.encode("gsm03.38")) for char in text]
    except UnicodeEncodeError:
        return SmsEncoding.UCS2, [len(char.encode("utf-16-le")) // 2 for char in text]


def count_segments(text: str) -> SmsSegments:
    """The segments a provider bills and rate-limits for text (an empty text is one segment).

    A multipart text is split without cutting a character in two (an extension character's escape and
    its code, or an emoji's surrogate pair, stay in one part), as splitters do, so a part can hold one
    unit less than its size and ceil(units / per_part) can undercount.
    """
    encoding, widths = _unit_widths(text)
    units = sum(widths)
    single, per_part = _PART_SIZES[encoding]
    if units <= single:
        return SmsSegments(encoding, units, 1)
    parts, used = 1, 0
    for width in widths:
        if used + width > per_part:
            parts, used = parts + 1, 0
        used += width
    return SmsSegments(encoding, units, parts)


def rate_tokens(message: QueuedMessage, unit: SmsRateUnit) -> int:
    """Slots of the channel's rate limiter one message takes: its segments if SMS are counted so, else 1."""
    if unit is SmsRateUnit.SEGMENTS and isinstance(message, QueuedSms):
        return count_segments(message.message).count
    return 1
