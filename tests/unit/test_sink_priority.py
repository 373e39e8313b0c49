"""The provider sink asks to run ahead of the stack's other processes, and runs on when it may not."""

from __future__ import annotations

import pytest

from local_stack.sink import prefer_the_sink_on_a_busy_machine


def test_the_sink_raises_its_priority_where_the_os_allows_it() -> None:
    asked: list[int] = []

    def nice(increment: int) -> int:
        asked.append(increment)
        return increment

    assert prefer_the_sink_on_a_busy_machine(nice)
    assert asked == [-10]


def test_a_sink_not_allowed_to_raise_its_priority_runs_at_the_usual_one() -> None:
    def nice(increment: int) -> int:
        raise PermissionError(1, "Operation not permitted")

    assert not prefer_the_sink_on_a_busy_machine(nice)


def test_only_a_refusal_is_swallowed_not_a_bug() -> None:
    def nice(increment: int) -> int:
        raise ValueError("a bug, not a refusal")

    with pytest.raises(ValueError, match="a bug"):
        prefer_the_sink_on_a_busy_machine(nice)
