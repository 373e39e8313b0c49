"""The two delivery channels, their provider paths, and the unit an SMS rate counts."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"

    @property
    def provider_path(self) -> str:
        return "/send-sms" if self is Channel.SMS else "/send-email"


class SmsRateUnit(StrEnum):
    """What SmsRatePerSecond counts: messages (the old service's meaning) or segments (a provider's parts)."""

    MESSAGES = "messages"
    SEGMENTS = "segments"
