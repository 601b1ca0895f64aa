"""Unit tests for rollouts and azlin.fleet.run: the error budget, who may start, and the run built from fleet_* vars."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import (
    FleetError,
    FleetUsageError,
    FleetValidationError,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_run import (
    budget_limit,
    coerce_text,
    decide_start,
    is_unset,
    parse_budget,
    run_settings,
    run_workflow,
)

# --- error budget and rollouts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "hosts", "limit"),
    [(None, 10, None), (0, 10, 0), ("2", 10, 2), ("25%", 10, 2), ("10%", 5, 0), ("100%", 3, 3)],
    ids=["none", "zero", "count-string", "percent-rounds-down", "small-percent", "all"],
)
def test_budget_parsing(value: Any, hosts: int, limit: int | None) -> None:
    assert budget_limit(parse_budget(value), hosts) == limit


@pytest.mark.parametrize("value", ["-1", "1.5", "150%", "many", True, -2], ids=str)
def test_bad_budget_is_a_usage_error(value: Any) -> None:
    with pytest.raises(FleetUsageError, match="Invalid max_failures"):
        parse_budget(value)


@pytest.mark.parametrize(
    ("failed", "max_failures", "stop", "action", "reason", "cause"),
    [
        pytest.param({}, None, True, "run", "", None, id="nothing-failed"),
        pytest.param(
            {"h3": "failed", "h1": "timeout"},
            None,
            True,
            "not_started",
            "rollout stopped after 'h3' failed (failed)",
            "h3",
            id="stop-names-the-first-failed-host",
        ),
        pytest.param({"h1": "failed"}, 1, False, "run", "", None, id="within-budget"),
        pytest.param(
            {"h1": "failed", "h2": "timeout"},
            1,
            False,
            "not_started",
            "error budget exhausted: 2 host(s) failed (h1, h2), max_failures is 1",
            "h1",
            id="budget-exhausted",
        ),
        pytest.param(
            {"h1": "failed"},
            0,
            False,
            "not_started",
            "error budget exhausted: 1 host(s) failed (h1), max_failures is 0",
            "h1",
            id="zero-budget",
        ),
        pytest.param(
            {"h1": "failed", "h2": "failed"},
            5,
            True,
            "not_started",
            "rollout stopped after 'h1' failed (failed)",
            "h1",
            id="stop-wins-over-a-budget",
        ),
        pytest.param({"h1": "failed"}, None, False, "run", "", None, id="no-rule-no-stop"),
    ],
)
def test_rollout_stops_at_first_failure_and_budget_holds(
    failed: dict[str, str], max_failures: int | None, stop: bool, action: str, reason: str, cause: str | None
) -> None:
    decision = decide_start(failed, max_failures=max_failures, stop_on_failure=stop)
    assert (decision.action, decision.reason, decision.cause) == (action, reason, cause)


# --- azlin.fleet.run: a one-step workflow from the fleet_* variables -----------------------------------------


def test_run_workflow_builds_one_step_from_fleet_vars_and_names_bad_vars() -> None:
    workflow = run_workflow(
        {
            "fleet_command": "uptime",
            "fleet_timeout": "30",
            "fleet_retries": 2,
            "fleet_health_port": 8080,
            "fleet_environment": {"A": 1},
            "fleet_chdir": "",
        }
    )
    step = workflow.step("run")
    assert (step.command, step.timeout, step.retries, step.health.port, step.env, step.chdir) == (
        "uptime",
        30,
        2,
        8080,
        {"A": "1"},
        None,
    )
    with pytest.raises(FleetValidationError, match="Invalid fleet_timeout: 'timeout' must be a positive number"):
        run_workflow({"fleet_command": "x", "fleet_timeout": -1})
    with pytest.raises(FleetUsageError, match="fleet_command: is missing"):
        run_workflow({"fleet_command": ""})
    assert run_settings({"fleet_sequence": 2}, 10).serial == 2
    assert run_settings({"fleet_sequence": 2}, 10).stop_on_failure is True
    assert run_settings({"fleet_parallel": "50%"}, 10).throttle == 5
    assert run_settings({"fleet_parallel": 3, "fleet_max_failures": "10%"}, 10).serial == 3
    with pytest.raises(FleetValidationError, match="fleet_sequence.*max_failures"):
        run_settings({"fleet_sequence": 0, "fleet_max_failures": "x"}, 10)


@pytest.mark.parametrize("text", ["true", "yes", "no", "False", "42", "1.5"])
def test_run_workflow_keeps_string_fields_strings(text: str) -> None:
    """`azlin-fleet run true` / `-e fleet_command=true`: a command (or health command, url, chdir) spelled like a
    boolean or a number is still the command text; only int/number/bool fields convert text."""
    step = run_workflow({"fleet_command": text, "fleet_health_cmd": text, "fleet_chdir": text}).step("run")
    assert (step.command, step.health.command, step.chdir) == (text, text, text)
    typed = run_workflow(
        {
            "fleet_command": "x",
            "fleet_become": "yes",
            "fleet_retries": "3",
            "fleet_timeout": "9",
            "fleet_health_port": "8080",
            "fleet_health_interval": "0.5",
            "fleet_health_successes": "2",
        }
    ).step("run")
    assert (typed.become, typed.retries, typed.timeout) == (True, 3, 9)
    assert (typed.health.port, typed.health.interval, typed.health.successes) == (8080, 0.5, 2)
    with pytest.raises(FleetValidationError, match="fleet_retries"):
        run_workflow({"fleet_command": "x", "fleet_retries": "yes"})


@pytest.mark.parametrize(
    ("value", "unset"),
    [(None, True), ("", True), ("  ", True), ("0", False), (0, False), (False, False), ([], False)],
    ids=["none", "empty", "blank", "zero-text", "zero", "false", "empty-list"],
)
def test_is_unset_only_none_and_blank_text(value: Any, unset: bool) -> None:
    assert is_unset(value) is unset


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("42", "int", 42),
        (" 7 ", "number", 7),
        ("0.5", "number", 0.5),
        (".5", "number", 0.5),
        ("0.5", "int", "0.5"),
        ("-3", "int", "-3"),
        ("yes", "bool", True),
        ("No", "bool", False),
        ("maybe", "bool", "maybe"),
        ("42", "str", "42"),
        ("true", "str", "true"),
        (3, "bool", 3),
    ],
    ids=lambda v: repr(v),
)
def test_coerce_text_converts_only_typed_fields(value: Any, kind: str, expected: Any) -> None:
    got = coerce_text(value, kind)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("values", "hosts", "expected"),
    [
        pytest.param({}, 10, (0, 0, False, None), id="all-at-once"),
        pytest.param({"fleet_sequence": True}, 10, (1, 0, True, None), id="sequence-true-is-one"),
        pytest.param({"fleet_sequence": "3"}, 10, (3, 0, True, None), id="sequence-text"),
        pytest.param({"fleet_sequence": False}, 10, (0, 0, False, None), id="sequence-false-is-off"),
        pytest.param({"fleet_sequence": ""}, 10, (0, 0, False, None), id="blank-survey-answer"),
        pytest.param({"fleet_sequence": 2, "fleet_max_failures": 1}, 10, (2, 0, True, 1), id="sequence-and-budget"),
        pytest.param({"fleet_max_failures": "10%"}, 10, ("25%", 0, False, "10%"), id="budget-default-batches"),
        pytest.param({"fleet_parallel": 4}, 10, (0, 4, False, None), id="parallel-is-a-throttle"),
        pytest.param({"fleet_parallel_default": "16"}, 40, (0, 16, False, None), id="default-throttle"),
        pytest.param(
            {"fleet_parallel": "50%", "fleet_parallel_default": 16}, 40, (0, 20, False, None), id="parallel-wins"
        ),
        pytest.param(
            {"fleet_max_failures": 2, "fleet_parallel_default": 16}, 40, ("25%", 0, False, 2), id="budget-batches-win"
        ),
        pytest.param({"fleet_sequence": 1, "fleet_parallel_default": 16}, 40, (1, 0, True, None), id="sequence-wins"),
    ],
)
def test_run_settings_table(values: dict[str, Any], hosts: int, expected: tuple[Any, ...]) -> None:
    got = run_settings(values, hosts)
    assert (got.serial, got.throttle, got.stop_on_failure, got.max_failures) == expected


@pytest.mark.parametrize("value", [0, "-3", "many", 2.5])
def test_parallel_default_must_be_a_host_count(value: Any) -> None:
    with pytest.raises(FleetError, match="fleet_parallel_default"):
        run_settings({"fleet_parallel_default": value}, 10)
