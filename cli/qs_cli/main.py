"""qs: manage keys, send, and look at messages and metrics, through the Queue Services HTTP API.

Defaults reach the local stack (make run) with its admin key. Set QS_API_URL and QS_API_KEY, or pass
--api-url and --api-key, for a deployed stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from qs_cli.broadcast import broadcast_app, broadcasts_app
from qs_cli.client import LOCAL_ADMIN_KEY, LOCAL_API_URL, ApiClient, ApiError
from qs_cli.output import errors, show_json, show_record, show_table

# One paragraph per blank line: typer would otherwise keep the docstring's line breaks mid-sentence.
HELP = "\n\n".join(" ".join(paragraph.split()) for paragraph in (__doc__ or "").split("\n\n"))
app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys (admin key only).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
settings_app = typer.Typer(help="A workspace's settings: sender IDs, caps, pause.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")
app.add_typer(broadcast_app, name="broadcast")
app.add_typer(broadcasts_app, name="broadcasts")


@dataclass
class Options:
    client: ApiClient
    as_json: bool


def options(ctx: typer.Context) -> Options:
    found: Options = ctx.find_root().obj
    return found


@app.callback()
def settings(
    ctx: typer.Context,
    api_url: Annotated[str, typer.Option(envvar="QS_API_URL", help="the API's base URL")] = LOCAL_API_URL,
    api_key: Annotated[str, typer.Option(envvar="QS_API_KEY", help="x-api-key to send")] = LOCAL_ADMIN_KEY,
    as_json: Annotated[bool, typer.Option("--json", help="print the API's JSON answer")] = False,
) -> None:
    ctx.obj = Options(ApiClient(api_url, api_key), as_json)


def call(ctx: typer.Context, method: str, path: str, body: Any = None) -> Any:
    try:
        return options(ctx).client.call(method, path, body)
    except ApiError as exc:
        errors.print(f"error: {exc.message}", markup=False, highlight=False)
        raise typer.Exit(1) from exc


def answer(ctx: typer.Context, data: Any, title: str) -> None:
    if options(ctx).as_json:
        show_json(data)
    else:
        show_record(title, data)


def show_listing(ctx: typer.Context, listing: dict[str, Any], key: str, title: str, columns: Sequence[str]) -> None:
    """A list answer: as it came with --json, else its `key` rows as a table."""
    if options(ctx).as_json:
        show_json(listing)
    else:
        show_table(title, listing[key], columns)


KEY_COLUMNS = ("keyId", "scope", "workspaceId", "label", "createdAt", "lastUsedAt")


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    workspace: Annotated[str | None, typer.Option(help="the workspace the key acts for")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="an admin key (every workspace, admin routes)")] = False,
    label: Annotated[str | None, typer.Option(help="a note to recognise the key by")] = None,
) -> None:
    """Make a key; it is shown this once."""
    body: dict[str, Any] = {"admin": True} if admin else {"workspaceId": workspace}
    if label:
        body["label"] = label
    created = call(ctx, "POST", "/api/admin/keys", body)
    answer(ctx, created, "new key (shown once: keep it now)")


@keys_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """Every key: id, scope, label, created and last used (never the key)."""
    show_listing(ctx, call(ctx, "GET", "/api/admin/keys"), "keys", "API keys", KEY_COLUMNS)


@keys_app.command("revoke")
def revoke_key(ctx: typer.Context, key_id: str) -> None:
    """Revoke a key by its keyId (refused at once locally, within 300 s on AWS)."""
    answer(ctx, call(ctx, "DELETE", f"/api/admin/keys/{key_id}"), "revoked")


@settings_app.command("get")
def get_settings(ctx: typer.Context, workspace: str) -> None:
    """A workspace's settings (the defaults if none were set)."""
    answer(ctx, call(ctx, "GET", f"/api/workspaces/{workspace}/settings"), f"settings of {workspace}")


