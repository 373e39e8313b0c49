"""Field-level rules for recipients, shared by the API models: E.164 phone numbers and email syntax."""

from __future__ import annotations

import re
from typing import Any

from email_validator import EmailNotValidError, validate_email

from queue_services.compact_json import compact_json

# Callers paste numbers as "+1 (234) 567-890"; these characters carry no meaning and are dropped.
_PHONE_FORMATTING = re.compile(r"[\s().\-/]")
# DESIGN §3: "+" then 7 to 15 digits, no leading 0. Whether the number exists is the provider's answer.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")

MAX_METADATA_BYTES = 4096
MAX_METADATA_KEYS = 50


def normalize_phone_number(value: str) -> str:
    """Return the E.164 form of value, or raise ValueError without echoing the number."""
    stripped = _PHONE_FORMATTING.sub("", value)
    if not _E164.fullmatch(stripped):
        raise ValueError("must be an E.164 phone number: '+' then 7 to 15 digits, the first not 0")
    return stripped


def normalize_email_address(value: str) -> str:
    """Return the normalized address (syntax only, no DNS look-up), or raise ValueError."""
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"must be a valid email address: {_strip_value(str(exc), value)}") from None
    return result.normalized


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """Bound metadata so one message cannot blow the SQS body limit."""
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"must have at most {MAX_METADATA_KEYS} keys")
    if len(compact_json(value).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


def _strip_value(text: str, value: str) -> str:
    # email-validator sometimes quotes parts of the address; keep recipients out of error bodies and logs.
    return text.replace(value, "<address>") if value else text


_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}")


def check_sms_sender(value: str) -> str:
    """An SMS sender: an E.164 number, or an alphanumeric sender ID (1-11 of [A-Za-z0-9 ], a letter among them)."""
    if value.startswith("+"):
        return normalize_phone_number(value)
    if not _ALPHANUMERIC_SENDER.fullmatch(value) or not any(char.isalpha() for char in value):
        raise ValueError("must be an E.164 number or 1 to 11 letters, digits and spaces with at least one letter")
    return value


def check_email_sender(value: str) -> str:
    """An email sender: an address, optionally with a display name (`Acme <noreply@acme.example>`)."""
    from email.headerregistry import Address
    from email.utils import formataddr, parseaddr

    name, address = parseaddr(value)
    if not address or ("<" in value) != value.rstrip().endswith(">"):
        raise ValueError("must be an address, optionally with a display name: Name <address>")
    normalized = normalize_email_address(address)
    if any(char in name for char in '\r\n"<>'):
        raise ValueError("the display name may not hold quotes, angle brackets or line breaks")
    Address(addr_spec=normalized)  # a last check of the address's form for the email header
    return formataddr((name, normalized)) if name else normalized
