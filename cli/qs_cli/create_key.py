"""Bootstrap a first key without any key: write it straight into the keys table and print it once.

    python -m qs_cli.create_key --admin | --workspace <id> [--stack <name>] [--label <text>]

Without --stack it writes into the local stack (its emulator at QS_AWS_PORT, table ApiKeysTable); with
--stack it finds the table in that CloudFormation stack's outputs (ApiKeysTableName) with your AWS
credentials. Run by `make create-key ADMIN=1` (or WORKSPACE=<id>, STACK=<name>).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from queue_services.adapters.api_keys import api_key_item
from queue_services.tenancy import ADMIN, WORKSPACE, Principal, hash_api_key, key_id_of, new_api_key
from queue_services.times import iso_utc

LOCAL_TABLE = "ApiKeysTable"


def keys_table(stack: str | None) -> tuple[Any, str]:
    """A DynamoDB client and the keys table's name: the local stack's, or the deployed stack's output."""
    if stack is None:
        port = os.environ.get("QS_AWS_PORT", "4566")
        client = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the emulator takes any credentials
        )
        return client, LOCAL_TABLE
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    table = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "ApiKeysTableName"), None)
    if table is None:
        raise SystemExit(f"error: stack {stack} has no ApiKeysTableName output (deploy the current template)")
    return boto3.client("dynamodb"), table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qs_cli.create_key", description=__doc__)
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--admin", action="store_true", help="an admin key")
    scope.add_argument("--workspace", help="a key for this workspace")
    parser.add_argument("--stack", help="a deployed stack's name (default: the local stack)")
    parser.add_argument("--label", default="bootstrap", help="a note to recognise the key by")
    args = parser.parse_args(argv)
    principal = Principal(role=ADMIN) if args.admin else Principal(role=WORKSPACE, workspace_id=args.workspace)
    api_key = new_api_key()
    try:
        client, table = keys_table(args.stack)
        client.put_item(
            TableName=table,
            Item=api_key_item(api_key, principal, args.label, iso_utc(datetime.now(UTC))),
            ConditionExpression="attribute_not_exists(keyHash)",
        )
    except (BotoCoreError, ClientError) as exc:
        where = f"stack {args.stack}" if args.stack else "the local stack (is `make run` running?)"
        print(f"error: could not write the key into {where}: {exc}", file=sys.stderr)
        return 1
    scope_text = "admin" if args.admin else f"workspace {args.workspace}"
    print(f"keyId {key_id_of(hash_api_key(api_key))} ({scope_text}); the key, shown once:")
    print(api_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
