"""Unit tests for rollouts and azlin.fleet.run: the error budget, batches, and the run built from fleet_* vars."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError, FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import parse_parallel
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_run import (
    batches,
    budget_limit,
    decide_start,
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


def test_rollout_stops_at_first_failure_and_budget_holds() -> None:
    hosts = ["h1", "h2", "h3", "h4"]
    stopped = decide_start(
        "h4", hosts, {"h1": "ok", "h2": "ok", "h3": "failed"}, max_failures=None, stop_on_failure=True
    )
    assert (stopped.action, stopped.reason) == ("not_started", "rollout stopped after 'h3' failed (failed)")
    within = decide_start("h3", hosts, {"h1": "failed"}, max_failures=1, stop_on_failure=False)
    assert within.action == "run"
    over = decide_start(
        "h4", hosts, {"h1": "failed", "h2": "timeout", "h3": "ok"}, max_failures=1, stop_on_failure=False
    )
    assert over.action == "not_started"
    assert "2 host(s) failed (h1, h2), max_failures is 1" in over.reason
    # Hosts that were themselves not started do not count as failures of the budget.
    assert decide_start("h4", hosts, {"h1": "not_started"}, max_failures=0, stop_on_failure=True).action == "run"


def test_batches_keep_dispatch_order() -> None:
    assert batches(["c", "a", "b"], 2) == [["c", "a"], ["b"]]
    assert batches(["c", "a"], None) == [["c", "a"]]


# --- azlin.fleet.run: a one-step workflow from the fleet_* variables -----------------------------------------


def test_run_workflow_builds_one_step_from_fleet_vars_and_names_bad_vars() -> None:
    workflow = run_workflow({"fleet_command": "uptime", "fleet_timeout": "30", "fleet_retries": 2,
                             "fleet_health_port": 8080, "fleet_environment": {"A": 1}, "fleet_chdir": ""})
    step = workflow.step("run")
    assert (step.command, step.timeout, step.retries, step.health.port, step.env, step.chdir) == (
        "uptime", 30, 2, 8080, {"A": "1"}, None)
    with pytest.raises(FleetValidationError, match="Invalid fleet_timeout: 'timeout' must be a positive number"):
        run_workflow({"fleet_command": "x", "fleet_timeout": -1})
    with pytest.raises(FleetUsageError, match="fleet_command: is missing"):
        run_workflow({"fleet_command": ""})
    assert run_settings({"fleet_sequence": 2}, 10, parse_parallel).serial == 2
    assert run_settings({"fleet_sequence": 2}, 10, parse_parallel).stop_on_failure is True
    assert run_settings({"fleet_parallel": "50%"}, 10, parse_parallel).throttle == 5
    assert run_settings({"fleet_parallel": 3, "fleet_max_failures": "10%"}, 10, parse_parallel).serial == 3
    with pytest.raises(FleetValidationError, match="fleet_sequence.*max_failures"):
        run_settings({"fleet_sequence": 0, "fleet_max_failures": "x"}, 10, parse_parallel)


@pytest.mark.parametrize("text", ["true", "yes", "no", "False", "42", "1.5"])
def test_run_workflow_keeps_string_fields_strings(text: str) -> None:
    """`azlin-fleet run true` / `-e fleet_command=true`: a command (or health command, url, chdir) spelled like a
    boolean or a number is still the command text; only int/number/bool fields convert text."""
    step = run_workflow({"fleet_command": text, "fleet_health_cmd": text, "fleet_chdir": text}).step("run")
    assert (step.command, step.health.command, step.chdir) == (text, text, text)
    typed = run_workflow({"fleet_command": "x", "fleet_become": "yes", "fleet_retries": "3", "fleet_timeout": "9",
                          "fleet_health_port": "8080", "fleet_health_interval": "0.5",
                          "fleet_health_successes": "2"}).step("run")
    assert (typed.become, typed.retries, typed.timeout) == (True, 3, 9)
    assert (typed.health.port, typed.health.interval, typed.health.successes) == (8080, 0.5, 2)
    with pytest.raises(FleetValidationError, match="fleet_retries"):
        run_workflow({"fleet_command": "x", "fleet_retries": "yes"})
