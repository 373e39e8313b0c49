"""DynamoDB tables for tests that talk to moto directly: on-demand, keyed by string (or number) attributes."""

from __future__ import annotations

from typing import Any


def create_keyed_table(
    client: Any, name: str, hash_key: str, range_key: str | None = None, range_type: str = "S"
) -> None:
    """An on-demand table keyed by the string hash_key, and range_key (of range_type) when given."""
    attributes = [{"AttributeName": hash_key, "AttributeType": "S"}]
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key is not None:
        attributes.append({"AttributeName": range_key, "AttributeType": range_type})
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    client.create_table(
        TableName=name, AttributeDefinitions=attributes, KeySchema=schema, BillingMode="PAY_PER_REQUEST"
    )
