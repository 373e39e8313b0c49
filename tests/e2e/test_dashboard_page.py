"""The queue dashboard (/admin/queues) in a real browser: Debian's chromium, driven by Playwright.

A stack of its own with RetryMaxAttempts=1, so that a provider 5xx dead-letters a message at once. Each
test saves a screenshot under test-artifacts/dashboard/ and fails on any console error of the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.local_stack_process import (
    ADMIN_KEY,
    LocalStackProcess,
    keyed_session,
    no_batch_in_flight,
    running_stack,
    wait_until,
)

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
# A closed network: no background requests to Google's hosts, no GPU, no first-run UI.
LAUNCH_FLAGS = [
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def board_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    with running_stack(tmp_path_factory.mktemp("dashboard_stack"), "RetryMaxAttempts=1") as stack:
        yield stack


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (make browser)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_FLAGS)
        yield launched
        launched.close()


class Page:
    """One browser tab on the dashboard, recording console errors and uncaught exceptions."""

    def __init__(self, browser: object, stack: LocalStackProcess, name: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1100})  # type: ignore[attr-defined]
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        # Every confirmation the page asks for is answered yes (the test clicks the buttons on purpose).
        self.page.on("dialog", lambda dialog: dialog.accept())
        self.name = name
        self.page.goto(f"{stack.api}/admin/queues")

    def login(self, key: str) -> None:
        self.page.fill("#key-input", key)
        self.page.click("#key-form button[type=submit]")
        self.page.wait_for_selector("#board:not([hidden])")

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def wait_text(self, selector: str, pattern: str) -> None:
        """Wait until the element's text matches pattern: the page refreshes itself every 2 s, no reload."""
        playwright_api.expect(self.page.locator(selector)).to_have_text(re.compile(pattern), timeout=TIMEOUT_MS)

    def close(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}.png"), full_page=True)
        self.context.close()
        assert self.errors == [], f"console errors on the dashboard: {self.errors}"


@pytest.fixture
def open_page(browser: object, board_stack: LocalStackProcess, request: pytest.FixtureRequest) -> Iterator[Page]:
    wait_until(lambda: no_batch_in_flight(board_stack), timeout=60)
    board_stack.set_faults(rate429=0, rate5xx=0, latencyMs=0, maxPerSecond=None, reject=[])
    page = Page(browser, board_stack, request.node.name)
    yield page
    page.close()


def post_sms(stack: LocalStackProcess, phone: str, workspace: str = "workspace-123", contact: str = "c-1") -> str:
    body = {"phoneNumber": phone, "message": "hello", "contactId": contact, "workspaceId": workspace}
    answer = stack.http.post(f"{stack.api}/api/schedule-sms", json=body, timeout=10)
    assert answer.status_code == 202, answer.text
    message_id: str = answer.json()["messageId"]
    return message_id


