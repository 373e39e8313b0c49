"""Compact JSON text (no spaces after separators), from one encoder shared by every call."""

from __future__ import annotations

import json
from typing import Any

# json.dumps(value, separators=...) builds a new encoder on every call: twice the time of encoding a small
# object with a kept one. Encoding keeps no state in the encoder, so threads can share it.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def compact_json(value: Any) -> str:
    """json.dumps(value, separators=(",", ":"))."""
    return _ENCODER.encode(value)
