"""template.yaml holds the numbers the design depends on; these tests read them from the parsed template."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.template import function_setting, load_template, resources_of_type

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
WORKERS = {"SmsWorkerFunction": ("SmsQueue", 50), "EmailWorkerFunction": ("EmailQueue", 100)}


def props(logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = RESOURCES[logical_id]["Properties"]
    return props


def sqs_events(function_id: str) -> dict[str, dict[str, Any]]:
    events = props(function_id)["Events"].items()
    return {name: e["Properties"] for name, e in events if e["Type"] == "SQS"}


@pytest.mark.parametrize(("function_id", "queue_and_batch"), WORKERS.items())
def test_worker_event_sources(function_id: str, queue_and_batch: tuple[str, int]) -> None:
    queue_id, batch_size = queue_and_batch
    events = sqs_events(function_id)
    # The single sends' queue and the broadcasts' own queue, each an event source of the same worker
    assert {name: event["Queue"] for name, event in events.items()} == {
        "SendQueue": {"Fn::GetAtt": [queue_id, "Arn"]},
        "BulkQueue": {"Fn::GetAtt": [queue_id.replace("Queue", "BulkQueue"), "Arn"]},
    }
    for event in events.values():
        assert event["BatchSize"] == batch_size
        assert event["MaximumBatchingWindowInSeconds"] >= 1  # required when BatchSize > 10
        assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # SMS: 3 for single sends (a capped workspace's held-back messages leave each batch less to send), 2 for
    # broadcasts; email: 2 and 3 (100/s of broadcasts needs a third environment's CPU at 512 MB).
    single, bulk = (3, 2) if function_id == "SmsWorkerFunction" else (2, 3)
    assert (events["SendQueue"]["ScalingConfig"], events["BulkQueue"]["ScalingConfig"]) == (
        {"MaximumConcurrency": single},
        {"MaximumConcurrency": bulk},
    )


@pytest.mark.parametrize("function_id", WORKERS)
def test_reserved_concurrency_is_the_design_5_and_the_sum_of_the_event_sources_maximum(function_id: str) -> None:
    # Never below the sum: the pollers would be throttled and push messages' receive counts up (aws-facts §1.3).
    total = sum(event["ScalingConfig"]["MaximumConcurrency"] for event in sqs_events(function_id).values())
    assert props(function_id)["ReservedConcurrentExecutions"] == total == 5
    assert "ReservedConcurrentExecutions" not in TEMPLATE["Globals"]["Function"]


@pytest.mark.parametrize(("function_id", "queue_and_batch"), WORKERS.items())
def test_visibility_timeout_covers_six_worker_timeouts_plus_window(
    function_id: str, queue_and_batch: tuple[str, int]
) -> None:
    timeout = function_setting(TEMPLATE, function_id, "Timeout")
    for queue_id in (queue_and_batch[0], queue_and_batch[0].replace("Queue", "BulkQueue")):
        window = max(event["MaximumBatchingWindowInSeconds"] for event in sqs_events(function_id).values())
        assert props(queue_id)["VisibilityTimeout"] >= 6 * timeout + window


@pytest.mark.parametrize(
    ("queue_id", "name", "dlq_id"),
    [
        ("SmsQueue", "send-sms-queue", "SmsDeadLetterQueue"),
        ("EmailQueue", "send-email-queue", "EmailDeadLetterQueue"),
        ("SmsBulkQueue", "send-sms-bulk-queue", "SmsBulkDeadLetterQueue"),
        ("EmailBulkQueue", "send-email-bulk-queue", "EmailBulkDeadLetterQueue"),
    ],
)
def test_send_queues_have_their_own_dead_letter_queue(queue_id: str, name: str, dlq_id: str) -> None:
    queue, dlq = props(queue_id), props(dlq_id)
    assert queue["QueueName"] == name
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert TEMPLATE["Parameters"]["MaxReceiveCount"]["MinValue"] >= 5
    assert TEMPLATE["Parameters"]["MaxReceiveCount"]["Default"] > TEMPLATE["Parameters"]["RetryMaxAttempts"]["Default"]
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert queue["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True


def test_runtime_architecture_and_layer_build() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Layers"] == [{"Ref": "CoreLayer"}]
    layer = RESOURCES["CoreLayer"]
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["ContentUri"] == "layers/core/"
    for logical_id in resources_of_type(TEMPLATE, "AWS::Serverless::Function"):
        assert "Runtime" not in props(logical_id)


def test_metrics_table_is_on_demand_encrypted_and_recoverable() -> None:
    table = props("MetricsTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_parameters_reach_the_functions() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    params = TEMPLATE["Parameters"]
    assert params["SmsRatePerSecond"]["Default"] == 50
    assert params["EmailRatePerSecond"]["Default"] == 100
    for env_name, param in {
        "SMS_API_URL": "SmsApiUrl",
        "EMAIL_API_URL": "EmailApiUrl",
        "SMS_RATE_PER_SECOND": "SmsRatePerSecond",
        "EMAIL_RATE_PER_SECOND": "EmailRatePerSecond",
    }.items():
        assert variables[env_name] == {"Ref": param}


def test_api_routes_reach_the_api_function() -> None:
    routes = {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for e in props("ApiFunction")["Events"].values()
        if e["Type"] == "Api"
    }
    assert {("POST", "/api/schedule-sms"), ("POST", "/api/schedule-email"), ("GET", "/api/metrics")} <= routes
    assert ("POST", "/api/metrics/reset") in routes
    assert RESOURCES["Api"]["Type"] == "AWS::Serverless::Api"


def test_outputs_name_the_api_and_queues() -> None:
    assert {"ApiUrl", "SmsQueueUrl", "EmailQueueUrl"} <= set(TEMPLATE["Outputs"])


def test_limiter_and_idempotency_tables_clean_up_by_ttl() -> None:
    assert props("RateLimitTable")["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    idempotency = props("IdempotencyTable")
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


@pytest.mark.parametrize("function_id", WORKERS)
def test_idempotency_in_progress_expires_before_the_message_reappears(function_id: str) -> None:
    # In-progress records expire with the invocation (register_lambda_context): the function timeout.
    queue = props(WORKERS[function_id][0])
    assert function_setting(TEMPLATE, function_id, "Timeout") < queue["VisibilityTimeout"]


def test_schedule_groups_and_the_scheduler_role() -> None:
    assert props("SmsScheduleGroup")["Name"] == "scheduled-sms"
    assert props("EmailScheduleGroup")["Name"] == "scheduled-email"
    role = props("SchedulerRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    (policy,) = role["Policies"]
    (allow,) = policy["PolicyDocument"]["Statement"]
    assert allow["Action"] == "sqs:SendMessage"
    # The send queues (scheduled messages) and the bulk queues (scheduled broadcasts' fan-out orders), only
    queues = ("SmsQueue", "EmailQueue", "SmsBulkQueue", "EmailBulkQueue")
    assert allow["Resource"] == [{"Fn::GetAtt": [queue, "Arn"]} for queue in queues]


def test_the_api_may_manage_schedules_in_its_groups_and_pass_only_the_scheduler_role() -> None:
    assert props("ApiFunction")["Role"] == {"Fn::GetAtt": ["ApiFunctionRole", "Arn"]}
    statements = [
        statement
        for policy in props("ApiFunctionRole")["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    (schedules,) = [s for s in statements if "scheduler:CreateSchedule" in s["Action"]]
    assert sorted(schedules["Action"]) == ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"]
    assert all("schedule/${" in r["Fn::Sub"] for r in schedules["Resource"])
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}


def test_ledger_retention_is_a_parameter() -> None:
    assert TEMPLATE["Parameters"]["LedgerRetentionDays"]["Default"] == 30
    assert props("MessagesTable")["TimeToLiveSpecification"] == {"AttributeName": "retainUntil", "Enabled": True}
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["LEDGER_RETENTION_DAYS"] == {"Ref": "LedgerRetentionDays"}
