"""The two delivery channels and their provider paths."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"

    @property
    def provider_path(self) -> str:
        return "/send-sms" if self is Channel.SMS else "/send-email"
