"""qs broadcast's pieces without a stack: reading a CSV of contacts, splitting requests, the Ctrl-C question."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from qs_cli import broadcast
from qs_cli.broadcast import in_requests, read_contacts, totals, watch


def test_contacts_take_address_and_contact_id_and_every_other_column_as_a_variable(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("\ufeffphoneNumber,contactId,firstName,city\n+14155550101,c-1,Ada,London\n")
    assert read_contacts(path, "sms") == [
        {"phoneNumber": "+14155550101", "contactId": "c-1", "variables": {"firstName": "Ada", "city": "London"}}
    ]


@pytest.mark.parametrize(("text", "message"), [("to,contactId\n", "no contacts"), ("email,contactId\na,b\n", "no to")])
def test_a_csv_without_contacts_or_its_address_column_is_refused_naming_it(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_contacts(path, "email")


def test_requests_hold_at_most_10000_recipients() -> None:
    parts = in_requests([{"n": n} for n in range(25_001)])
    assert [len(part) for part in parts] == [10_000, 10_000, 5_001]


class FakeApi:
    """Answers GET with a broadcast still sending, records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        self.calls.append((method, path))
        state = "cancelled" if method == "DELETE" else "active"
        return {"total": 10, "queued": 6, "sending": 1, "sent": 3, "failed": 0, "cancelled": 0, "state": state}


def interrupted(seconds: float) -> None:
    raise KeyboardInterrupt


def test_ctrl_c_asks_and_cancels_when_told_to(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi()
    monkeypatch.setattr(broadcast.typer, "confirm", lambda question, default: True)
    views = watch(api, ["b-1"], sleep=interrupted)  # type: ignore[arg-type]
    assert ("DELETE", "/api/broadcasts/b-1") in api.calls
    assert views[0]["state"] == "cancelled"


def test_ctrl_c_leaves_it_running_when_told_to(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi()
    monkeypatch.setattr(broadcast.typer, "confirm", lambda question, default: False)
    with pytest.raises(typer.Exit) as stopped:
        watch(api, ["b-1"], sleep=interrupted)  # type: ignore[arg-type]
    assert stopped.value.exit_code == 130
    assert all(method == "GET" for method, _ in api.calls)


def test_totals_add_up_every_broadcast_of_a_split_send() -> None:
    views = [{"total": 10, "sent": 4, "failed": 1}, {"total": 5, "sent": 5, "queued": 0}]
    assert totals(views) == {
        "total": 15, "queued": 0, "sending": 0, "sent": 9, "failed": 1, "cancelled": 0, "rateLimited": 0,
    }  # fmt: skip
