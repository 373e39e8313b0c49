"""Creates every queue, table, schedule group and secret of template.yaml in the emulator; no second list in code."""

from __future__ import annotations

import json
import secrets as secrets_module
from typing import Any

from local_stack.template import ACCOUNT_ID, REGION, LocalResource, Resolver, resources_of_type

_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
)


def _depends_on_queue(spec: dict[str, Any]) -> bool:
    return "RedrivePolicy" in spec.get("Properties", {})


def provision(resolver: Resolver, session: Any, endpoint_url: str | None = None) -> dict[str, LocalResource]:
    """Create the template's SQS queues, DynamoDB tables and Scheduler groups; return them by logical id."""
    template = resolver.template
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    queues = resources_of_type(template, "AWS::SQS::Queue")
    # Dead-letter queues first: a source queue's RedrivePolicy names its DLQ's ARN.
    for logical_id, spec in sorted(queues.items(), key=lambda item: _depends_on_queue(item[1])):
        props = resolver.resolve(spec.get("Properties", {}))
        name = props.get("QueueName", logical_id)
        attributes = {
            key: str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
            for key in _QUEUE_ATTRIBUTES
            if key in props
        }
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        resolver.resources[logical_id] = LocalResource(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
    for logical_id, spec in resources_of_type(template, "AWS::DynamoDB::Table").items():
        props = resolver.resolve(spec.get("Properties", {}))
        name = props.get("TableName", logical_id)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if index_kind in props:
                kwargs[index_kind] = props[index_kind]
        description = dynamodb.create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        resolver.resources[logical_id] = LocalResource(
            name, {"Arn": description["TableArn"], "StreamArn": description.get("LatestStreamArn", "")}
        )

    groups = resources_of_type(template, "AWS::Scheduler::ScheduleGroup")
    if groups:
        scheduler = session.client("scheduler", endpoint_url=endpoint_url)
        for logical_id, spec in groups.items():
            props = resolver.resolve(spec.get("Properties", {}))
            name = props.get("Name", logical_id)
            arn = scheduler.create_schedule_group(Name=name)["ScheduleGroupArn"]
            resolver.resources[logical_id] = LocalResource(name, {"Arn": arn})

    # Secrets the template generates (GenerateSecretString): a random value of the asked length; Ref is the ARN.
    secrets = resources_of_type(template, "AWS::SecretsManager::Secret")
    if secrets:
        secretsmanager = session.client("secretsmanager", endpoint_url=endpoint_url)
        for logical_id, spec in secrets.items():
            props = resolver.resolve(spec.get("Properties", {}))
            length = int(props.get("GenerateSecretString", {}).get("PasswordLength", 32))
            value = secrets_module.token_urlsafe(length)[:length]
            arn = secretsmanager.create_secret(Name=props.get("Name", logical_id), SecretString=value)["ARN"]
            resolver.resources[logical_id] = LocalResource(arn, {"Id": arn})

    # Roles only need ARNs that Ref/GetAtt can resolve; functions' policies are checked by the emulator (iam.py).
    for logical_id in resources_of_type(template, "AWS::IAM::Role"):
        arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{logical_id}"
        resolver.resources[logical_id] = LocalResource(logical_id, {"Arn": arn, "RoleId": logical_id})

    # Functions log to stdout locally; their log groups only need names and ARNs for the roles' policies.
    for logical_id in resources_of_type(template, "AWS::Logs::LogGroup"):
        arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/{logical_id}:*"
        resolver.resources[logical_id] = LocalResource(f"/aws/lambda/{logical_id}", {"Arn": arn})

    # The REST API's id only appears in URLs; a fixed local id keeps Outputs and Sub resolvable.
    for logical_id in resources_of_type(template, "AWS::Serverless::Api"):
        resolver.resources[logical_id] = LocalResource("local", {"RootResourceId": "root"})
    for logical_id in resources_of_type(template, "AWS::Serverless::LayerVersion"):
        resolver.resources[logical_id] = LocalResource(f"arn:aws:lambda:::layer:{logical_id}:1")
    return resolver.resources
