"""Static checks of the collection playbooks: no fact gathering, internal controller tasks marked quiet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

PLAYBOOKS = Path(__file__).resolve().parents[3] / "playbooks"
#: Actions that only plan, route, select or judge on the controller: the report leaves them out (CONTRACTS).
INTERNAL = {
    "azlin.fleet.plan",
    "azlin.fleet.tally",
    "azlin.fleet.judge",
    "azlin.fleet.nothing_selected",
    "azlin.fleet.route",
    "azlin.fleet.vm_power",
    "azlin.fleet.azure_metrics",
    "azlin.fleet.job_artifacts",
    "ansible.builtin.set_stats",
    "ansible.builtin.add_host",
}
TASK_KEYS = {"block", "rescue", "always"}


def tasks(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items or []:
        if TASK_KEYS & set(item):
            for key in TASK_KEYS & set(item):
                yield from tasks(item[key])
        else:
            yield item


def playbook_tasks() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(PLAYBOOKS.glob("*.yml")):
        for play in yaml.safe_load(path.read_text()):
            for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                for task in tasks(play.get(section, [])):
                    yield f"{path.name}: {task.get('name')}", task
    for path in sorted((PLAYBOOKS / "tasks").glob("*.yml")):
        for task in tasks(yaml.safe_load(path.read_text())):
            yield f"tasks/{path.name}: {task.get('name')}", task


def test_no_play_gathers_facts() -> None:
    for path in sorted(PLAYBOOKS.glob("*.yml")):
        for play in yaml.safe_load(path.read_text()):
            if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
                continue
            assert play.get("gather_facts") is False, f"{path.name}: play {play.get('name')!r} gathers facts"


@pytest.mark.parametrize(("where", "task"), list(playbook_tasks()), ids=lambda v: v if isinstance(v, str) else "")
def test_internal_controller_tasks_are_quiet_in_the_report(where: str, task: dict[str, Any]) -> None:
    action = next((key for key in task if key in INTERNAL), None)
    if action is None:
        return
    assert (task.get("vars") or {}).get("fleet_report_quiet") is True, f"{where}: {action} lacks fleet_report_quiet"


def test_internal_actions_are_found_in_the_playbooks() -> None:
    """The quiet check above only means something if it sees the pipeline's internal tasks."""
    used = {key for _where, task in playbook_tasks() for key in task if key in INTERNAL}
    assert used == INTERNAL


def test_run_only_imports_the_pipeline() -> None:
    plays = yaml.safe_load((PLAYBOOKS / "run.yml").read_text())
    assert len(plays) == 1
    assert set(plays[0]) == {"name", "ansible.builtin.import_playbook"}
    assert plays[0]["ansible.builtin.import_playbook"] == "workflow.yml"


def test_pipeline_has_one_controller_task_before_the_hosts_run() -> None:
    """Speed: validation and planning are one task, run once, delegated to localhost (works under --limit)."""
    plays = yaml.safe_load((PLAYBOOKS / "workflow.yml").read_text())
    first = plays[0]
    assert first["hosts"] != "localhost"
    assert len(first["tasks"]) == 1
    task = first["tasks"][0]
    assert "azlin.fleet.plan" in task
    assert (task["run_once"], task["delegate_to"], task["delegate_facts"]) == (True, "localhost", True)
    # no play is always on localhost: only the nothing-selected check goes there, and only when it has to
    assert not any(play.get("hosts") == "localhost" for play in plays)
