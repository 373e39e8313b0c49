"""How the service prints times: ISO 8601 in UTC, milliseconds, Z."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a Z, as the old service printed times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
