"""Unit tests for running one step on one host: argv, retries, timeouts, health, gates and the step order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
    Step,
    Workflow,
    order_steps,
    parse_workflow,
    workflow_to_dict,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_state import ALL_STATUSES, SATISFIED, failed_steps
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_step import (
    build_argv,
    evaluate_when,
    retry_delay,
    run_step,
)


def wf(*steps: dict[str, Any], **top: Any) -> Workflow:
    return parse_workflow({"name": "t", "steps": list(steps), **top})


def entry(status: str, cause: str | None = None) -> dict[str, Any]:
    return {"status": status, "reason": "", **({"cause": cause} if cause else {})}


# --- running a step (I/O injected) ---------------------------------------------------------------------------


class FakeHost:
    """Answers module calls with scripted results, recording what was asked."""

    def __init__(self, *results: dict[str, Any]) -> None:
        self.results = list(results)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, module: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((module, args))
        return self.results.pop(0)


def test_build_argv_wraps_timeout_and_scripts() -> None:
    argv, stdin = build_argv(Step(name="a", command="sleep 9", timeout=3))
    assert argv == ["timeout", "--kill-after=5", "3", "/bin/sh", "-c", "sleep 9"] and stdin is None
    argv, stdin = build_argv(Step(name="a", script="/s.py"), "#!/usr/bin/env python3\nprint(1)\n")
    assert argv == ["/usr/bin/env", "python3"] and stdin.startswith("#!")


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay(n, 2) for n in (1, 2, 3)] == [2, 4, 8]
    assert retry_delay(10, 2) == 60


def test_run_step_retries_failures_and_unreachable_then_reports_attempts() -> None:
    workflow = workflow_to_dict(wf({"name": "a", "command": "x", "retries": 3}))
    host = FakeHost(
        {"unreachable": True, "msg": "ssh: connect timed out"}, {"rc": 1, "failed": True}, {"rc": 0, "stdout": "done"}
    )
    sleeps: list[float] = []
    result = run_step(workflow, "a", "h", ["h"], {}, execute=host, sleep=sleeps.append, base_delay=1)
    assert result["fleet_attempts"] == 3
    assert result["fleet_status"] == "ok"
    assert result["fleet_reason"] == "succeeded on attempt 3"
    assert sleeps == [1, 2]
    assert result["stdout"] == "done" and result["failed"] is False
    assert result["fleet_states"] == {"a": {"status": "ok", "reason": "succeeded on attempt 3"}}


def test_run_step_timeout_is_reported_as_timeout() -> None:
    workflow = workflow_to_dict(wf({"name": "a", "command": "sleep 99", "timeout": 2}))
    result = run_step(
        workflow, "a", "h", ["h"], {}, execute=FakeHost({"rc": 124, "failed": True}), sleep=lambda s: None
    )
    assert (result["fleet_status"], result["failed"]) == ("timeout", True)
    assert result["fleet_reason"] == "killed after the 2s timeout"


def test_run_step_blocked_never_touches_the_host() -> None:
    workflow = workflow_to_dict(wf({"name": "a", "command": "x"}, {"name": "b", "command": "y", "requires": "a"}))
    host = FakeHost()
    states = {"h": {"a": entry("failed", "a")}}
    result = run_step(workflow, "b", "h", ["h"], states, execute=host, sleep=lambda s: None)
    assert host.calls == []
    assert (result["fleet_status"], result["failed"], result["fleet_attempts"]) == ("blocked", False, 0)
    assert result["fleet_states"]["b"] == {
        "status": "blocked",
        "reason": "requires 'a', which failed on this host",
        "cause": "a",
    }


def test_run_step_unhealthy_host_fails_and_stops_the_rollout() -> None:
    workflow = workflow_to_dict(wf({"name": "run", "command": "deploy", "health": {"command": "check"}}))
    host = FakeHost({"rc": 0}, {"failed": True, "msg": "Health check command 'check' failed"})
    result = run_step(
        workflow, "run", "h3", ["h1", "h2", "h3", "h4"], {}, execute=host, sleep=lambda s: None, stop_on_failure=True
    )
    assert result["fleet_status"] == "failed"
    assert result["fleet_reason"].startswith("unhealthy: Health check command 'check' failed")
    assert host.calls[1] == (
        "azlin.fleet.health_check",
        {"interval": 2.0, "timeout": 60.0, "successes": 1, "command": "check"},
    )
    states = {"h1": {"run": entry("ok")}, "h2": {"run": entry("ok")}, "h3": result["fleet_states"]}
    later = run_step(
        workflow,
        "run",
        "h4",
        ["h1", "h2", "h3", "h4"],
        states,
        execute=FakeHost(),
        sleep=lambda s: None,
        stop_on_failure=True,
    )
    assert later["fleet_status"] == "not_started"
    assert later["fleet_reason"] == "rollout stopped after 'h3' failed (failed)"


def test_run_step_on_failure_handler_names_its_trigger() -> None:
    workflow = workflow_to_dict(
        wf({"name": "a", "command": "x", "on_failure": "undo"}, {"name": "undo", "command": "u"})
    )
    states = {"h": {"a": entry("failed", "a")}}
    result = run_step(
        workflow, "undo", "h", ["h"], states, execute=FakeHost({"rc": 0}), sleep=lambda s: None, trigger="a"
    )
    assert result["fleet_step"] == "undo"
    assert result["fleet_reason"] == "on_failure of 'a'"
    assert set(result["fleet_states"]) == {"a", "undo"}


def test_run_step_gate_not_met_records_skipped_and_reports_gated() -> None:
    workflow = workflow_to_dict(wf({"name": "a", "command": "x", "when": "cpu<50"}))
    host = FakeHost({"metrics": {"cpu": 63}})
    result = run_step(
        workflow,
        "a",
        "h",
        ["h"],
        {},
        execute=host,
        sleep=lambda s: None,
        judge_when=lambda gate, metrics: (metrics["cpu"] < 50, "cpu 63% >= 50%"),
    )
    assert [c[0] for c in host.calls] == ["azlin.fleet.fleet_probe"]
    assert result["fleet_status"] == "gated"
    assert result["fleet_states"]["a"]["status"] == "skipped"
    assert result["fleet_reason"] == "gate 'cpu<50' not met: cpu 63% >= 50%"


def test_run_step_refuses_to_start_before_dependencies() -> None:
    workflow = workflow_to_dict(wf({"name": "a", "command": "x"}, {"name": "b", "command": "y", "requires": "a"}))
    with pytest.raises(FleetUsageError, match="started on 'h' before its dependencies finished"):
        run_step(workflow, "b", "h", ["h"], {}, execute=FakeHost(), sleep=lambda s: None)


# --- property: random DAGs, random failures ----------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> tuple[Workflow, int]:
    count = draw(st.integers(min_value=1, max_value=8))
    steps = []
    for i in range(count):
        requires = draw(st.lists(st.integers(min_value=0, max_value=i - 1), unique=True, max_size=3)) if i else []
        steps.append(
            {
                "name": f"s{i}",
                "command": "c",
                "requires": [f"s{j}" for j in requires],
                "continue_on_error": draw(st.booleans()),
                "fleet_wide": draw(st.booleans()),
            }
        )
    # Shuffle the file order: the order must come from the graph, not from the file.
    order = draw(st.permutations(range(count)))
    return parse_workflow({"name": "p", "steps": [steps[i] for i in order]}), draw(st.integers(1, 3))


@settings(max_examples=300, deadline=None)
@given(dags(), st.data())
def test_no_step_starts_before_its_dependencies_succeeded(case: tuple[Workflow, int], data: st.DataObject) -> None:
    workflow, host_count = case
    hosts = [f"h{i}" for i in range(host_count)]
    states: dict[str, dict[str, dict[str, Any]]] = {h: {} for h in hosts}
    data_dict = workflow_to_dict(workflow)
    for name in order_steps(workflow):
        step = workflow.step(name)
        for host in hosts:
            outcome = data.draw(st.sampled_from(["ok", "failed", "timeout", "unreachable"]), label=f"{host}/{name}")

            def execute(
                module: str, args: dict[str, Any], outcome: str = outcome, host: str = host, step: Step = step
            ) -> dict[str, Any]:
                # The invariant, checked at the moment the command would start on the host:
                for dep in step.requires:
                    assert states[host][dep]["status"] in SATISFIED
                    if workflow.step(dep).fleet_wide:
                        assert all(states[h][dep]["status"] in SATISFIED for h in hosts)
                return (
                    {"unreachable": True}
                    if outcome == "unreachable"
                    else {"rc": {"ok": 0, "failed": 1, "timeout": 124}[outcome]}
                )

            result = run_step(data_dict, name, host, hosts, states, execute=execute, sleep=lambda s: None)
            states[host] = result["fleet_states"]
    for host in hosts:
        assert set(states[host]) == set(order_steps(workflow))  # every step ends in exactly one status
        assert all(e["status"] in ALL_STATUSES for e in states[host].values())
        for name, e in states[host].items():
            if e["status"] == "blocked":
                assert e["cause"] in workflow.step(name).requires or e["cause"] in {s.name for s in workflow.steps}
    bad = failed_steps(states)
    assert all(states[h][s]["status"] not in SATISFIED for h, ss in bad.items() for s in ss)


def test_evaluate_when_uses_the_gate_grammar() -> None:
    metrics = {"cpu": 63.0, "mem": 20.0, "load1": 0.1, "cpus": 2, "users": 0, "sessions": []}
    assert evaluate_when("cpu<50", metrics) == (False, "cpu 63% >= 50%")
    assert evaluate_when("mem<50", metrics) == (True, "")
