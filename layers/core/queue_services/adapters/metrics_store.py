"""The metrics table: per-channel, per-workspace outcome counters (DESIGN §3's metric meanings)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from queue_services.adapters.aws import call_aws, write_batches
from queue_services.channels import Channel
from queue_services.errors import DependencyUnavailable
from queue_services.models import ChannelMetrics, Counters, MetricsResponse, MinuteCounts
from queue_services.scheduling import iso_utc

_PK_PREFIX = "METRICS#"
_SK_PREFIX = "WS#"
_COUNTER_ATTRIBUTES = {"total": "total", "success": "success", "failed": "failed", "rate_limited": "rateLimited"}
# Per-minute counts for the dashboard's throughput chart: one item per channel and minute, kept an hour.
_MINUTE_PK_PREFIX = "MINUTES#"
_MINUTE_FORMAT = "%Y-%m-%dT%H:%M"
MINUTES_KEPT = timedelta(hours=1)


def minute_key(moment: datetime) -> str:
    """The minute a moment falls in, as the per-minute items' sort key (UTC)."""
    return moment.astimezone(UTC).strftime(_MINUTE_FORMAT)


class MetricsStore:
    """Counters live in one item per (channel, workspace); channel totals are summed on read.

    Summing on read keeps writes off a single hot item: each batch makes one atomic ADD per workspace.
    """

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def record(self, channel: Channel, by_workspace: Mapping[str, Counters]) -> None:
        for workspace_id, counters in by_workspace.items():
            if not counters.is_zero:
                self._call("update_item", **self.increment(channel, workspace_id, counters))

    def increment(self, channel: Channel, workspace_id: str, counters: Counters) -> dict[str, Any]:
        """The UpdateItem (its parameters) that adds counters to a workspace's item: on its own, or as one
        item of a transaction (adapters.settlement)."""
        names = {f"#{attr}": attr for attr in _COUNTER_ATTRIBUTES.values()}
        values = {f":{attr}": {"N": str(getattr(counters, field))} for field, attr in _COUNTER_ATTRIBUTES.items()}
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": _PK_PREFIX + channel}, "sk": {"S": _SK_PREFIX + workspace_id}},
            "UpdateExpression": "ADD " + ", ".join(f"#{a} :{a}" for a in _COUNTER_ATTRIBUTES.values()),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def record_minute(self, channel: Channel, now: datetime, counters: Counters) -> None:
        """Add a batch's outcomes to the channel's item of the current minute (one UpdateItem).

        Counted per delivery, not per ledger transition: a redelivered batch counts again. The chart shows
        throughput; the exact counts are the per-workspace ones.
        """
        if counters.is_zero:
            return
        names = {f"#{attr}": attr for attr in _COUNTER_ATTRIBUTES.values()}
        values = {f":{attr}": {"N": str(getattr(counters, field))} for field, attr in _COUNTER_ATTRIBUTES.items()}
        self._call(
            "update_item",
            TableName=self._table,
            Key={"pk": {"S": _MINUTE_PK_PREFIX + channel}, "sk": {"S": minute_key(now)}},
            UpdateExpression="ADD "
            + ", ".join(f"#{a} :{a}" for a in _COUNTER_ATTRIBUTES.values())
            + " SET retainUntil = :retain",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":retain": {"N": str(int((now + MINUTES_KEPT).timestamp()))}},
        )

    def minutes(self, channel: Channel, now: datetime, count: int) -> list[MinuteCounts]:
        """The channel's last `count` minutes, oldest first, the current one last; a quiet minute is zeros."""
        wanted = [minute_key(now - timedelta(minutes=back)) for back in range(count - 1, -1, -1)]
        answer = self._call(
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues={
                ":pk": {"S": _MINUTE_PK_PREFIX + channel},
                ":first": {"S": wanted[0]},
                ":last": {"S": wanted[-1]},
            },
        )
        found = {item["sk"]["S"]: item for item in answer.get("Items", [])}
        return [
            MinuteCounts(
                minute=minute + "Z",
                sent=int(found.get(minute, {}).get("success", {"N": "0"})["N"]),
                failed=int(found.get(minute, {}).get("failed", {"N": "0"})["N"]),
                rate_limited=int(found.get(minute, {}).get("rateLimited", {"N": "0"})["N"]),
            )
            for minute in wanted
        ]

    def read(self, now: datetime, workspace_id: str | None = None) -> MetricsResponse:
        """The seed's shape; with workspace_id, only that workspace is counted and listed."""
        channels = {channel: self._read_channel(channel, workspace_id) for channel in Channel}
        return MetricsResponse(sms=channels[Channel.SMS], email=channels[Channel.EMAIL], timestamp=iso_utc(now))

    def reset(self, channels: Iterable[Channel]) -> None:
        for channel in channels:
            keys = [{"pk": item["pk"], "sk": item["sk"]} for item in self._query(channel, projection="pk, sk")]
            keys += [
                {"pk": item["pk"], "sk": item["sk"]}
                for item in self._query(channel, projection="pk, sk", prefix=_MINUTE_PK_PREFIX)
            ]
            write_batches(self._ddb, self._table, [{"DeleteRequest": {"Key": key}} for key in keys], "metrics table")

    def is_reachable(self) -> bool:
        try:
            self._call("describe_table", TableName=self._table)
        except DependencyUnavailable:
            return False
        return True

    def _read_channel(self, channel: Channel, workspace_id: str | None) -> ChannelMetrics:
        workspaces: dict[str, Counters] = {}
        for item in self._query(channel):
            workspace = item["sk"]["S"].removeprefix(_SK_PREFIX)
            if workspace_id is not None and workspace != workspace_id:
                continue
            workspaces[workspace] = Counters(
                **{field: int(item.get(attr, {"N": "0"})["N"]) for field, attr in _COUNTER_ATTRIBUTES.items()}
            )
        total = sum(workspaces.values(), Counters())
        return ChannelMetrics(**total.model_dump(), workspaces=dict(sorted(workspaces.items())))

    def _query(
        self, channel: Channel, projection: str | None = None, prefix: str = _PK_PREFIX
    ) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": prefix + channel}},
            "ConsistentRead": True,
        }
        if projection:
            kwargs["ProjectionExpression"] = projection
        while True:
            page = self._call("query", **kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        return call_aws(self._ddb, operation, "metrics table", **kwargs)
