"""qs broadcast / qs broadcasts: send to a CSV of contacts in bulk, watch it to the end, list, status, cancel."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from qs_cli.client import ApiClient, ApiError
from qs_cli.output import errors, show_json, show_record, show_table

MAX_PER_REQUEST = 10_000
RECIPIENT_COLUMNS = {"sms": "phoneNumber", "email": "to"}
POLL_SECONDS = 1.0

broadcast_app = typer.Typer(help="Send one text to many contacts (a CSV), and follow it.", no_args_is_help=True)
broadcasts_app = typer.Typer(help="A workspace's broadcasts.", no_args_is_help=True)


def read_contacts(path: Path, channel: str) -> list[dict[str, Any]]:
    """Recipients from a CSV whose header names the columns: phoneNumber (SMS) or to (email) and contactId
    are taken as such, every other column becomes a variable of that name."""
    address = RECIPIENT_COLUMNS[channel]
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {address, "contactId"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: the header has no {', '.join(sorted(missing))} column")
        recipients = []
        for row in reader:
            variables = {name: value for name, value in row.items() if name not in (address, "contactId") and name}
            recipients.append({address: row[address], "contactId": row["contactId"], "variables": variables})
    if not recipients:
        raise ValueError(f"{path}: no contacts after the header")
    return recipients


def in_requests(recipients: list[dict[str, Any]], size: int = MAX_PER_REQUEST) -> list[list[dict[str, Any]]]:
    return [recipients[start : start + size] for start in range(0, len(recipients), size)]


def totals(views: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("total", "queued", "sending", "sent", "failed", "cancelled", "rateLimited")
    return {key: sum(int(view.get(key) or 0) for view in views) for key in keys}


def _client(ctx: typer.Context) -> ApiClient:
    client: ApiClient = ctx.find_root().obj.client
    return client


def _json_wanted(ctx: typer.Context) -> bool:
    return bool(ctx.find_root().obj.as_json)


def _fail(exc: ApiError) -> typer.Exit:
    errors.print(f"error: {exc.message}", markup=False, highlight=False)
    return typer.Exit(1)


def watch(client: ApiClient, ids: list[str], sleep: Callable[[float], None] = time.sleep) -> list[dict[str, Any]]:
    """A live bar of sent / failed / queued until nothing is left; Ctrl-C asks whether to cancel."""
    views = [client.call("GET", f"/api/broadcasts/{bid}") for bid in ids]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    # On stderr, as curl's: stdout stays the summary (or the JSON of --json).
    with Progress(*columns, console=errors, transient=False) as progress:
        task = progress.add_task("sent", total=totals(views)["total"])
        try:
            while True:
                now = totals(views)
                done, waiting = now["sent"] + now["failed"] + now["cancelled"], now["queued"] + now["sending"]
                label = f"sent {now['sent']} · failed {now['failed']} · queued {waiting}"
                progress.update(task, completed=done, description=label)
                if waiting == 0:
                    return views
                sleep(POLL_SECONDS)
                views = [client.call("GET", f"/api/broadcasts/{bid}") for bid in ids]
        except KeyboardInterrupt:
            progress.stop()
            if typer.confirm("Cancel the broadcast (what is not sent yet)?", default=False):
                return [client.call("DELETE", f"/api/broadcasts/{bid}") for bid in ids]
            errors.print(f"left running: qs broadcast status {' '.join(ids)}", markup=False)
            raise typer.Exit(130) from None


def _send(ctx: typer.Context, channel: str, csv_path: Path, body: dict[str, Any]) -> None:
    try:
        recipients = read_contacts(csv_path, channel)
    except (OSError, ValueError) as exc:
        errors.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    client = _client(ctx)
    ids: list[str] = []
    rejected: list[dict[str, Any]] = []
    try:
        for offset, part in enumerate(in_requests(recipients)):
            accepted = client.call("POST", f"/api/bulk-{channel}", {**body, "recipients": part})
            ids.append(accepted["broadcastId"])
            start = offset * MAX_PER_REQUEST
            rejected += [{**r, "index": r["index"] + start} for r in accepted["rejected"]]
        views = watch(client, ids)
    except ApiError as exc:
        raise _fail(exc) from exc
    summary = totals(views)
    if _json_wanted(ctx):
        show_json({"broadcastIds": ids, **summary, "rejected": rejected})
    else:
        show_record("broadcast", {"broadcastIds": ", ".join(ids), **summary, "rejected": len(rejected)})
        if rejected:
            show_table("rejected (row = index + 2 in the CSV)", rejected, ("index", "contactId", "error"))
    if summary["failed"] or rejected:
        raise typer.Exit(1)


Workspace = Annotated[str, typer.Option(help="workspaceId")]
CsvFile = Annotated[Path, typer.Option("--csv", help="contacts: a header row, then one contact per row")]
Name = Annotated[str | None, typer.Option(help="the broadcast's name")]


@broadcast_app.command("sms")
def broadcast_sms(
    ctx: typer.Context,
    csv_path: CsvFile,
    message: Annotated[str, typer.Option(help="the text, with {{column}} placeholders")],
    workspace: Workspace = "workspace-123",
    name: Name = None,
) -> None:
    """Send an SMS to every contact of the CSV (column phoneNumber) and follow it to the end."""
    _send(ctx, "sms", csv_path, {"workspaceId": workspace, "message": message, "name": name})


@broadcast_app.command("email")
def broadcast_email(
    ctx: typer.Context,
    csv_path: CsvFile,
    subject: Annotated[str, typer.Option()],
    html: Annotated[str | None, typer.Option(help="the HTML body")] = None,
    html_file: Annotated[Path | None, typer.Option(help="a file holding the HTML body")] = None,
    text: Annotated[str | None, typer.Option()] = None,
    workspace: Workspace = "workspace-123",
    name: Name = None,
) -> None:
    """Send an email to every contact of the CSV (column to) and follow it to the end."""
    if (html is None) == (html_file is None):
        errors.print("error: give --html or --html-file (one of them)")
        raise typer.Exit(2)
    body_html = html if html is not None else Path(str(html_file)).read_text(encoding="utf-8")
    body = {"workspaceId": workspace, "subject": subject, "html": body_html, "name": name}
    _send(ctx, "email", csv_path, {**body, **({"text": text} if text is not None else {})})


def _show_broadcast(ctx: typer.Context, method: str, broadcast_id: str) -> None:
    try:
        view = _client(ctx).call(method, f"/api/broadcasts/{broadcast_id}")
    except ApiError as exc:
        raise _fail(exc) from exc
    show_json(view) if _json_wanted(ctx) else show_record(f"broadcast {broadcast_id}", view)


@broadcast_app.command("status")
def broadcast_status(ctx: typer.Context, broadcast_id: str) -> None:
    """A broadcast's progress."""
    _show_broadcast(ctx, "GET", broadcast_id)


@broadcast_app.command("cancel")
def broadcast_cancel(ctx: typer.Context, broadcast_id: str) -> None:
    """Cancel what a broadcast has not sent yet."""
    _show_broadcast(ctx, "DELETE", broadcast_id)


@broadcasts_app.command("list")
def list_broadcasts(ctx: typer.Context, workspace: Workspace = "workspace-123") -> None:
    """A workspace's broadcasts, newest first (the first 100)."""
    try:
        listing = _client(ctx).call("GET", "/api/broadcasts", params={"workspaceId": workspace, "limit": 100})
    except ApiError as exc:
        raise _fail(exc) from exc
    if _json_wanted(ctx):
        show_json(listing)
    else:
        columns = ("broadcastId", "name", "channel", "state", "total", "createdAt")
        show_table("broadcasts", listing["broadcasts"], columns)
