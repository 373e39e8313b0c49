"""qs, the command line, against the local stack: make a key, use it, revoke it; and the bootstrap key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
