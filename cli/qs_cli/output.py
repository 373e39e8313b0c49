"""What qs prints: a rich table or key/value list for people, JSON for scripts (--json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)


def show_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def show_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")  # ids must stay whole to be copied, even in 80 columns
    for row in rows:
        table.add_row(*(cell(row.get(column)) for column in columns))
    console.print(table)


def show_record(title: str, record: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in record.items():
        table.add_row(name, cell(value))
    console.print(table)
