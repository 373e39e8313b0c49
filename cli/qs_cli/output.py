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
    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    for index, column in enumerate(columns):
        if column.endswith("Id"):
            # An id stays whole on one line, to be copied, even in 80 columns: the other columns fold.
            width = max([len(column), *(len(values[index]) for values in cells)])
            table.add_column(column, no_wrap=True, min_width=width)
        else:
            table.add_column(column, overflow="fold")
    for values in cells:
        table.add_row(*values)
    console.print(table)


def show_record(title: str, record: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in record.items():
        table.add_row(name, cell(value))
    console.print(table)
