"""Scheduler emulation: fires due EventBridge Scheduler one-time at() schedules into their SQS targets.

moto stores schedules but never fires them (aws-facts §5); this loop does, once a second.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

log = logging.getLogger("local_stack.scheduler")

_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")


def due_time(expression: str, timezone: str | None) -> datetime | None:
    """The UTC instant of an at() expression in its time zone; None for rate()/cron() or garbage."""
    match = _AT.fullmatch(expression.strip())
    if match is None:
        return None
    local = datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone or "UTC"))
    return local.astimezone(UTC)


def queue_url_from_arn(sqs: Any, arn: str) -> str:
    name = arn.rsplit(":", 1)[-1]
    url: str = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return url


class ScheduleFirer:
    """Every interval, fire each due one-time schedule of every group, then delete it if asked to."""

    def __init__(self, scheduler: Any, sqs: Any, interval: float = 1.0) -> None:
        self._scheduler = scheduler
        self._sqs = sqs
        self._interval = interval
        self._stop = threading.Event()
        self._fired: set[tuple[str, str]] = set()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        # The service's own name for the universal target (imported here: the layer is mounted by now).
        from queue_services.adapters.schedules import UNIVERSAL_SQS_SEND

        self._universal_target = UNIVERSAL_SQS_SEND
        self.fired_count = 0

    def start(self) -> ScheduleFirer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.fire_due(datetime.now(UTC))
            except Exception:
                log.exception("scheduler pass failed")

    def fire_due(self, now: datetime) -> int:
        """Fire every schedule due at now; return how many fired."""
        fired = 0
        for group in self._paginate(self._scheduler.list_schedule_groups, "ScheduleGroups"):
            for summary in self._paginate(self._scheduler.list_schedules, "Schedules", GroupName=group["Name"]):
                key = (group["Name"], summary["Name"])
                if key in self._fired or summary.get("State", "ENABLED") != "ENABLED":
                    continue
                schedule = self._scheduler.get_schedule(GroupName=group["Name"], Name=summary["Name"])
                at = due_time(schedule.get("ScheduleExpression", ""), schedule.get("ScheduleExpressionTimezone"))
                if at is None or at > now:
                    continue
                self._deliver(schedule["Target"])
                fired += 1
                if schedule.get("ActionAfterCompletion") == "DELETE":
                    self._scheduler.delete_schedule(GroupName=group["Name"], Name=summary["Name"])
                else:
                    self._fired.add(key)
                log.info("fired schedule %s/%s (due %s)", group["Name"], summary["Name"], at.isoformat())
        self.fired_count += fired
        return fired

    def _deliver(self, target: dict[str, Any]) -> None:
        arn = target["Arn"]
        if arn == self._universal_target:
            # The universal target's Input is the SendMessage request itself.
            self._sqs.send_message(**json.loads(target["Input"]))
            return
        if arn.startswith("arn:aws:sqs:"):
            kwargs: dict[str, Any] = {"QueueUrl": queue_url_from_arn(self._sqs, arn), "MessageBody": target["Input"]}
            group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
            if group_id:
                kwargs["MessageGroupId"] = group_id
            self._sqs.send_message(**kwargs)
            return
        log.warning("schedule target %s is not an SQS queue; the local stack only fires SQS targets", arn)

    @staticmethod
    def _paginate(operation: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = operation(**kwargs)
            items.extend(page.get(key, []))
            token = page.get("NextToken")
            if not token:
                return items
            kwargs["NextToken"] = token
