"""The seed's example bodies (old-service FAQ), read from the sample events so they live in one place."""

from __future__ import annotations

import json
from typing import Any

from tests.support.events import load_event


def seed_body(event_name: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(load_event(event_name)["body"])
    return {**body, **changes}


SEED_SMS = seed_body("api_schedule_sms")
SEED_EMAIL = seed_body("api_schedule_email")
