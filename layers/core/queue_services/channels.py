"""The two delivery channels and the names of their queues and provider paths."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"

    @property
    def provider_path(self) -> str:
        return "/send-sms" if self is Channel.SMS else "/send-email"

    @property
    def queue_name(self) -> str:
        return "send-sms-queue" if self is Channel.SMS else "send-email-queue"
