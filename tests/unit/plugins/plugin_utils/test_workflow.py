"""Unit tests for the workflow schema: validation, ordering, segments and the JSON Schema that documents it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
    Workflow,
    layer_steps,
    load_workflow_text,
    order_steps,
    parse_workflow,
    resolve_scripts,
    segment_steps,
    step_to_dict,
    workflow_from_steps,
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
    assert (a.when, a.retries, a.throttle) == ("idle", 1, 1)
    assert (b.requires, b.retries, b.continue_on_error, b.throttle) == (("a",), 3, True, 2)
    assert (c.requires, c.retries, c.throttle) == (("a",), 0, None)
    assert workflow.warnings == ()  # azlin's older keys are mapped silently; only 'sequence' is deprecated


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
                "script, requires, when, timeout, retries, continue_on_error, on_failure, fleet_wide, throttle, "
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


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            [{"name": "a", "command": "x"}, {"name": "b", "command": "y", "requires": "a"}],
            [["a", "b"]],
            id="no-fleet-wide-step-one-segment",
        ),
        pytest.param(
            [{"name": "a", "command": "x", "fleet_wide": True}, {"name": "b", "command": "y"}],
            [["a", "b"]],
            id="fleet-wide-step-without-dependents-does-not-split",
        ),
        pytest.param(
            [
                {"name": "build", "command": "x"},
                {"name": "migrate", "command": "y", "requires": "build", "fleet_wide": True},
                {"name": "lint", "command": "l"},
                {"name": "restart", "command": "z", "requires": "migrate"},
                {"name": "smoke", "command": "s", "requires": ["restart", "lint"]},
            ],
            [["build", "lint", "migrate"], ["restart", "smoke"]],
            id="split-after-the-fleet-wide-step-only",
        ),
        pytest.param(
            [
                {"name": "a", "command": "x", "fleet_wide": True},
                {"name": "b", "command": "y", "requires": "a", "fleet_wide": True},
                {"name": "c", "command": "z", "requires": "b"},
                {"name": "d", "command": "w", "requires": "a"},
            ],
            [["a"], ["b", "d"], ["c"]],
            id="chained-barriers",
        ),
        pytest.param(
            [
                {"name": "a", "command": "x", "on_failure": "undo"},
                {"name": "undo", "command": "u", "fleet_wide": True},
            ],
            [["a"]],
            id="on-failure-steps-are-in-no-segment",
        ),
    ],
)
def test_segments_split_only_after_fleet_wide_steps(steps: list[dict[str, Any]], expected: list[list[str]]) -> None:
    assert segment_steps(wf(*steps)) == expected


def test_sequence_is_read_as_throttle_with_a_deprecation_warning() -> None:
    workflow = wf({"name": "a", "command": "x", "sequence": 2}, {"name": "b", "command": "y", "throttle": 3})
    assert (workflow.step("a").throttle, workflow.step("b").throttle) == (2, 3)
    assert workflow.warnings == (
        "Step 'a': 'sequence' is deprecated; write 'throttle' (same meaning: at most N hosts run the step at once)",
    )
    assert "sequence" not in step_to_dict(workflow.step("a"))
    with pytest.raises(FleetValidationError, match="both 'sequence' and 'throttle' are given"):
        wf({"name": "a", "command": "x", "throttle": 1, "sequence": 2})
    with pytest.raises(FleetValidationError, match="'throttle' must be a number >= 1, got a number"):
        wf({"name": "a", "command": "x", "sequence": 0})


@pytest.mark.parametrize(
    ("own", "flags", "step_keys", "expected"),
    [
        pytest.param({}, {"timeout": 9}, {}, {"timeout": 9}, id="flag-applies-to-every-step"),
        pytest.param({"timeout": 5}, {"timeout": 9}, {}, {"timeout": 9}, id="flag-overrides-workflow-default"),
        pytest.param({"timeout": 5}, {"timeout": 9}, {"timeout": 1}, {"timeout": 1}, id="step-key-wins-over-both"),
        pytest.param({"retries": 2}, {"become": True}, {}, {"retries": 2, "become": True}, id="defaults-merge"),
        pytest.param({}, {"become": True}, {"become": False}, {"become": False}, id="step-false-wins-over-flag"),
        pytest.param(
            {}, {"env": {"A": "1"}}, {"env": {"B": "2"}}, {"env": {"B": "2"}}, id="env-is-replaced-not-merged"
        ),
    ],
)
def test_run_flag_defaults_override_workflow_defaults_but_not_step_keys(
    own: dict[str, Any], flags: dict[str, Any], step_keys: dict[str, Any], expected: dict[str, Any]
) -> None:
    text = yaml_text({"name": "w", "defaults": own, "steps": [{"name": "a", "command": "x", **step_keys}]})
    step = load_workflow_text(text, "wf.yaml", defaults=flags).step("a")
    for key, value in expected.items():
        assert getattr(step, key) == value, key
    assert (
        parse_workflow(
            {"name": "w", "defaults": own, "steps": [{"name": "a", "command": "x", **step_keys}]}, "wf", defaults=flags
        ).step("a")
        == step
    )


def yaml_text(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def test_workflow_from_steps_rebuilds_the_published_steps() -> None:
    workflow = wf(
        {"name": "a", "command": "x", "health": {"url": "http://127.0.0.1/", "status": 204}, "env": {"K": "v"}},
        {"name": "b", "command": "y", "requires": ["a"], "on_failure": "undo", "throttle": 2, "fleet_wide": True},
        {"name": "undo", "command": "z", "become": True, "chdir": "/srv"},
    )
    again = workflow_from_steps("t", [step_to_dict(s) for s in workflow.steps])
    assert again.steps == workflow.steps
    assert segment_steps(again) == segment_steps(workflow)


# --- property: random DAGs with random fleet-wide steps ----------------------------------------------------


@st.composite
def fleet_dags(draw: st.DrawFn) -> Workflow:
    count = draw(st.integers(min_value=1, max_value=10))
    steps = []
    for i in range(count):
        requires = draw(st.lists(st.integers(min_value=0, max_value=i - 1), unique=True, max_size=3)) if i else []
        steps.append(
            {
                "name": f"s{i}",
                "command": "c",
                "requires": [f"s{j}" for j in requires],
                "fleet_wide": draw(st.booleans()),
            }
        )
    order = draw(st.permutations(range(count)))  # file order is not the dependency order
    return parse_workflow({"name": "p", "steps": [steps[i] for i in order]})


@settings(max_examples=300, deadline=None)
@given(fleet_dags())
def test_segments_respect_requires_and_barriers(workflow: Workflow) -> None:
    segments = segment_steps(workflow)
    flat = [name for seg in segments for name in seg]
    assert sorted(flat) == sorted(s.name for s in workflow.steps)  # every step exactly once
    assert all(segments), "no empty segment"
    where = {name: i for i, seg in enumerate(segments) for name in seg}
    position = {name: i for i, name in enumerate(flat)}
    for step in workflow.steps:
        for dep in step.requires:
            assert position[dep] < position[step.name], f"{step.name} runs before its requirement {dep}"
            if workflow.step(dep).fleet_wide:
                assert where[dep] < where[step.name], f"{step.name} is not after the barrier of {dep}"
            else:
                assert where[dep] <= where[step.name]
    # segments split only at fleet-wide steps: every segment after the first needs a barrier of an earlier one
    for i, seg in enumerate(segments[1:], 1):
        assert any(
            workflow.step(d).fleet_wide and where[d] == i - 1 for name in seg for d in workflow.step(name).requires
        )


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


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_examples_use_no_deprecated_key(path: Path) -> None:
    assert load_workflow_text(path.read_text(), str(path)).warnings == ()


@pytest.mark.parametrize("name", ["A B", "X=1; touch PWNED; Y", "1ST", ""], ids=repr)
def test_env_names_must_be_shell_identifiers(name: str) -> None:
    with pytest.raises(FleetValidationError, match="'env'"):
        wf({"name": "a", "command": "x", "env": {name: "v"}})


# --- the JSON Schema documents the same schema --------------------------------------------------------------

SCHEMA = Path(__file__).resolve().parents[4] / "docs" / "workflow-schema.json"


def test_json_schema_names_exactly_the_keys_the_parser_accepts() -> None:
    import json

    from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
        DEFAULT_KEYS,
        DEPRECATED_KEYS,
        HEALTH_KEYS,
        LEGACY_KEYS,
        STEP_KEYS,
        TOP_KEYS,
    )

    schema = json.loads(SCHEMA.read_text())
    assert set(schema["properties"]) == set(TOP_KEYS)
    assert set(schema["properties"]["defaults"]["properties"]) == set(DEFAULT_KEYS)
    accepted = set(STEP_KEYS) | set(LEGACY_KEYS) | set(DEPRECATED_KEYS) | {"parallel"}
    assert set(schema["$defs"]["step"]["properties"]) == accepted
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
