"""qs, the command line, against the local stack: make a key, use it, revoke it; and the bootstrap key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from tests.support.local_stack_process import ROOT, LocalStackProcess

QS = Path(sys.executable).parent / "qs"


def qs(stack: LocalStackProcess, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QS_API_URL": stack.api}
    if key is not None:
        env["QS_API_KEY"] = key
    return subprocess.run([str(QS), *args], capture_output=True, text=True, env=env, timeout=60, check=False)  # noqa: S603


def qs_json(stack: LocalStackProcess, *args: str, key: str | None = None) -> Any:
    done = qs(stack, "--json", *args, key=key)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_key_made_with_qs_works_and_stops_working_when_revoked(stack: LocalStackProcess) -> None:
    # Given a workspace key made with qs (the local admin key by default)
    created = qs_json(stack, "keys", "create", "--workspace", "workspace-123", "--label", "e2e")
    key, key_id = created["key"], created["keyId"]
    # When it sends an SMS and reads its status
    accepted = qs_json(
        stack, "send-sms", "--workspace", "workspace-123", "--contact", "c-1", "--to", "+15551230001",
        "--message", "hello", key=key,
    )  # fmt: skip
    shown = qs(stack, "status", accepted["messageId"], key=key)
    assert shown.returncode == 0, shown.stderr
    assert accepted["messageId"] in shown.stdout
    # Then the key is listed (as a table, by default) with its last use, never the key itself
    listing = qs(stack, "keys", "list")
    assert listing.returncode == 0, listing.stderr
    assert key_id in listing.stdout
    assert key not in listing.stdout
    # And once revoked it is refused, and qs says so and exits non-zero
    assert qs_json(stack, "keys", "revoke", key_id) == {"keyId": key_id, "revoked": True}
    refused = qs(stack, "metrics", key=key)
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr


def test_qs_prints_the_apis_error_naming_the_field(stack: LocalStackProcess) -> None:
    done = qs(stack, "send-sms", "--workspace", "workspace-123", "--contact", "c", "--to", "12", "--message", "x")
    assert done.returncode == 1
    assert "HTTP 422" in done.stderr
    assert "phoneNumber" in done.stderr


def test_qs_cannot_reach_the_api_and_says_so(stack: LocalStackProcess) -> None:
    done = qs(stack, "--api-url", "http://127.0.0.1:9", "metrics")
    assert done.returncode == 1
    assert "cannot reach" in done.stderr


def test_the_bootstrap_key_is_written_straight_into_the_keys_table(stack: LocalStackProcess) -> None:
    env = {**os.environ, "QS_AWS_PORT": stack.aws.rsplit(":", 1)[1], "PYTHONPATH": str(ROOT / "layers" / "core")}
    done = subprocess.run(
        [sys.executable, "-m", "qs_cli.create_key", "--admin"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    assert key.startswith("qs_")
    answer = requests.get(f"{stack.api}/api/admin/keys", headers={"x-api-key": key}, timeout=10)
    assert answer.status_code == 200
    assert any(listed["label"] == "bootstrap" for listed in answer.json()["keys"])


def test_settings_are_set_and_read_with_qs(stack: LocalStackProcess) -> None:
    try:
        done = qs_json(stack, "settings", "set", "workspace-456", "--sms-from", "Acme", "--sms-per-second", "20")
        assert (done["smsFrom"], done["smsPerSecond"], done["paused"]) == ("Acme", 20, False)
        shown = qs(stack, "settings", "get", "workspace-456", key="local-key-456")
        assert shown.returncode == 0, shown.stderr
        assert "Acme" in shown.stdout
        refused = qs(stack, "settings", "set", "workspace-456", "--sms-from", "Not-Valid!")
        assert refused.returncode == 1
        assert "smsFrom" in refused.stderr
    finally:
        qs_json(stack, "settings", "set", "workspace-456")


def test_qs_broadcast_sends_a_csv_follows_it_to_the_end_and_fails_on_a_rejected_row(stack: LocalStackProcess) -> None:
    # Given the README's example CSV: four good contacts and one with a bad phone number
    done = qs(stack, "--json", "broadcast", "sms", "--csv", str(ROOT / "examples" / "contacts.csv"),
              "--message", "Hi {{firstName}} from {{city}}", "--name", "e2e")  # fmt: skip
    # Then it waited until every accepted message was sent, and exits 1 for the rejected row
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["total"], summary["sent"], summary["queued"], summary["sending"]) == (4, 4, 0, 0)
    assert [(r["index"], r["contactId"]) for r in summary["rejected"]] == [(4, "contact-5")]
    texts = sorted(m["message"] for m in stack.sink_messages("sms"))
    people = ("Ada from London", "Alan from Wilmslow", "Grace from Arlington", "Katherine from Hampton")
    assert texts == [f"Hi {who}" for who in people]
    # And the broadcast is listed, and its status says done; a cancel leaves a finished broadcast done
    (broadcast_id,) = summary["broadcastIds"]
    listed = qs_json(stack, "broadcasts", "list", "--workspace", "workspace-123")
    assert broadcast_id in [b["broadcastId"] for b in listed["broadcasts"]]
    status = qs_json(stack, "broadcast", "status", broadcast_id)
    assert (status["sent"], status["state"]) == (4, "done")
    assert qs_json(stack, "broadcast", "cancel", broadcast_id)["state"] == "done"
    # And one still waiting (due tomorrow) is cancelled
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = stack.http.post(
        f"{stack.api}/api/bulk-sms",
        json={"workspaceId": "workspace-123", "message": "Later", "sendAt": tomorrow,
              "recipients": [{"phoneNumber": "+15550000001", "contactId": "later-1"}]},
        timeout=30,
    )  # fmt: skip
    assert later.status_code == 202, later.text
    cancelled = qs_json(stack, "broadcast", "cancel", later.json()["broadcastId"])
    assert (cancelled["state"], cancelled["sent"]) == ("cancelled", 0)


def test_qs_broadcast_names_a_csv_without_its_address_column(stack: LocalStackProcess, tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email,contactId\na@example.com,c-1\n")
    done = qs(stack, "broadcast", "email", "--csv", str(contacts), "--subject", "Hi", "--html", "<p>Hi</p>")
    assert done.returncode == 2
    assert "no to column" in done.stderr
