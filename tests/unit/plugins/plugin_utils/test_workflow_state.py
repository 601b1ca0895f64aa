"""Unit tests for per-host step states: when a step may start, what it records, which steps failed."""

from __future__ import annotations

from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import Workflow, parse_workflow
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_state import decide_step, failed_steps, record_status


def wf(*steps: dict[str, Any], **top: Any) -> Workflow:
    return parse_workflow({"name": "t", "steps": list(steps), **top})


def entry(status: str, cause: str | None = None) -> dict[str, Any]:
    return {"status": status, "reason": "", **({"cause": cause} if cause else {})}


# --- decisions -----------------------------------------------------------------------------------------------


def test_failed_dependency_blocks_only_on_that_host_and_names_it() -> None:
    workflow = wf(
        {"name": "a", "command": "x"},
        {"name": "b", "command": "y", "requires": ["a"]},
        {"name": "c", "command": "z", "requires": ["b"]},
        {"name": "d", "command": "w"},
    )
    states = {"h1": {"a": entry("failed", "a")}, "h2": {"a": entry("ok")}}
    blocked = decide_step(workflow, "b", "h1", states)
    assert (blocked.action, blocked.cause) == ("blocked", "a")
    assert blocked.reason == "requires 'a', which failed on this host"
    assert decide_step(workflow, "b", "h2", states).action == "run"
    assert decide_step(workflow, "d", "h1", states).action == "run"  # independent branch continues
    states["h1"]["b"] = record_status(workflow.step("b"), "blocked", blocked.reason, blocked.cause)
    transitive = decide_step(workflow, "c", "h1", states)
    assert transitive.reason == "requires 'b', which was blocked on this host (root cause: 'a' failed)"


def test_continue_on_error_failure_is_ignored_and_satisfies_dependents() -> None:
    workflow = wf(
        {"name": "a", "command": "x", "continue_on_error": True}, {"name": "b", "command": "y", "requires": ["a"]}
    )
    recorded = record_status(workflow.step("a"), "failed", "exit code 1")
    assert recorded["status"] == "ignored"
    assert decide_step(workflow, "b", "h", {"h": {"a": recorded}}).action == "run"
    assert failed_steps({"h": {"a": recorded}}) == {}


def test_fleet_wide_step_is_a_barrier() -> None:
    workflow = wf(
        {"name": "migrate", "command": "x", "fleet_wide": True},
        {"name": "restart", "command": "y", "requires": ["migrate"]},
    )
    waiting = {"h1": {"migrate": entry("ok")}, "h2": {}}
    assert decide_step(workflow, "restart", "h1", waiting).action == "wait"
    failed = {"h1": {"migrate": entry("ok")}, "h2": {"migrate": entry("failed", "migrate")}}
    decision = decide_step(workflow, "restart", "h1", failed)
    assert decision.action == "blocked"
    assert decision.reason == "requires fleet-wide step 'migrate', which did not succeed on h2"
    done = {"h1": {"migrate": entry("ok")}, "h2": {"migrate": entry("ok")}}
    assert decide_step(workflow, "restart", "h2", done).action == "run"


def test_skipped_dependency_skips_dependents() -> None:
    workflow = wf({"name": "a", "command": "x", "when": "idle"}, {"name": "b", "command": "y", "requires": ["a"]})
    decision = decide_step(workflow, "b", "h", {"h": {"a": entry("skipped")}})
    assert (decision.action, decision.reason) == ("skipped", "requires 'a', which was skipped on this host")
