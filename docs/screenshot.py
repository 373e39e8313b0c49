"""Makes docs/dashboard.png, the README's picture of /admin/queues: a local stack with some traffic.

Run with `.venv/bin/python docs/screenshot.py` (needs /usr/bin/chromium: `make browser`).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.support.local_stack_process import ADMIN_KEY, running_stack, wait_until  # noqa: E402

LAUNCH_FLAGS = ["--headless=new", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def main() -> None:
    with tempfile.TemporaryDirectory() as logs, running_stack(Path(logs), "RetryMaxAttempts=1") as stack:
        api, http = stack.api, stack.http
        http.put(f"{api}/api/workspaces/workspace-456/settings", json={"smsPerSecond": 10}, timeout=10)
        for index in range(120):
            workspace = ("workspace-123", "workspace-456")[index % 2]
            body = {
                "phoneNumber": f"+1555010{index:04d}",
                "message": "Your code is 1234",
                "contactId": f"c-{index}",
                "workspaceId": workspace,
            }
            http.post(f"{api}/api/schedule-sms", json=body, timeout=10)
        email = {
            "to": "ada@example.com",
            "subject": "Hi",
            "html": "<p>Hi</p>",
            "contactId": "c-ada",
            "workspaceId": "workspace-123",
            "delay": 3_600_000,
        }
        http.post(f"{api}/api/schedule-email", json=email, timeout=10)
        stack.set_faults(reject=["+15550109999"])
        rejected = {"phoneNumber": "+15550109999", "message": "hi", "contactId": "c-x", "workspaceId": "workspace-123"}
        http.post(f"{api}/api/schedule-sms", json=rejected, timeout=10)
        time.sleep(5)  # the singles are sent before the provider starts failing
        stack.set_faults(rate5xx=1.0)
        for index in range(3):
            body = {
                "phoneNumber": f"+1555020{index:04d}",
                "message": "hi",
                "contactId": f"d-{index}",
                "workspaceId": "workspace-123",
            }
            http.post(f"{api}/api/schedule-sms", json=body, timeout=10)
        time.sleep(3)
        stack.set_faults(rate5xx=0.0)
        recipients = [{"phoneNumber": f"+1555030{i:04d}", "contactId": f"b{i}"} for i in range(3000)]
        bulk = {"workspaceId": "workspace-456", "name": "winter-sale", "message": "Hi!", "recipients": recipients}
        http.post(f"{api}/api/bulk-sms", json=bulk, timeout=60)
        time.sleep(20)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{api}/admin/queues")
            page.fill("#key-input", ADMIN_KEY)
            page.click("#key-form button[type=submit]")
            page.wait_for_selector("#board:not([hidden])")
            page.fill("#search-workspace", "workspace-123")
            page.fill("#search-value", "+1 555 010 0002")
            page.click("#search-form button[type=submit]")
            wait_until(lambda: page.locator("#results tr").count() > 0, timeout=10)
            time.sleep(2.5)
            page.screenshot(path=str(ROOT / "docs" / "dashboard.png"), full_page=True)
            browser.close()


if __name__ == "__main__":
    main()
