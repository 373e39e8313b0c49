"""The template's CloudWatch dashboard and alarms name only metrics that exist: the workers' EMF metrics as
they really print them (namespace, name and every dimension), and AWS's own for resources of this stack."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local_stack.template import load_template, resources_of_type
from tests.support.events import api_event
from tests.support.integration_stack import Stack, post_sms
from tests.support.seeds import SEED_EMAIL

TEMPLATE = load_template()
# What AWS publishes, per namespace: the metric names used here and the one dimension set each takes.
AWS_METRICS = {
    "AWS/SQS": ({"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}, ("QueueName",)),
    "AWS/Lambda": ({"Errors", "Throttles", "Duration", "ConcurrentExecutions"}, ("FunctionName",)),
    "AWS/ApiGateway": ({"Count", "4XXError", "5XXError"}, ("ApiName", "Stage")),
}
Metric = tuple[str, str, tuple[tuple[str, str], ...]]


def placeholder(value: Any) -> str:
    """A template value as text: !Ref X -> ${X}, !GetAtt X.Y -> ${X.Y}, !Sub kept as written."""
    if isinstance(value, dict):
        ((kind, arg),) = value.items()
        if kind == "Ref":
            return "${" + arg + "}"
        if kind == "Fn::GetAtt":
            return "${" + ".".join(arg) + "}"
        if kind == "Fn::Sub":
            return str(arg)
    return str(value)


def emitted_metrics(output: str) -> set[Metric]:
    """Every (namespace, metric, dimensions) in the EMF lines of a handler's output."""
    found: set[Metric] = set()
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line[line.index("{") :])
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = tuple(sorted((name, str(document[name])) for name in dimension_set))
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], dimensions))
    return found


def dashboard_metrics() -> list[Metric]:
    body = TEMPLATE["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    parsed = json.loads(body)
    metrics: list[Metric] = []
    for widget in parsed["widgets"]:
        for row in widget["properties"]["metrics"]:
            namespace, name, *pairs = row
            assert "." not in (namespace, name), "write every metric out in full (no '.' shorthand)"
            dimensions = tuple(sorted(zip(pairs[0::2], pairs[1::2], strict=True)))
            metrics.append((namespace, name, dimensions))
    return metrics


def alarm_metrics() -> list[Metric]:
    metrics: list[Metric] = []
    for spec in resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm").values():
        props = spec["Properties"]
        stats = [query["MetricStat"]["Metric"] for query in props.get("Metrics", []) if "MetricStat" in query]
        if "MetricName" in props:
            stats.append(props)
        assert stats, "an alarm without a metric"
        for stat in stats:
            dimensions = tuple(sorted((d["Name"], placeholder(d["Value"])) for d in stat.get("Dimensions", [])))
            metrics.append((stat["Namespace"], stat["MetricName"], dimensions))
    return metrics


@pytest.fixture
def emitted(stack: Stack, capsys: pytest.CaptureFixture[str]) -> set[Metric]:
    """Run both workers over real batches and read the EMF lines they print."""
    post_sms(stack, 3)
    assert (
        stack.api.invoke(api_event("api_schedule_email", {**SEED_EMAIL, "workspaceId": "workspace-123"}))["statusCode"]
        == 202
    )
    capsys.readouterr()
    stack.sms_worker.invoke(stack.receive_event("SmsQueue", 3))
    stack.email_worker.invoke(stack.receive_event("EmailQueue", 1))
    captured = capsys.readouterr()
    found = emitted_metrics(captured.out + captured.err)
    assert found, "the workers printed no EMF metrics"
    return found


def check_aws_metric(metric: Metric) -> None:
    namespace, name, dimensions = metric
    names, dimension_names = AWS_METRICS[namespace]
    assert name in names, metric
    assert tuple(sorted(dimension_names)) == tuple(n for n, _ in dimensions), metric
    values = dict(dimensions)
    if namespace == "AWS/SQS":
        match = re.fullmatch(r"\$\{(\w+)\.QueueName\}", values["QueueName"])
        assert match, metric
        assert match.group(1) in resources_of_type(TEMPLATE, "AWS::SQS::Queue"), metric
    elif namespace == "AWS/Lambda":
        match = re.fullmatch(r"\$\{(\w+)\}", values["FunctionName"])
        assert match, metric
        assert match.group(1) in resources_of_type(TEMPLATE, "AWS::Serverless::Function"), metric
    else:
        api_name = placeholder(TEMPLATE["Resources"]["Api"]["Properties"]["Name"])
        assert (values["ApiName"], values["Stage"]) == (api_name, "${Stage}"), metric


def test_every_custom_metric_of_the_dashboard_and_alarms_is_one_the_workers_emit(emitted: set[Metric]) -> None:
    referenced = dashboard_metrics() + alarm_metrics()
    custom = [metric for metric in referenced if not metric[0].startswith("AWS/")]
    assert custom, "the dashboard shows none of the service's own metrics"
    missing = [metric for metric in custom if metric not in emitted]
    assert not missing, f"referenced but never emitted: {missing}; emitted: {sorted(emitted)}"
    for channel in ("sms", "email"):
        for name in ("Sent", "Failed", "RateLimited"):
            assert any(m[1] == name and ("channel", channel) in m[2] for m in custom), (channel, name)


def test_every_aws_metric_names_a_resource_of_this_stack() -> None:
    referenced = dashboard_metrics() + alarm_metrics()
    for metric in referenced:
        if metric[0].startswith("AWS/"):
            check_aws_metric(metric)
    shown = {dict(m[2]).get("QueueName") for m in dashboard_metrics()}
    for logical_id in resources_of_type(TEMPLATE, "AWS::SQS::Queue"):
        assert "${" + logical_id + ".QueueName}" in shown, f"{logical_id} is not on the dashboard"
    functions = {dict(m[2]).get("FunctionName") for m in dashboard_metrics()}
    for logical_id in resources_of_type(TEMPLATE, "AWS::Serverless::Function"):
        assert "${" + logical_id + "}" in functions, f"{logical_id} is not on the dashboard"


def test_every_alarm_notifies_the_topic() -> None:
    alarms = resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm")
    assert {"DeadLettersAlarm", "OldestMessageAlarm", "WorkerErrorsAlarm", "Api5xxAlarm"} <= set(alarms)
    for logical_id, spec in alarms.items():
        assert spec["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
        assert spec["Properties"]["TreatMissingData"] == "notBreaching", logical_id
