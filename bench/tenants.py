"""Tenant benchmark: a capped workspace beside an uncapped one, and a paused workspace resumed.

Usage: python bench/tenants.py [--record]

cap:   workspace-123 capped at 10 SMS/s, 500 SMS from it and 500 from workspace-456 released at one
       instant: the most workspace-123 had in any sliding second, and the channel's rate while both had work.
pause: workspace-123 paused, 200 SMS from it queued and left waiting 10 s, then resumed: how long after
       the resume the last one arrived, and how many were dead-lettered or counted failed.
It talks to a running local stack (make run), or starts one itself, and resets the workspace afterwards.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broadcast import API_KEY, body_for, max_in_window, stack_is_up, start_stack
from recording import publish, run_header

CAPPED, OTHER = "workspace-123", "workspace-456"


def session() -> requests.Session:
    http = requests.Session()
    http.headers["x-api-key"] = API_KEY
    http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=8))
    return http


def put_settings(http: requests.Session, api: str, workspace: str, settings: dict[str, Any]) -> None:
    http.put(f"{api}/api/workspaces/{workspace}/settings", json=settings, timeout=10).raise_for_status()


def post_all(http: requests.Session, api: str, bodies: list[dict[str, Any]]) -> set[str]:
    def post(body: dict[str, Any]) -> str:
        response = http.post(f"{api}/api/schedule-sms", json=body, timeout=30)
        response.raise_for_status()
        return str(response.json()["messageId"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return set(pool.map(post, bodies))


def arrivals(sink: str, ids: set[str]) -> list[dict[str, Any]]:
    messages = requests.get(f"{sink}/_sink/messages", params={"channel": "sms"}, timeout=30).json()["messages"]
    return [m for m in messages if m["messageId"] in ids]


def wait_for(sink: str, ids: set[str], timeout: float) -> list[dict[str, Any]]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = arrivals(sink, ids)
        if len({m["messageId"] for m in got}) >= len(ids):
            return got
        time.sleep(0.5)
    return arrivals(sink, ids)


def cap_run(api: str, sink: str) -> dict[str, Any]:
    http = session()
    requests.delete(f"{sink}/_sink/messages", timeout=10).raise_for_status()
    put_settings(http, api, CAPPED, {"smsPerSecond": 10})
    send_at = (datetime.now(UTC) + timedelta(seconds=25)).isoformat()
    bodies = []
    for index in range(1000):
        body = {**body_for("sms", index, send_at), "workspaceId": CAPPED if index % 2 else OTHER}
        bodies.append(body)
    ids = post_all(http, api, bodies)
    got = wait_for(sink, ids, timeout=200)
    put_settings(http, api, CAPPED, {})
    capped = sorted(m["receivedAt"] for m in got if m["workspaceId"] == CAPPED)
    other = sorted(m["receivedAt"] for m in got if m["workspaceId"] == OTHER)
    everything = sorted(capped + other)
    both_end = min(capped[-1], other[-1])
    while_both = [stamp for stamp in everything if stamp <= both_end]
    return {
        "scenario": "cap",
        "delivered": len({m["messageId"] for m in got}),
        "capped_max_in_1s": max_in_window(capped),
        "capped_rate": (len(capped) - 1) / (capped[-1] - capped[0]),
        "channel_max_in_1s": max_in_window(everything),
        "channel_rate_while_both": (len(while_both) - 1) / (while_both[-1] - while_both[0]),
        "both_seconds": both_end - everything[0],
    }


def pause_run(api: str, sink: str, aws: str) -> dict[str, Any]:
    http = session()
    requests.delete(f"{sink}/_sink/messages", timeout=10).raise_for_status()
    http.post(f"{api}/api/metrics/reset", json={"type": "all"}, timeout=10).raise_for_status()
    put_settings(http, api, CAPPED, {"paused": True})
    time.sleep(4)  # every worker's cached settings have expired (3 s)
    bodies = [{**body_for("sms", index, ""), "workspaceId": CAPPED} for index in range(200)]
    for body in bodies:
        body.pop("sendAt")
    ids = post_all(http, api, bodies)
    time.sleep(10)  # long enough for each message to be received, held and handed back more than once
    early = len(arrivals(sink, ids))
    resumed = time.time()
    put_settings(http, api, CAPPED, {})
    got = wait_for(sink, ids, timeout=120)
    last = max(m["receivedAt"] for m in got) if got else float("nan")
    dlq = requests.get(f"{api}/api/admin/dlq/sms", headers={"x-api-key": API_KEY}, timeout=10).json()
    counts = http.get(f"{api}/api/metrics", timeout=10).json()["sms"]["workspaces"].get(CAPPED, {})
    return {
        "scenario": "pause",
        "delivered": len({m["messageId"] for m in got}),
        "sent_while_paused": early,
        "last_after_resume": last - resumed,
        "dead_lettered": int(dlq.get("approximateCount", 0)),
        "failed": counts.get("failed", 0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default=f"http://127.0.0.1:{os.environ.get('QS_API_PORT', '3000')}")
    parser.add_argument("--sink", default=f"http://127.0.0.1:{os.environ.get('QS_SINK_PORT', '3001')}")
    parser.add_argument("--aws", default=f"http://127.0.0.1:{os.environ.get('QS_AWS_PORT', '4566')}")
    parser.add_argument("--record", action="store_true", help="append the section to bench/RESULTS.md")
    args = parser.parse_args()
    process = None if stack_is_up(args.api) else start_stack(args.api)
    try:
        cap = cap_run(args.api, args.sink)
        pause = pause_run(args.api, args.sink, args.aws)
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=15)
    share = 100 * cap["channel_rate_while_both"] / 50
    text = "\n".join(
        [
            run_header("Tenants: a capped workspace beside another, and a paused one"),
            f"500 SMS each from {CAPPED} (capped at 10/s) and another workspace, all due at once; then 200 SMS of a"
            " paused workspace, resumed after they were queued.",
            "",
            "| scenario | delivered | capped workspace: most in 1 s, rate | channel: most in 1 s | channel rate while"
            " both had work | sent while paused | last after resume | dead-lettered, failed |",
            "|---|---|---|---|---|---|---|---|",
            f"| cap 10/s | {cap['delivered']}/1000 | {cap['capped_max_in_1s']}, {cap['capped_rate']:.1f}/s"
            f" | {cap['channel_max_in_1s']} | {cap['channel_rate_while_both']:.1f}/s = {share:.0f} % of 50/s"
            f" ({cap['both_seconds']:.1f} s) | - | - | - |",
            f"| pause | {pause['delivered']}/200 | - | - | - | {pause['sent_while_paused']}"
            f" | {pause['last_after_resume']:.1f} s | {pause['dead_lettered']}, {pause['failed']} |",
        ]
    )
    publish(text + "\n", args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
