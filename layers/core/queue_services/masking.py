"""Masks recipients for logs and stored records: logs never hold a full phone number or address."""

from __future__ import annotations

import re


def mask_phone_number(number: str) -> str:
    """'+15551234567' -> '+1*******567'."""
    if len(number) <= 5:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 5) + number[-3:]


def mask_email_address(address: str) -> str:
    """'jane.doe@example.com' -> 'j***@example.com'."""
    local, sep, domain = address.partition("@")
    if not sep:
        return "***"
    return (local[:1] or "") + "***@" + domain


def mask_recipient(recipient: str) -> str:
    return mask_email_address(recipient) if "@" in recipient else mask_phone_number(recipient)


_PHONE_LIKE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_EMAIL_LIKE = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+")


def redact_text(text: str) -> str:
    """Blank out anything that looks like a phone number or email address in free text (provider errors)."""
    return _EMAIL_LIKE.sub("<email>", _PHONE_LIKE.sub("<phone>", text))
