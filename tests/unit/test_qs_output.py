"""qs's tables: ids stay whole on one line in an 80-column terminal, whatever else the rows hold."""

from __future__ import annotations

import pytest
from rich.console import Console

from qs_cli import output


def test_ids_are_never_folded_in_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    console = Console(width=80, record=True)
    monkeypatch.setattr(output, "console", console)
    rows = [
        {
            "keyId": f"7e75b1e963c{n}",
            "scope": "workspace-123",
            "label": "a label long enough to need folding " * 2,
            "createdAt": "2026-12-03T18:30:00.673Z",
            "lastUsedAt": "2026-12-03T18:31:09.019Z",
            "workspaceId": "workspace-with-a-long-name-456",
        }
        for n in range(3)
    ]
    output.show_table("API keys", rows, list(rows[0]))
    printed = console.export_text()
    for row in rows:
        assert row["keyId"] in printed
        assert row["workspaceId"] in printed
    assert all(len(line) <= 80 for line in printed.splitlines())
