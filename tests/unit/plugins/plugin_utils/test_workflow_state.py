"""Unit tests for per-host step states: when a step may start, what it records, the tally, how a host ends."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import Workflow, parse_workflow
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_state import (
    decide_step,
    judge_host,
    judge_outcome,
    record_status,
    tally_outcomes,
)


def wf(*steps: dict[str, Any], **top: Any) -> Workflow:
    return parse_workflow({"name": "t", "steps": list(steps), **top})


def entry(status: str, cause: str | None = None, reason: str = "") -> dict[str, Any]:
    return {"status": status, "reason": reason, **({"cause": cause} if cause else {})}


# --- decisions -----------------------------------------------------------------------------------------------


def test_failed_dependency_blocks_only_on_that_host_and_names_it() -> None:
    workflow = wf(
        {"name": "a", "command": "x"},
        {"name": "b", "command": "y", "requires": ["a"]},
        {"name": "c", "command": "z", "requires": ["b"]},
        {"name": "d", "command": "w"},
    )
    h1 = {"a": entry("failed", "a")}
    h2 = {"a": entry("ok")}
    blocked = decide_step(workflow, "b", h1)
    assert (blocked.action, blocked.cause) == ("blocked", "a")
    assert blocked.reason == "requires 'a', which failed on this host"
    assert decide_step(workflow, "b", h2).action == "run"
    assert decide_step(workflow, "d", h1).action == "run"  # independent branch continues
    h1["b"] = record_status(workflow.step("b"), "blocked", blocked.reason, blocked.cause)
    transitive = decide_step(workflow, "c", h1)
    assert transitive.reason == "requires 'b', which was blocked on this host (root cause: 'a' failed)"
    assert transitive.cause == "a"


@pytest.mark.parametrize(
    ("status", "words"),
    [("timeout", "timed out"), ("unreachable", "found the host unreachable"), ("not_started", "was not started")],
)
def test_blocked_reason_describes_the_dependency_status(status: str, words: str) -> None:
    workflow = wf({"name": "a", "command": "x"}, {"name": "b", "command": "y", "requires": ["a"]})
    decision = decide_step(workflow, "b", {"a": entry(status, "a")})
    assert (decision.action, decision.reason) == ("blocked", f"requires 'a', which {words} on this host")


def test_continue_on_error_failure_is_ignored_and_satisfies_dependents() -> None:
    workflow = wf(
        {"name": "a", "command": "x", "continue_on_error": True}, {"name": "b", "command": "y", "requires": ["a"]}
    )
    recorded = record_status(workflow.step("a"), "failed", "exit code 1")
    assert recorded == {
        "status": "ignored",
        "reason": "failed (continue_on_error: dependents continue): exit code 1",
        "failure": "failed",  # the raw status the report shows
    }
    assert decide_step(workflow, "b", {"a": recorded}).action == "run"
    assert judge_host({"a": recorded}) == ("ok", "1 step(s) ok or skipped")
    assert tally_outcomes(None, {"h": {"a": recorded}}, []) == {"failed": {}, "fleet_wide": {}}


def test_record_status_names_the_failed_step_as_cause_and_rejects_unknown_statuses() -> None:
    step = wf({"name": "a", "command": "x"}).step("a")
    assert record_status(step, "timeout", "killed") == {"status": "timeout", "reason": "killed", "cause": "a"}
    assert record_status(step, "blocked", "r", "root") == {"status": "blocked", "reason": "r", "cause": "root"}
    assert record_status(step, "ok") == {"status": "ok", "reason": ""}
    with pytest.raises(ValueError, match="unknown step status 'gated'"):
        record_status(step, "gated")


def test_fleet_wide_step_blocks_dependents_everywhere_when_the_tally_names_a_failed_host() -> None:
    workflow = wf(
        {"name": "migrate", "command": "x", "fleet_wide": True},
        {"name": "restart", "command": "y", "requires": ["migrate"]},
    )
    assert decide_step(workflow, "restart", {}).action == "wait"
    tally = tally_outcomes(
        None, {"h1": {"migrate": entry("ok")}, "h2": {"migrate": entry("failed", "migrate")}}, ["migrate"]
    )
    assert tally == {"failed": {"h2": "failed"}, "fleet_wide": {"migrate": ["h2"]}}
    decision = decide_step(workflow, "restart", {"migrate": entry("ok")}, tally)
    assert (decision.action, decision.cause) == ("blocked", "migrate")
    assert decision.reason == "requires fleet-wide step 'migrate', which did not succeed on h2"
    own = decide_step(workflow, "restart", {"migrate": entry("failed", "migrate")}, tally)
    assert own.reason == "requires 'migrate', which failed on this host"  # this host's own failure comes first
    clean = tally_outcomes(None, {"h1": {"migrate": entry("ok")}, "h2": {"migrate": entry("ok")}}, ["migrate"])
    assert decide_step(workflow, "restart", {"migrate": entry("ok")}, clean).action == "run"


def test_skipped_dependency_skips_dependents() -> None:
    workflow = wf({"name": "a", "command": "x", "when": "idle"}, {"name": "b", "command": "y", "requires": ["a"]})
    decision = decide_step(workflow, "b", {"a": entry("skipped")})
    assert (decision.action, decision.reason) == ("skipped", "requires 'a', which was skipped on this host")


# --- the tally -----------------------------------------------------------------------------------------------


def test_tally_accumulates_failed_hosts_in_order_and_ignores_not_started_hosts() -> None:
    first = tally_outcomes(None, {"h1": {"a": entry("ok")}, "h2": {"a": entry("timeout", "a")}}, [])
    assert first == {"failed": {"h2": "timeout"}, "fleet_wide": {}}
    second = tally_outcomes(
        first,
        {"h3": {"a": entry("not_started", "h2")}, "h4": {"a": entry("failed", "a")}, "h2": {"a": entry("failed")}},
        [],
    )
    # Hosts that were themselves not started do not count against the budget; a host is counted once.
    assert second["failed"] == {"h2": "timeout", "h4": "failed"}
    assert list(second["failed"]) == ["h2", "h4"]
    assert first == {"failed": {"h2": "timeout"}, "fleet_wide": {}}, "the previous tally is not changed"


def test_tally_of_barriers_names_each_host_once_and_only_for_barrier_steps() -> None:
    states = {
        "h1": {"m": entry("skipped"), "x": entry("failed", "x")},
        "h2": {"m": entry("ok")},
        "h3": {},  # not there yet: nothing to count
    }
    tally = tally_outcomes({"failed": {}, "fleet_wide": {"m": ["h1"]}}, states, ["m"])
    assert tally["fleet_wide"] == {"m": ["h1"]}
    assert "x" not in tally["fleet_wide"]
    assert tally["failed"] == {"h1": "failed"}


# --- how a host ends ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "verdict", "expected"),
    [
        pytest.param({"a": entry("ok"), "b": entry("skipped")}, None, ("ok", "2 step(s) ok or skipped", "ok"), id="ok"),
        pytest.param(
            {"a": entry("failed", "a", "exit code 1"), "b": entry("blocked", "a", "requires 'a'")},
            None,
            ("failed", "a failed: exit code 1; b blocked: requires 'a'", "failed"),
            id="worst-failure-names-every-failed-step",
        ),
        pytest.param(
            {"a": entry("unreachable", "a"), "b": entry("timeout", "b")},
            None,
            ("timeout", "a unreachable; b timeout", "failed"),
            id="timeout-worse-than-unreachable",
        ),
        pytest.param({}, None, ("not_started", "no step was recorded on this host", "failed"), id="nothing-recorded"),
        pytest.param(
            {"a": entry("skipped", reason="gate 'idle' not met")},
            None,
            ("gated", "a: gate 'idle' not met", "skipped"),
            id="every-step-gated",
        ),
        pytest.param(
            {},
            {"status": "gated", "reason": "cpu 90% >= 50%"},
            ("gated", "cpu 90% >= 50%", "skipped"),
            id="routing-gated",
        ),
        pytest.param(
            {},
            {"status": "unmeasurable", "reason": "no /proc"},
            ("unmeasurable", "no /proc", "skipped"),
            id="routing-unmeasurable",
        ),
        pytest.param({}, {"status": "not_selected"}, ("not_selected", "", "skipped"), id="routing-not-selected"),
        pytest.param(
            {"a": entry("ok")},
            {"status": "selected", "reason": "least loaded"},
            ("ok", "1 step(s) ok or skipped", "ok"),
            id="selected-is-judged-by-its-steps",
        ),
    ],
)
def test_judge_outcome(states: dict[str, Any], verdict: dict[str, Any] | None, expected: tuple[str, str, str]) -> None:
    assert judge_outcome(states, verdict) == expected
