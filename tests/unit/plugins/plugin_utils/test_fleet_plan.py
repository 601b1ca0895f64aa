"""Unit tests for the one plan of a fleet run: inputs, problems, routing, patterns, segments and the published fact."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError, FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.fleet_plan import (
    NO_HOSTS,
    ROUTED_GROUP,
    check_plan_vars,
    is_routing,
    load_plan_workflow,
    plan_fleet,
    read_plan_vars,
)

HOSTS = ("web-3", "web-1", "db-1")  # inventory order, deliberately not sorted

DEPLOY = textwrap.dedent("""\
    name: deploy
    targets: pool_web
    steps:
      - name: build
        command: make
      - name: migrate
        command: ./migrate
        requires: build
        fleet_wide: true
      - name: lint
        command: make lint
      - name: restart
        command: systemctl restart app
        requires: migrate
        on_failure: page
      - name: smoke
        command: curl -f localhost
        requires: [restart, lint]
      - name: page
        command: ./page-oncall
    """)
FILES = {"deploy.yaml": DEPLOY}


def read_file(path: str) -> str:
    if path not in FILES:
        raise FileNotFoundError(2, "No such file or directory", path)
    return FILES[path]


def plan(
    values: dict[str, Any],
    hosts: tuple[str, ...] = HOSTS,
    targets: str | None = "pool_web",
    reader: Callable[[str], str] = read_file,
) -> Any:
    return plan_fleet(values, hosts, targets, reader)


def refused(values: dict[str, Any], targets: str | None = "pool_web") -> list[str]:
    with pytest.raises(FleetValidationError) as info:
        plan(values, targets=targets)
    return [p.message for p in info.value.problems]


# --- what runs: a command or a workflow -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "kind", "steps", "segments"),
    [
        pytest.param({"fleet_command": "uptime"}, "run", ["run"], [["run"]], id="command-is-a-one-step-run"),
        pytest.param({"fleet_command": 42}, "run", ["run"], [["run"]], id="numeric-command-is-text"),
        pytest.param(
            {"fleet_workflow_file": "deploy.yaml"},
            "workflow",
            ["build", "migrate", "lint", "restart", "smoke", "page"],
            [["build", "lint", "migrate"], ["restart", "smoke"]],
            id="workflow-file",
        ),
    ],
)
def test_run_versus_workflow(values: dict[str, Any], kind: str, steps: list[str], segments: list[list[str]]) -> None:
    got = plan(values)
    assert got.kind == kind
    assert [s.name for s in got.workflow.steps] == steps
    assert [list(seg) for seg in got.segments] == segments
    assert got.hosts == HOSTS  # inventory order is kept


def test_numeric_command_stays_the_command_text() -> None:
    assert plan({"fleet_command": 42}).workflow.step("run").command == "42"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {}, "Nothing to run: neither fleet_command, fleet_workflow nor fleet_workflow_file is set", id="nothing"
        ),
        pytest.param(
            {"fleet_command": "x", "fleet_workflow_file": "deploy.yaml"},
            "Conflicting input: fleet_command and fleet_workflow_file are all set",
            id="both",
        ),
    ],
)
def test_nothing_or_two_things_to_run_is_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(FleetUsageError, match=message):
        load_plan_workflow(values, read_file)


def test_every_problem_is_collected_at_once() -> None:
    messages = refused(
        {
            "fleet_workflow": {"name": "w", "steps": [{"name": "a", "command": "x", "retires": 1}]},
            "fleet_smart_route": "maybe",
            "fleet_targets": ["web"],
            "fleet_retry_delay": -1,
            "fleet_parallel": "lots",
            "fleet_gate": "cpu<<5",
            "fleet_max_failures": "many",
            "fleet_sequence": 0,
        }
    )
    joined = "\n".join(messages)
    for fragment in (
        "unknown key 'retires'",
        "Invalid fleet_smart_route",
        "Invalid fleet_targets",
        "Invalid fleet_retry_delay",
        "fleet_parallel",
        "cpu<<5",
        "Invalid max_failures",
        "Invalid fleet_sequence",
    ):
        assert fragment in joined, fragment
    assert len(messages) == len(set(messages)), "fleet_parallel is checked twice but reported once"


def test_a_missing_workflow_file_is_a_refusal_naming_the_file() -> None:
    messages = refused({"fleet_workflow_file": "gone.yaml"})
    assert len(messages) == 1 and "gone.yaml" in messages[0]


def test_no_targets_anywhere_is_refused() -> None:
    inline = {"name": "w", "steps": [{"name": "a", "command": "x"}]}
    assert refused({"fleet_workflow": inline}, targets=None) == [
        "Workflow 'w': no targets. Set 'targets:' in the workflow or pass fleet_targets."
    ]
    assert plan({"fleet_workflow_file": "deploy.yaml"}, targets=None).targets == "pool_web"  # the workflow's own
    assert plan({"fleet_workflow_file": "deploy.yaml"}, targets="tag_env_x").targets == "tag_env_x"


def test_missing_targets_is_reported_with_the_other_problems() -> None:
    inline = {"name": "w", "steps": [{"name": "a", "command": "x"}]}
    messages = refused({"fleet_workflow": inline, "fleet_parallel": "lots"}, targets=None)
    assert any("no targets" in m for m in messages)
    assert any("fleet_parallel" in m for m in messages)


@pytest.mark.parametrize(
    ("values", "converted"),
    [
        ({"fleet_smart_route": "yes"}, {"fleet_smart_route": True, "fleet_retry_delay": 2.0}),
        ({"fleet_dry_run": "0"}, {"fleet_dry_run": False, "fleet_retry_delay": 2.0}),
        ({"fleet_retry_delay": "0.5"}, {"fleet_retry_delay": 0.5}),
        ({"fleet_command": 7}, {"fleet_command": "7", "fleet_retry_delay": 2.0}),
    ],
    ids=["smart-route-text", "dry-run-text", "retry-delay-text", "command-number"],
)
def test_check_plan_vars_converts_text(values: dict[str, Any], converted: dict[str, Any]) -> None:
    assert check_plan_vars(values) == (converted, [])


def test_read_plan_vars_keeps_only_plan_variables_that_are_set() -> None:
    task_vars = {
        "fleet_command": "uptime",
        "fleet_gate": "",
        "fleet_count": None,
        "fleet_parallel": " ",
        "fleet_timeout": 5,
        "ansible_host": "10.0.0.1",
        "fleet_unrelated": 1,
        "fleet_dry_run": False,
    }
    assert read_plan_vars(task_vars) == {"fleet_command": "uptime", "fleet_timeout": 5, "fleet_dry_run": False}


# --- routing and the host pattern of each play -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "routing"),
    [
        ({}, False),
        ({"fleet_smart_route": True}, True),
        ({"fleet_smart_route": False}, False),
        ({"fleet_gate": "idle"}, True),
        ({"fleet_count": 2}, True),
        ({"fleet_route_by": "cpu"}, True),
        ({"fleet_gate_mode": "wait"}, False),
        ({"fleet_parallel": 2}, False),
    ],
    ids=["nothing", "asked", "refused", "gate", "count", "route-by", "gate-mode-alone", "parallel-alone"],
)
def test_routing_is_asked_for_or_implied_by_gate_count_route_by(values: dict[str, Any], routing: bool) -> None:
    assert is_routing(values) is routing
    assert plan({"fleet_command": "x", **values}).routing is routing


@pytest.mark.parametrize(
    ("values", "hosts", "expected"),
    [
        pytest.param(
            {"fleet_command": "x"},
            HOSTS,
            {
                "probe": False,
                "probe_pattern": NO_HOSTS,
                "run_pattern": "pool_web",
                "run_group": None,
                "judge_pattern": "pool_web",
            },
            id="plain-run",
        ),
        pytest.param(
            {"fleet_command": "x", "fleet_gate": "idle"},
            HOSTS,
            {
                "probe": True,
                "probe_pattern": "pool_web",
                "run_pattern": ROUTED_GROUP,
                "run_group": ROUTED_GROUP,
                "judge_pattern": "pool_web",
            },
            id="routed-run",
        ),
        pytest.param(
            {"fleet_command": "x", "fleet_dry_run": True},
            HOSTS,
            {
                "probe": True,
                "probe_pattern": "pool_web",
                "run_pattern": NO_HOSTS,
                "run_group": None,
                "judge_pattern": NO_HOSTS,
            },
            id="dry-run-of-a-command-probes-read-only",
        ),
        pytest.param(
            {"fleet_workflow_file": "deploy.yaml", "fleet_dry_run": True},
            HOSTS,
            {
                "probe": False,
                "probe_pattern": NO_HOSTS,
                "run_pattern": NO_HOSTS,
                "run_group": None,
                "judge_pattern": NO_HOSTS,
            },
            id="dry-run-of-a-workflow-touches-nothing",
        ),
        pytest.param(
            {"fleet_workflow_file": "deploy.yaml", "fleet_dry_run": True, "fleet_count": 1},
            HOSTS,
            {
                "probe": True,
                "probe_pattern": "pool_web",
                "run_pattern": NO_HOSTS,
                "run_group": None,
                "judge_pattern": NO_HOSTS,
            },
            id="routed-dry-run-probes-only",
        ),
        pytest.param(
            {"fleet_command": "x", "fleet_gate": "idle"},
            (),
            {
                "probe": False,
                "probe_pattern": NO_HOSTS,
                "run_pattern": NO_HOSTS,
                "run_group": None,
                "judge_pattern": NO_HOSTS,
            },
            id="no-hosts-runs-nothing",
        ),
        pytest.param(
            {"fleet_command": "x", "fleet_dry_run": True},
            (),
            {
                "probe": False,
                "probe_pattern": NO_HOSTS,
                "run_pattern": NO_HOSTS,
                "run_group": None,
                "judge_pattern": NO_HOSTS,
            },
            id="no-hosts-dry-run",
        ),
    ],
)
def test_patterns_of_the_plays(values: dict[str, Any], hosts: tuple[str, ...], expected: dict[str, Any]) -> None:
    got = plan(values, hosts=hosts)
    assert {"probe": got.probe, **got.patterns} == expected


# --- segments, tallies and the published fact ----------------------------------------------------------------


def test_segments_split_only_after_fleet_wide_steps_and_barriers_are_tallied() -> None:
    got = plan({"fleet_workflow_file": "deploy.yaml"})
    assert got.segments == (("build", "lint", "migrate"), ("restart", "smoke"))
    assert got.barriers == ("migrate",)
    assert got.tallies is True
    assert plan({"fleet_command": "x"}).tallies is False
    assert plan({"fleet_command": "x", "fleet_sequence": 1}).tallies is True
    assert plan({"fleet_command": "x", "fleet_max_failures": 0}).tallies is True


def test_to_fact_holds_no_per_host_list() -> None:
    hosts = tuple(f"vm-{i:04d}" for i in range(500))
    small = plan({"fleet_workflow_file": "deploy.yaml"}, hosts=hosts[:2]).to_fact()
    fact = plan({"fleet_workflow_file": "deploy.yaml"}, hosts=hosts).to_fact()
    text = json.dumps(fact)
    assert "vm-0" not in text
    assert fact["host_count"] == 500
    assert len(text) - len(json.dumps(small)) < 10, "the fact grows with steps, not with hosts"
    assert json.loads(text) == fact, "the fact is plain JSON data"


def test_to_fact_carries_what_the_playbooks_read() -> None:
    fact = plan({"fleet_workflow_file": "deploy.yaml", "fleet_sequence": 2, "fleet_retry_delay": "3"}).to_fact()
    assert {
        k: fact[k]
        for k in (
            "kind",
            "name",
            "targets",
            "host_count",
            "dry_run",
            "routing",
            "probe",
            "serial",
            "throttle",
            "stop_on_failure",
            "max_failures",
            "retry_delay",
            "tallies",
            "barriers",
            "segments",
            "segment_indexes",
            "warnings",
        )
    } == {
        "kind": "workflow",
        "name": "deploy",
        "targets": "pool_web",
        "host_count": 3,
        "dry_run": False,
        "routing": False,
        "probe": False,
        "serial": 2,
        "throttle": 0,
        "stop_on_failure": True,
        "max_failures": None,
        "retry_delay": 3.0,
        "tallies": True,
        "barriers": ["migrate"],
        "segments": [["build", "lint", "migrate"], ["restart", "smoke"]],
        "segment_indexes": [0, 1],
        "warnings": [],
    }
    assert [s["name"] for s in fact["steps"]] == ["build", "migrate", "lint", "restart", "smoke", "page"]
    assert fact["steps"][3]["on_failure"] == "page"


# --- run flags are step defaults; the step's own keys win -------------------------------------------------------


def test_run_flags_are_step_defaults_and_step_keys_win() -> None:
    workflow = {
        "name": "w",
        "defaults": {"timeout": 5, "retries": 1},
        "steps": [
            {"name": "plain", "command": "x"},
            {"name": "own", "command": "y", "timeout": 7, "become": False, "env": {"OWN": "1"}, "chdir": "/own"},
        ],
    }
    got = plan(
        {
            "fleet_workflow": workflow,
            "fleet_timeout": "30",
            "fleet_become": "yes",
            "fleet_environment": {"FLAG": 1},
            "fleet_chdir": "/srv",
        }
    ).workflow
    plain, own = got.step("plain"), got.step("own")
    assert (plain.timeout, plain.retries, plain.become, plain.env, plain.chdir) == (30, 1, True, {"FLAG": "1"}, "/srv")
    assert (own.timeout, own.retries, own.become, own.env, own.chdir) == (7, 1, False, {"OWN": "1"}, "/own")


def test_a_bad_run_flag_default_is_refused() -> None:
    messages = refused({"fleet_workflow_file": "deploy.yaml", "fleet_environment": "A=1"})
    # the same words as for a run's fleet_environment: the flag is checked once, as the step of a run
    assert messages == ["Invalid fleet_environment: 'env' must map variable names to strings, got the string 'A=1'"]


def test_a_bad_run_flag_is_one_problem_naming_the_variable_however_many_steps() -> None:
    two = {"name": "w", "targets": "all", "steps": [{"name": "a", "command": "x"}, {"name": "b", "command": "y"}]}
    messages = refused({"fleet_workflow": two, "fleet_timeout": -1, "fleet_retries": "many"})
    assert len(messages) == 2
    assert messages[0].startswith("Invalid fleet_timeout") and messages[1].startswith("Invalid fleet_retries")


# --- fleet_workflow as a mapping, JSON text or YAML text ------------------------------------------------------


INLINE = {
    "name": "inline",
    "targets": "pool_ci",
    "steps": [{"name": "a", "command": "echo a"}, {"name": "b", "command": "echo b", "requires": ["a"], "throttle": 2}],
}


@pytest.mark.parametrize(
    "given",
    [
        INLINE,
        json.dumps(INLINE),
        json.dumps(INLINE, indent=2),
        textwrap.dedent("""\
        name: inline
        targets: pool_ci
        steps:
          - name: a
            command: echo a
          - name: b
            command: echo b
            requires: [a]
            throttle: 2
        """),
    ],
    ids=["mapping", "json-text", "json-text-indented", "yaml-text"],
)
def test_fleet_workflow_as_mapping_json_or_yaml_text(given: Any) -> None:
    kind, workflow = load_plan_workflow({"fleet_workflow": given}, read_file)
    assert kind == "workflow"
    assert workflow.name == "inline" and workflow.targets == "pool_ci"
    assert [(s.name, s.requires, s.throttle) for s in workflow.steps] == [("a", (), None), ("b", ("a",), 2)]


def test_fleet_workflow_text_problems_are_located_in_fleet_workflow() -> None:
    messages = refused({"fleet_workflow": "name: w\nsteps:\n  - name: a\n    comand: x\n"})
    assert any(m.startswith("Step 'a' at fleet_workflow:4 (steps[0].comand): unknown key 'comand'") for m in messages)


def test_sequence_alias_is_planned_as_throttle_with_a_warning_in_the_fact() -> None:
    got = plan({"fleet_workflow": {"name": "w", "steps": [{"name": "a", "command": "x", "sequence": 1}]}})
    assert got.workflow.step("a").throttle == 1
    fact = got.to_fact()
    assert fact["steps"][0]["throttle"] == 1 and "sequence" not in fact["steps"][0]
    assert fact["warnings"] == [
        "Step 'a': 'sequence' is deprecated; write 'throttle' (same meaning: at most N hosts run the step at once)"
    ]


# --- the lines every run prints first ----------------------------------------------------------------------------


def test_plan_lines_of_a_workflow() -> None:
    lines = plan({"fleet_workflow_file": "deploy.yaml", "fleet_dry_run": True}).lines()
    assert lines == [
        "workflow 'deploy': 5 step(s) in 4 layer(s)",
        "targets: pool_web (3 host(s))",
        "routing: inventory order, no probe",
        "hosts: web-3, web-1, db-1",
        "layer 1:",
        "  build: make",
        "  lint: make lint",
        "layer 2:",
        "  migrate: ./migrate  [requires build; fleet-wide barrier]",
        "layer 3:",
        "  restart: systemctl restart app  [requires migrate; on_failure page]",
        "layer 4:",
        "  smoke: curl -f localhost  [requires restart, lint]",
        "hosts wait for each other only at fleet-wide steps: migrate",
        "on_failure steps: page",
        "dry run: nothing runs on any host",
    ]
    no_barrier = plan({"fleet_workflow": INLINE}).lines()
    assert no_barrier[-1] == "each host runs its steps as soon as their requires succeeded there (no barrier)"
    assert "  b: echo b  [requires a; at most 2 host(s) at once]" in no_barrier


def test_plan_lines_of_a_routed_rolling_run() -> None:
    lines = plan({"fleet_command": "uptime", "fleet_gate": "idle", "fleet_count": 2, "fleet_sequence": 1}).lines()
    assert lines[0] == "command: uptime"
    assert lines[2].startswith("routing: probe, gate idle and order least loaded first")
    assert lines[2].endswith(", keep the 2 best")
    assert "rollout: 1 host(s) at a time, stop at the first failed host" in lines


def test_a_bad_boolean_read_by_the_plan_and_by_routing_is_one_problem() -> None:
    # fleet_dry_run is read by the plan and by the routing settings: one parser, so one problem, said once
    assert refused({"fleet_command": "true", "fleet_dry_run": "maybe"}) == [
        "Invalid fleet_dry_run 'maybe': expected true or false. Set fleet_dry_run: true or false."
    ]
