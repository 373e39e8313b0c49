"""SMS segment counting as providers do it (GSM-7 160/153, UCS-2 70/67) and the limiter's tokens per message."""

from __future__ import annotations

import pytest

from queue_services.channels import SmsRateUnit
from queue_services.segments import SmsEncoding, count_segments, rate_tokens
from tests.support.builders import queued_email, queued_sms


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("", SmsEncoding.GSM7, 0, 1),
        ("Your code is 123456", SmsEncoding.GSM7, 19, 1),
        ("a" * 160, SmsEncoding.GSM7, 160, 1),
        ("a" * 161, SmsEncoding.GSM7, 161, 2),
        ("a" * 300, SmsEncoding.GSM7, 300, 2),  # the example: 153 + 147
        ("a" * 306, SmsEncoding.GSM7, 306, 2),
        ("a" * 307, SmsEncoding.GSM7, 307, 3),
        ("€" * 80, SmsEncoding.GSM7, 160, 1),  # extension characters count twice
        ("€" * 81, SmsEncoding.GSM7, 162, 2),
        ("[]{}~^|\\", SmsEncoding.GSM7, 16, 1),
        ("Ça coûte 5 €", SmsEncoding.UCS2, 12, 1),  # û is not GSM-7
        ("é" * 160, SmsEncoding.GSM7, 160, 1),  # é is in the basic set
        ("ç", SmsEncoding.UCS2, 1, 1),  # lowercase ç is not (Ç is)
        ("Ç" * 160, SmsEncoding.GSM7, 160, 1),
        ("\u2019" + "a" * 69, SmsEncoding.UCS2, 70, 1),  # one curly quote makes the whole text UCS-2
        ("\u2019" + "a" * 70, SmsEncoding.UCS2, 71, 2),
        ("a" * 134, SmsEncoding.GSM7, 134, 1),
        ("😀" * 35, SmsEncoding.UCS2, 70, 1),  # an emoji is two UTF-16 units
        ("😀" * 36, SmsEncoding.UCS2, 72, 2),
        ("x" * 200 + "\n" * 10, SmsEncoding.GSM7, 210, 2),
    ],
)
def test_segments_by_encoding(text: str, encoding: SmsEncoding, units: int, count: int) -> None:
    parts = count_segments(text)
    assert (parts.encoding, parts.units, parts.count) == (encoding, units, count)


def test_a_part_never_splits_an_extension_character() -> None:
    # 152 plain septets then a 2-septet €: the € does not fit in the first part's last septet, so the
    # 306 septets need 3 parts where ceil(306 / 153) says 2.
    text = "a" * 152 + "€" + "a" * 152
    assert count_segments(text).units == 306
    assert count_segments(text).count == 3


def test_a_part_never_splits_a_surrogate_pair() -> None:
    # 66 units then an emoji (2 units): the emoji goes to the second part; 134 units need 3 parts, not 2.
    text = "ç" * 66 + "😀" + "ç" * 66
    assert count_segments(text).units == 134
    assert count_segments(text).count == 3


def test_rate_tokens_count_segments_only_when_asked_and_only_for_sms() -> None:
    long_sms = queued_sms(0, "ws").model_copy(update={"message": "a" * 400})
    assert rate_tokens(long_sms, SmsRateUnit.SEGMENTS) == 3
    assert rate_tokens(long_sms, SmsRateUnit.MESSAGES) == 1
    assert rate_tokens(queued_email(0, "ws"), SmsRateUnit.SEGMENTS) == 1


def test_the_width_table_agrees_with_the_gsm_codec() -> None:
    # The table is built once from the codec's character sets; every character the codec can or cannot
    # encode must get the width the codec gives it (or count as UCS-2 when it cannot).
    for code_point in [*range(0x0000, 0xD800), *range(0xE000, 0x10000, 7), 0x1F600, 0x10FFFF]:
        char = chr(code_point)
        try:
            expected = (SmsEncoding.GSM7, len(char.encode("gsm03.38")))
        except UnicodeEncodeError:
            expected = (SmsEncoding.UCS2, len(char.encode("utf-16-le")) // 2)
        parts = count_segments(char)
        assert (parts.encoding, parts.units) == expected, hex(code_point)
