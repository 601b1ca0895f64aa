from __future__ import annotations

import json

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_input import (
    is_workflow_input_blank,
    load_workflow_input,
)

MAPPING = {
    "name": "deploy",
    "steps": [
        {"name": "pull", "command": "git pull"},
        {"name": "build", "command": "make", "requires": ["pull"]},
    ],
}
YAML_TEXT = """\
name: deploy
steps:
  - name: pull
    command: git pull
  - name: build
    command: make
    requires: [pull]
"""


class _TaggedText(str):
    """Stands in for Ansible's str subclasses (unsafe or tagged text from extra vars)."""


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(MAPPING, id="mapping"),
        pytest.param(json.dumps(MAPPING), id="json-text"),
        pytest.param(YAML_TEXT, id="yaml-text"),
        pytest.param(YAML_TEXT.replace("\n", "\r\n"), id="yaml-from-a-browser-textarea-crlf"),
        pytest.param(_TaggedText(YAML_TEXT), id="str-subclass"),
    ],
)
def test_every_form_gives_the_same_workflow(value: object) -> None:
    workflow = load_workflow_input(value)
    assert workflow.name == "deploy"
    assert [step.name for step in workflow.steps] == ["pull", "build"]
    assert [step.command for step in workflow.steps] == ["git pull", "make"]
    assert workflow.steps[1].requires == ("pull",)


def test_yaml_text_errors_carry_lines() -> None:
    text = YAML_TEXT.replace("requires: [pull]", "requires: [pul]")
    with pytest.raises(FleetValidationError, match=r"fleet_workflow:7") as info:
        load_workflow_input(text)
    assert "pul" in str(info.value)


def test_mapping_and_text_get_the_same_problems() -> None:
    bad = dict(MAPPING, colour="red")
    with pytest.raises(FleetValidationError) as from_mapping:
        load_workflow_input(bad)
    with pytest.raises(FleetValidationError) as from_json:
        load_workflow_input(json.dumps(bad))
    assert [p.subject for p in from_mapping.value.problems] == [p.subject for p in from_json.value.problems]
    assert [p.reason for p in from_mapping.value.problems] == ["unknown top-level key"]


def test_invalid_yaml_is_located() -> None:
    with pytest.raises(FleetValidationError, match=r"Invalid YAML at fleet_workflow:3:"):
        load_workflow_input("name: x\nsteps:\n\t- name: a\n")


@pytest.mark.parametrize("value", [None, "", "   \n"])
def test_blank_answers(value: object) -> None:
    assert is_workflow_input_blank(value)
    with pytest.raises(FleetValidationError, match="empty"):
        load_workflow_input(value)


def test_a_file_name_is_pointed_to_fleet_workflow_file() -> None:
    with pytest.raises(FleetValidationError, match="fleet_workflow_file"):
        load_workflow_input("workflows/deploy.yaml")


def test_text_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(FleetValidationError, match="expected a mapping"):
        load_workflow_input("- just\n- a list\n")


def test_other_types_are_refused() -> None:
    with pytest.raises(FleetValidationError, match="got list"):
        load_workflow_input([MAPPING])


def test_source_names_the_location() -> None:
    with pytest.raises(FleetValidationError, match=r"Workflow steps at survey \(steps\)"):
        load_workflow_input("name: x\n", source="survey")
