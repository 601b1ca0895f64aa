"""Unit tests for the workflow schema: validation, ordering, plans and the JSON Schema that documents it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
    Workflow,
    layer_steps,
    load_workflow_text,
    order_steps,
    parse_workflow,
    plan_workflow,
    render_plan,
    resolve_scripts,
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
