"""Unit tests for the workflow schema: validation, ordering, per-host decisions and the step runner."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError, FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
    ALL_STATUSES,
    SATISFIED,
    Step,
    Workflow,
    batches,
    budget_limit,
    build_argv,
    decide_start,
    decide_step,
    failed_steps,
    layer_steps,
    load_workflow_text,
    order_steps,
    parse_budget,
    parse_workflow,
    plan_workflow,
    record_status,
    render_plan,
    resolve_scripts,
    retry_delay,
    run_step,
    workflow_to_dict,
)

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "workflows"


def wf(*steps: dict[str, Any], **top: Any) -> Workflow:
    return parse_workflow({"name": "t", "steps": list(steps), **top})


def problems_of(text: str) -> list[str]:
    with pytest.raises(FleetValidationError) as info:
        load_workflow_text(textwrap.dedent(text).lstrip("\n"), "wf.yaml")
    return [p.message for p in info.value.problems]


# --- parsing ------------------------------------------------------------------------------------------------


def test_parse_canonical_step_with_defaults_applied() -> None:
    workflow = wf(
        {"name": "build", "command": "make"},
        {"name": "test", "command": "make test", "requires": "build", "timeout": 30},
        defaults={"retries": 2, "env": {"CI": True}},
    )
    test = workflow.step("test")
    assert test.requires == ("build",)
    assert test.timeout == 30
    assert test.retries == 2
    assert test.env == {"CI": "true"}
    assert workflow.step("build").requires == ()


def test_legacy_azlin_keys_map_to_canonical() -> None:
    workflow = wf(
        {"name": "a", "command": "x", "condition": "idle", "retry_on_failure": True, "parallel": False},
        {
            "name": "b",
            "command": "y",
            "depends_on": ["a"],
            "continue_on_error": True,
            "retry_on_failure": 3,
            "parallel": 2,
        },
        {"name": "c", "command": "z", "depends_on": "a", "parallel": True, "retry_on_failure": False},
    )
    a, b, c = workflow.steps
    assert (a.when, a.retries, a.sequence) == ("idle", 1, 1)
    assert (b.requires, b.retries, b.continue_on_error, b.sequence) == (("a",), 3, True, 2)
    assert (c.requires, c.retries, c.sequence) == (("a",), 0, None)


def test_canonical_form_round_trips() -> None:
    workflow = wf(
        {"name": "a", "command": "x", "health": {"port": 22, "successes": 2}, "fleet_wide": True},
        {"name": "b", "command": "y", "requires": ["a"], "on_failure": "undo", "when": "cpu<50"},
        {"name": "undo", "command": "z"},
        targets=["pool_web", "pool_ci"],
    )
    again = parse_workflow(workflow_to_dict(workflow))
    assert again == workflow
    assert again.targets == "pool_web:pool_ci"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            """
            name: w
            steps:
              - name: a
                command: x
                requires: [b]
              - name: b
                command: y
                requires: [c]
              - name: c
                command: z
                requires: [a]
            """,
            ["Dependency cycle at wf.yaml:5 (steps[0].requires): a -> b -> c -> a"],
            id="cycle-as-path",
        ),
        pytest.param(
            """
            name: w
            steps:
              - name: a
                command: x
                requires: [buidl]
              - name: build
                command: y
            """,
            ["Step 'a' at wf.yaml:5 (steps[0].requires): requires unknown step 'buidl'. Did you mean 'build'?"],
            id="unknown-dependency",
        ),
        pytest.param(
            """
            name: w
            steps:
              - name: a
                command: x
              - name: a
                command: y
            """,
            [
                "Step 'a' at wf.yaml:5 (steps[1].name): duplicate name (first defined at steps[0]). "
                "Give every step a unique name."
            ],
            id="duplicate-name",
        ),
        pytest.param(
            """
            name: w
            steps:
              - name: a
                command: x
                retires: 2
            """,
            [
                "Step 'a' at wf.yaml:5 (steps[0].retires): unknown key 'retires'. Use one of: name, command, "
                "script, requires, when, timeout, retries, continue_on_error, on_failure, fleet_wide, sequence, "
                "health, env, become, chdir."
            ],
            id="unknown-key",
        ),
        pytest.param(
            """
            name: w
            steps:
              - name: a
                command: x
                when: "cpu<<50"
            """,
            ["bad gate 'cpu<<50'"],
            id="bad-gate",
        ),
        pytest.param(
            """
            name: w
            steps:
              - name: a
                command: x
                timeout: soon
                retries: -1
                fleet_wide: "yes"
            """,
            [
                "Step 'a' at wf.yaml:5 (steps[0].timeout): 'timeout' must be a positive number of seconds, got "
                "the string 'soon'",
                "Step 'a' at wf.yaml:6 (steps[0].retries): 'retries' must be a number >= 0, got a number",
                "Step 'a' at wf.yaml:7 (steps[0].fleet_wide): 'fleet_wide' must be true or false, got the string 'yes'",
            ],
            id="wrong-types",
        ),
        pytest.param(
            """
            steps: []
            """,
            ["Workflow steps at wf.yaml:1 (steps): expected a non-empty list of steps, got a list"],
            id="no-steps",
        ),
        pytest.param(
            """
            name: w
            steps:
              - name: a
            """,
            ["Step 'a' at wf.yaml:3 (steps[0]): needs exactly one of 'command' or 'script'. Add 'command: ...'."],
            id="no-command",
        ),
        pytest.param(
            """
            name: w
            steps:
              - name: a
                command: x
                on_failure: nope
            """,
            ["Step 'a' at wf.yaml:5 (steps[0].on_failure): on_failure names unknown step 'nope'"],
            id="unknown-on-failure",
        ),
        pytest.param(
            """
            name: w
            steps: [
            """,
            ["Invalid YAML at wf.yaml:"],
            id="yaml-syntax",
        ),
    ],
)
def test_each_invalid_class_is_reported_with_location(text: str, expected: list[str]) -> None:
    messages = problems_of(text)
    assert len(messages) == len(expected), messages
    for message, want in zip(messages, expected, strict=True):
        assert message.startswith(want) or want in message, message


def test_all_problems_are_reported_at_once() -> None:
    messages = problems_of("""
        name: w
        colour: red
        steps:
          - name: a
            command: x
            requires: [ghost]
          - name: a
            command: y
          - name: b
            command: z
            when: "cpu<<1"
            requires: [b]
        """)
    joined = "\n".join(messages)
    assert "unknown top-level key" in joined
    assert "unknown step 'ghost'" in joined
    assert "duplicate name" in joined
    assert "bad gate" in joined
    assert "requires itself" in joined
    assert len(messages) == 5


def test_validation_error_text_names_every_problem() -> None:
    with pytest.raises(FleetValidationError, match=r"2 problem\(s\).*unknown key 'x'.*unknown step 'q'"):
        parse_workflow({"steps": [{"name": "a", "command": "c", "x": 1, "requires": ["q"]}]}, "inline")


def test_on_failure_step_may_not_be_required_or_have_requires() -> None:
    with pytest.raises(FleetValidationError) as info:
        wf(
            {"name": "a", "command": "x", "on_failure": "undo"},
            {"name": "undo", "command": "y", "requires": ["a"]},
            {"name": "b", "command": "z", "requires": ["undo"]},
        )
    text = str(info.value)
    assert "has its own requires or on_failure" in text
    assert "requires 'undo', which is an on_failure step" in text


def test_requires_and_depends_on_together_is_a_problem() -> None:
    with pytest.raises(FleetValidationError, match="both 'depends_on' and 'requires' are given"):
        wf({"name": "a", "command": "x"}, {"name": "b", "command": "y", "requires": ["a"], "depends_on": ["a"]})


def test_two_separate_cycles_are_both_named() -> None:
    with pytest.raises(FleetValidationError) as info:
        wf(
            {"name": "a", "command": "x", "requires": ["b"]},
            {"name": "b", "command": "x", "requires": ["a"]},
            {"name": "c", "command": "x", "requires": ["d"]},
            {"name": "d", "command": "x", "requires": ["c"]},
        )
    cycles = [p.reason for p in info.value.problems]
    assert cycles == ["a -> b -> a", "c -> d -> c"]


# --- order and plan ----------------------------------------------------------------------------------------


def diamond() -> Workflow:
    return wf(
        {"name": "fetch", "command": "f"},
        {"name": "left", "command": "l", "requires": ["fetch"]},
        {"name": "right", "command": "r", "requires": ["fetch"]},
        {"name": "join", "command": "j", "requires": ["right", "left"]},
        {"name": "undo", "command": "u"},
        {"name": "lint", "command": "x", "on_failure": "undo"},
    )


def test_layers_follow_dependencies_and_file_order() -> None:
    assert layer_steps(diamond()) == [["fetch", "lint"], ["left", "right"], ["join"]]
    assert order_steps(diamond()) == ["fetch", "lint", "left", "right", "join"]


def test_plan_lists_layers_handlers_and_renders_for_dry_run() -> None:
    plan = plan_workflow(diamond(), ["web-2", "web-1"])
    assert plan["hosts"] == ["web-1", "web-2"]
    assert plan["handlers"] == ["undo"]
    assert [s["name"] for s in plan["steps"]] == plan["order"]
    lines = render_plan(plan)
    assert lines[0] == "workflow 't': 5 step(s) in 3 layer(s)"
    assert "  join: j  [requires right, left]" in lines
    assert "  lint: x  [on_failure undo]" in lines
    assert lines[-1] == "on_failure steps: undo"


def test_resolve_scripts_makes_paths_absolute_and_reports_missing(tmp_path: Path) -> None:
    (tmp_path / "deploy.sh").write_text("echo hi\n")
    workflow = wf({"name": "a", "script": "deploy.sh"}, {"name": "b", "script": "gone.sh"})
    with pytest.raises(FleetValidationError, match="gone.sh' does not exist"):
        resolve_scripts(workflow, tmp_path)
    ok = resolve_scripts(wf({"name": "a", "script": "deploy.sh"}), tmp_path)
    assert ok.steps[0].script == str(tmp_path / "deploy.sh")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_examples_are_valid(path: Path) -> None:
    workflow = load_workflow_text(path.read_text(), str(path))
    assert order_steps(workflow)


# --- decisions -----------------------------------------------------------------------------------------------


def entry(status: str, cause: str | None = None) -> dict[str, Any]:
    return {"status": status, "reason": "", **({"cause": cause} if cause else {})}


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
    from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import evaluate_when

    metrics = {"cpu": 63.0, "mem": 20.0, "load1": 0.1, "cpus": 2, "users": 0, "sessions": []}
    assert evaluate_when("cpu<50", metrics) == (False, "cpu 63% >= 50%")
    assert evaluate_when("mem<50", metrics) == (True, "")


# --- the JSON Schema documents the same schema --------------------------------------------------------------

SCHEMA = Path(__file__).resolve().parents[4] / "docs" / "workflow-schema.json"


def test_json_schema_names_exactly_the_keys_the_parser_accepts() -> None:
    import json

    from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
        DEFAULT_KEYS,
        HEALTH_KEYS,
        LEGACY_KEYS,
        STEP_KEYS,
        TOP_KEYS,
    )

    schema = json.loads(SCHEMA.read_text())
    assert set(schema["properties"]) == set(TOP_KEYS)
    assert set(schema["properties"]["defaults"]["properties"]) == set(DEFAULT_KEYS)
    assert set(schema["$defs"]["step"]["properties"]) == set(STEP_KEYS) | set(LEGACY_KEYS) | {"parallel"}
    assert set(schema["$defs"]["health"]["properties"]) == set(HEALTH_KEYS)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_satisfy_the_json_schema(path: Path) -> None:
    import json

    import yaml

    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(yaml.safe_load(path.read_text()), json.loads(SCHEMA.read_text()))


@pytest.mark.parametrize(
    "data",
    [
        {"steps": [{"name": "a", "command": "x", "retires": 1}]},
        {"steps": [{"name": "a"}]},
        {"steps": [{"name": "a", "command": "x", "timeout": "soon"}]},
        {"steps": [{"name": "a", "command": "x", "requires": ["b"], "depends_on": ["b"]}], "x": 1},
        {"steps": []},
    ],
    ids=["unknown-key", "no-command", "wrong-type", "both-names", "empty"],
)
def test_schema_and_parser_reject_the_same_shape_errors(data: dict[str, Any]) -> None:
    import json

    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    with pytest.raises(FleetValidationError):
        parse_workflow(data)


def test_run_workflow_builds_one_step_from_fleet_vars_and_names_bad_vars() -> None:
    from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import parse_parallel
    from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import run_settings, run_workflow

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
    from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import run_workflow

    step = run_workflow({"fleet_command": text, "fleet_health_cmd": text, "fleet_chdir": text}).step("run")
    assert (step.command, step.health.command, step.chdir) == (text, text, text)
    typed = run_workflow({"fleet_command": "x", "fleet_become": "yes", "fleet_retries": "3", "fleet_timeout": "9",
                          "fleet_health_port": "8080", "fleet_health_interval": "0.5",
                          "fleet_health_successes": "2"}).step("run")
    assert (typed.become, typed.retries, typed.timeout) == (True, 3, 9)
    assert (typed.health.port, typed.health.interval, typed.health.successes) == (8080, 0.5, 2)
    with pytest.raises(FleetValidationError, match="fleet_retries"):
        run_workflow({"fleet_command": "x", "fleet_retries": "yes"})
