"""compact_json writes what json.dumps writes with compact separators, from threads at once too."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from queue_services.compact_json import compact_json

VALUES: list[Any] = [
    {},
    {"source": "campaign", "nested": {"list": [1, 2.5, True, None, "é"]}},
    ["a", {"b": "c"}],
    'text with "quotes" and \n newline',
]


@pytest.mark.parametrize("value", VALUES)
def test_same_text_as_json_dumps_with_compact_separators(value: Any) -> None:
    assert compact_json(value) == json.dumps(value, separators=(",", ":"))


def test_threads_sharing_the_encoder_each_get_their_own_text() -> None:
    values = [{"n": n, "items": list(range(n % 50))} for n in range(2_000)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        texts = list(pool.map(compact_json, values))
    assert [json.loads(text) for text in texts] == values
