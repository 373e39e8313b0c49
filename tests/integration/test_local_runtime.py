"""The local stack's execution environments behave like Lambda's: isolated, one invocation at a time, reused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local_stack.runtime import ROOT, EnvironmentLost, FunctionError, LocalFunction, function_spec, spawn_function

TIMEOUT_SECONDS = 4
TEMPLATE: dict[str, Any] = {
    "Globals": {"Function": {"Timeout": TIMEOUT_SECONDS, "MemorySize": 256}},
    "Resources": {
        "ProbeFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"CodeUri": "tests/support/probe_function", "Handler": "app.handler"},
        }
    },
}
ENVIRONMENT = {
    "AWS_LAMBDA_FUNCTION_NAME": "ProbeFunction",
    "AWS_LAMBDA_FUNCTION_TIMEOUT": "4",
    "ONLY_MINE": "yes",
    "LANG": "C.UTF-8",
}


@pytest.fixture(scope="module")
def probe() -> Iterator[LocalFunction]:
    function = spawn_function(function_spec(TEMPLATE, "ProbeFunction", ENVIRONMENT), warm=2, limit=6)
    yield function
    function.close()


def invoke_all(function: LocalFunction, events: list[dict[str, Any]]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        return list(pool.map(function.invoke, events))


def test_concurrent_invocations_share_no_state_and_get_their_own_context(probe: LocalFunction) -> None:
    results = invoke_all(probe, [{"id": n, "sleep": 0.5} for n in range(6)])
    assert [r["seen"] for r in results] == list(range(6))
    # Six at once: six environments (processes), none of them this one.
    assert len({r["pid"] for r in results}) == 6
    assert len({r["requestId"] for r in results}) == 6
    assert {r["functionName"] for r in results} == {"ProbeFunction"}


def test_an_environment_gets_exactly_its_functions_variables(probe: LocalFunction) -> None:
    (result,) = invoke_all(probe, [{"id": "env"}])
    assert result["environ"] == ENVIRONMENT
    # The function's code first on sys.path, as /var/task is on Lambda; nothing of the stack's own directory.
    assert result["path"][0] == str(ROOT / "tests/support/probe_function")
    assert str(ROOT) not in result["path"]


def test_each_invocation_keeps_its_own_remaining_time_and_idempotency_context(probe: LocalFunction) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(probe.invoke, {"id": "first", "sleep": 1.5})
        time.sleep(1.0)
        second = pool.submit(probe.invoke, {"id": "second", "sleep": 0.2})
        early, late = first.result(), second.result()
    budget = TIMEOUT_SECONDS * 1000
    for result in (early, late):
        assert budget - 300 <= result["remainingAtStart"] <= budget
    assert budget - 1900 <= early["remainingAtEnd"] <= budget - 1400
    assert budget - 600 <= late["remainingAtEnd"] <= budget - 100
    assert early["pid"] != late["pid"]
    # A module-level IdempotencyConfig (as the workers have) keeps each invocation's own context, so each
    # in-progress record would expire with its own invocation, not with the one registered last.
    for result in (early, late):
        assert result["idempotencyRequestId"] == result["requestId"]
        assert abs(result["idempotencyRemainingMs"] - result["remainingAtEnd"]) <= 50


def test_warm_environments_are_reused_one_invocation_at_a_time(probe: LocalFunction) -> None:
    before = probe.environments
    results = [probe.invoke({"id": n}) for n in range(5)]
    assert probe.environments == before
    counts = [r["invocations"] for r in results]
    assert counts == sorted(counts)


def test_a_handler_error_is_a_function_error_and_the_environment_lives_on(probe: LocalFunction) -> None:
    with pytest.raises(FunctionError, match="probe failed as asked") as raised:
        probe.invoke({"id": "boom", "fail": True})
    assert raised.value.error_type == "ValueError"
    assert any("probe failed" in line for line in raised.value.stack_trace)
    assert probe.invoke({"id": "after"})["seen"] == "after"


def test_a_timed_out_environment_is_discarded_and_replaced() -> None:
    spec = function_spec(
        {**TEMPLATE, "Globals": {"Function": {"Timeout": 1}}}, "ProbeFunction", {**ENVIRONMENT, "X": "1"}
    )
    function = spawn_function(spec, warm=1, limit=1)
    try:
        (pid,) = function.pids
        with pytest.raises(EnvironmentLost, match="timed out"):
            function.invoke({"id": "slow", "sleep": 10})
        result = function.invoke({"id": "next"})
        assert result["pid"] != pid
        assert function.environments == 2
    finally:
        function.close()


def test_an_init_failure_names_the_function() -> None:
    broken = {
        "Resources": {
            "BrokenFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "tests/support/probe_function", "Handler": "missing_module.handler"},
            }
        }
    }
    with pytest.raises(FunctionError, match="BrokenFunction"):
        spawn_function(function_spec(broken, "BrokenFunction", {}), warm=1, limit=1)