def test_the_page_loads_without_a_key_and_is_served_with_strict_headers(board_stack: LocalStackProcess) -> None:
    answer = requests.get(f"{board_stack.api}/admin/queues", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    # No external script, style or font: every reference is a file of the page's own.
    assert not re.search(r"""(src|href)=["']https?://""", answer.text)
    script = requests.get(f"{board_stack.api}/admin/queues/assets/dashboard.js", timeout=10)
    assert script.status_code == 200
    assert "javascript" in script.headers["Content-Type"]
    # Only the page's own files: nothing else of the package, and no way out of its folder.
    assert requests.get(f"{board_stack.api}/admin/queues/assets/settings.py", timeout=10).status_code == 404
    assert requests.get(f"{board_stack.api}/admin/queues/assets/..%2Fsettings.py", timeout=10).status_code in (403, 404)
    # The data needs a key.
    assert requests.get(f"{board_stack.api}/api/admin/queues", timeout=10).status_code == 401


def test_admin_sees_counts_change_after_messages_are_posted(open_page: Page, board_stack: LocalStackProcess) -> None:
    open_page.login(ADMIN_KEY)
    open_page.wait_text("#scope", "admin key")
    before = int(open_page.text('[data-tile="sent"] .value').replace(",", "") or 0)
    for index in range(3):
        post_sms(board_stack, f"+1555010{index:04d}")
    open_page.wait_text('[data-tile="sent"] .value', rf"^{before + 3}$")
    open_page.page.wait_for_selector('[data-channel="sms"] svg rect')  # the throughput chart has bars


def test_a_dead_letter_is_peeked_and_redriven_until_the_dlq_is_empty(
    open_page: Page, board_stack: LocalStackProcess
) -> None:
    open_page.login(ADMIN_KEY)
    board_stack.set_faults(rate5xx=1.0)
    dead = [post_sms(board_stack, f"+1555020{index:04d}") for index in range(2)]
    row = '[data-queue="send-sms-dlq"] [data-field="visible"]'
    open_page.wait_text(row, r"^2$")
    board_stack.set_faults(rate5xx=0.0)
    open_page.page.click('[data-queue="send-sms-dlq"] [data-action="peek"]')
    open_page.wait_text("#peek-title", r"send-sms-dlq: 2 dead letters")
    peeked = open_page.text("#peek-rows")
    assert all(message_id in peeked for message_id in dead)
    assert "+15550200000" not in peeked
    assert "*" in peeked
    open_page.page.click('[data-queue="send-sms-dlq"] [data-action="redrive"]')
    open_page.wait_text("#notice", r"Redrive of send-sms-dlq started")
    open_page.wait_text(row, r"^0$")
    wait_until(lambda: {m["messageId"] for m in board_stack.sink_messages("sms")} >= set(dead), timeout=30)


def test_a_broadcast_is_cancelled_and_a_workspace_paused_and_resumed(
    open_page: Page, board_stack: LocalStackProcess
) -> None:
    open_page.login(ADMIN_KEY)
    settings = f"{board_stack.api}/api/workspaces/workspace-456/settings"
    assert board_stack.http.put(settings, json={"paused": True}, timeout=10).status_code == 200
    recipients = [{"phoneNumber": f"+1555030{i:04d}", "contactId": f"b{i}"} for i in range(50)]
    bulk = {"workspaceId": "workspace-456", "message": "Hi", "name": "winter-sale", "recipients": recipients}
    answer = board_stack.http.post(f"{board_stack.api}/api/bulk-sms", json=bulk, timeout=30)
    assert answer.status_code == 202, answer.text
    broadcast = f'[data-broadcast="{answer.json()["broadcastId"]}"]'
    open_page.wait_text(f"{broadcast} [data-field=state]", "^active$")
    open_page.wait_text('[data-workspace="workspace-456"]', "paused")
    open_page.page.click(f'{broadcast} [data-action="cancel"]')
    open_page.wait_text("#notice", "Broadcast cancelled")
    open_page.wait_text(f"{broadcast} [data-field=state]", "^cancelled$")
    open_page.page.click('[data-workspace="workspace-456"] [data-action="resume"]')
    open_page.wait_text("#notice", "workspace-456 resumed")
    open_page.wait_text('[data-workspace="workspace-456"]', "running")
    stored = board_stack.http.get(settings, timeout=10).json()
    assert stored["paused"] is False


def test_a_message_is_found_by_its_recipient(open_page: Page, board_stack: LocalStackProcess) -> None:
    message_id = post_sms(board_stack, "+14155550199", contact="c-find")
    open_page.login(ADMIN_KEY)
    open_page.page.fill("#search-workspace", "workspace-123")
    open_page.page.select_option("#search-by", "recipient")
    open_page.page.fill("#search-value", "+1 (415) 555-0199")  # typed as a person would
    open_page.page.click("#search-form button[type=submit]")
    open_page.page.wait_for_selector(f'[data-message="{message_id}"]')
    row = open_page.text(f'[data-message="{message_id}"]')
    assert "c-find" in row
    assert "4155550199" not in row


def test_a_workspace_key_sees_only_its_own_workspace(open_page: Page, board_stack: LocalStackProcess) -> None:
    post_sms(board_stack, "+15550400001", workspace="workspace-456")
    post_sms(board_stack, "+15550400002", workspace="workspace-123")
    wait_until(lambda: no_batch_in_flight(board_stack), timeout=60)
    open_page.login("local-key-123")
    open_page.wait_text("#scope", "workspace workspace-123")
    assert open_page.page.locator("#queues-card").is_hidden()
    assert open_page.page.locator("#channels-card").is_hidden()
    workspaces = open_page.page.locator("#workspaces [data-workspace]").all_inner_texts()
    assert len(workspaces) == 1
    assert "workspace-123" in workspaces[0]
    assert "workspace-456" not in open_page.text("#board")
    assert open_page.page.input_value("#search-workspace") == "workspace-123"


def test_a_read_only_deployment_hides_every_button(browser: object, tmp_path: Path) -> None:
    with running_stack(tmp_path, "DashboardReadOnly=true") as stack:
        admin = keyed_session(ADMIN_KEY)
        answer = admin.post(f"{stack.api}/api/admin/dlq/sms/redrive", timeout=10)
        assert answer.status_code == 405
        page = Page(browser, stack, "test_a_read_only_deployment_hides_every_button")
        try:
            page.login(ADMIN_KEY)
            page.wait_text("#refreshed", "read-only")
            page.page.wait_for_selector('[data-queue="send-sms-dlq"]')
            assert page.page.locator("[data-action=redrive], [data-action=purge], [data-action=pause]").count() == 0
        finally:
            page.close()


def test_the_emulator_publishes_the_queues_oldest_message_age_as_sqs_does(board_stack: LocalStackProcess) -> None:
    from datetime import UTC, datetime, timedelta

    settings = f"{board_stack.api}/api/workspaces/workspace-456/settings"
    assert board_stack.http.put(settings, json={"paused": True}, timeout=10).status_code == 200
    try:
        post_sms(board_stack, "+15550500001", workspace="workspace-456")  # held: it waits in its queue
        cloudwatch = board_stack.aws_client("cloudwatch")

        def oldest_age() -> float:
            now = datetime.now(UTC)
            answer = cloudwatch.get_metric_data(
                MetricDataQueries=[
                    {
                        "Id": "age",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/SQS",
                                "MetricName": "ApproximateAgeOfOldestMessage",
                                "Dimensions": [{"Name": "QueueName", "Value": "send-sms-queue"}],
                            },
                            "Period": 60,
                            "Stat": "Maximum",
                        },
                    }
                ],
                StartTime=now - timedelta(minutes=5),
                EndTime=now + timedelta(minutes=1),
                ScanBy="TimestampDescending",
            )
            values = answer["MetricDataResults"][0]["Values"]
            return float(values[0]) if values else 0.0

        wait_until(lambda: oldest_age() > 1.0, timeout=30)
    finally:
        assert board_stack.http.put(settings, json={"paused": False}, timeout=10).status_code == 200
