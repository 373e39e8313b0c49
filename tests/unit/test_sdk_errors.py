"""The one SDK error translation: an expected refusal is an answer, any other SDK failure is DependencyUnavailable."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from queue_services.adapters.aws import call_aws, call_aws_or_none, call_aws_or_refusal
from queue_services.errors import DependencyUnavailable


class FailingClient:
    """A client whose every operation fails with the given exception."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        raise self.error


def refused(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}, "Item": {"next": {"N": "3"}}}, "UpdateItem")


def test_an_expected_refusal_is_returned_with_its_response() -> None:
    client = FailingClient(refused("ConditionalCheckFailedException"))
    result, refusal = call_aws_or_refusal(client, "update_item", "t", "ConditionalCheckFailedException")
    assert result is None
    assert refusal is not None
    assert refusal["Item"] == {"next": {"N": "3"}}
    assert call_aws_or_none(client, "update_item", "t", "ConditionalCheckFailedException") is None


@pytest.mark.parametrize(
    "error", [refused("ProvisionedThroughputExceededException"), EndpointConnectionError(endpoint_url="http://x")]
)
def test_every_other_sdk_failure_is_dependency_unavailable_naming_the_purpose(error: Exception) -> None:
    client = FailingClient(error)
    with pytest.raises(DependencyUnavailable, match="rate-limit table update_item"):
        call_aws_or_refusal(client, "update_item", "rate-limit table", "ConditionalCheckFailedException")
    with pytest.raises(DependencyUnavailable, match="ledger update_item"):
        call_aws(client, "update_item", "ledger")