@settings_app.command("set")
def set_settings(
    ctx: typer.Context,
    workspace: str,
    sms_from: Annotated[str | None, typer.Option(help="E.164 number or alphanumeric sender ID")] = None,
    email_from: Annotated[str | None, typer.Option(help="address, optionally 'Name <address>'")] = None,
    sms_per_second: Annotated[float | None, typer.Option(help="cap on the workspace's SMS a second")] = None,
    email_per_second: Annotated[float | None, typer.Option(help="cap on its emails a second")] = None,
    paused: Annotated[bool, typer.Option("--paused/--running", help="hold the workspace's messages")] = False,
) -> None:
    """Replace a workspace's settings (what is not given is unset)."""
    body: dict[str, Any] = {"paused": paused}
    for name, value in (
        ("smsFrom", sms_from),
        ("emailFrom", email_from),
        ("smsPerSecond", sms_per_second),
        ("emailPerSecond", email_per_second),
    ):
        if value is not None:
            body[name] = value
    answer(ctx, call(ctx, "PUT", f"/api/workspaces/{workspace}/settings", body), f"settings of {workspace}")


@app.command("workspaces")
def list_workspaces(ctx: typer.Context) -> None:
    """The workspaces that have settings (admin key)."""
    columns = ("workspaceId", "smsFrom", "emailFrom", "smsPerSecond", "emailPerSecond", "paused", "updatedAt")
    show_listing(ctx, call(ctx, "GET", "/api/workspaces"), "workspaces", "workspaces", columns)


def timing(delay: int | None, send_at: str | None) -> dict[str, Any]:
    return {key: value for key, value in (("delay", delay), ("sendAt", send_at)) if value is not None}


Workspace = Annotated[str, typer.Option(help="workspaceId")]
Contact = Annotated[str, typer.Option(help="contactId")]
Delay = Annotated[int | None, typer.Option(help="milliseconds from now")]
SendAt = Annotated[str | None, typer.Option("--send-at", help="ISO 8601 time with an offset")]


@app.command("send-sms")
def send_sms(
    ctx: typer.Context,
    workspace: Workspace,
    contact: Contact,
    to: Annotated[str, typer.Option(help="phone number, E.164")],
    message: Annotated[str, typer.Option(help="the text")],
    delay: Delay = None,
    send_at: SendAt = None,
) -> None:
    """Queue one SMS."""
    body = {"workspaceId": workspace, "contactId": contact, "phoneNumber": to, "message": message}
    answer(ctx, call(ctx, "POST", "/api/schedule-sms", {**body, **timing(delay, send_at)}), "accepted")


@app.command("send-email")
def send_email(
    ctx: typer.Context,
    workspace: Workspace,
    contact: Contact,
    to: Annotated[str, typer.Option(help="email address")],
    subject: Annotated[str, typer.Option()],
    html: Annotated[str, typer.Option()],
    text: Annotated[str | None, typer.Option()] = None,
    delay: Delay = None,
    send_at: SendAt = None,
) -> None:
    """Queue one email."""
    body: dict[str, Any] = {"workspaceId": workspace, "contactId": contact, "to": to, "subject": subject, "html": html}
    if text is not None:
        body["text"] = text
    answer(ctx, call(ctx, "POST", "/api/schedule-email", {**body, **timing(delay, send_at)}), "accepted")


@app.command()
def status(ctx: typer.Context, message_id: str) -> None:
    """A message's status, attempts, times and last error."""
    answer(ctx, call(ctx, "GET", f"/api/messages/{message_id}"), f"message {message_id}")


@app.command()
def cancel(ctx: typer.Context, message_id: str) -> None:
    """Cancel a queued or scheduled message."""
    answer(ctx, call(ctx, "DELETE", f"/api/messages/{message_id}"), f"message {message_id}")


@app.command()
def metrics(ctx: typer.Context) -> None:
    """Counters per channel and workspace (a workspace key sees its own)."""
    data = call(ctx, "GET", "/api/metrics")
    if options(ctx).as_json:
        show_json(data)
        return
    rows = []
    for channel in ("sms", "email"):
        counts = data.get(channel) or {}
        rows.append({"channel": channel, "workspace": "(all)", **counts})
        for workspace, numbers in sorted((counts.get("workspaces") or {}).items()):
            rows.append({"channel": channel, "workspace": workspace, **numbers})
    show_table("metrics", rows, ("channel", "workspace", "total", "success", "failed", "rateLimited"))


def main() -> None:
    app()
