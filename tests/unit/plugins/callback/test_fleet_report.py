"""Adapter wiring of azlin.fleet.fleet_report: the real plugin (through Ansible's loader and config) fed through
its handler methods with objects shaped like CallbackTaskResult."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from ansible.plugins.loader import callback_loader, init_plugin_loader

ROOT = Path(__file__).resolve().parents[4]


class Host:
    def __init__(self, name: str, address: str | None = None) -> None:
        self.name = name
        self.vars = {"ansible_host": address} if address else {}

    def get_name(self) -> str:
        return self.name


class Task:
    def __init__(self, uuid: str, name: str, no_log: bool = False) -> None:
        self._uuid, self.name, self.no_log = uuid, name, no_log

    def get_name(self) -> str:
        return self.name

    def get_vars(self) -> dict[str, Any]:
        return {}

    def get_path(self) -> str:
        return f"play.yml:{self._uuid}"


class Result:
    def __init__(self, host: str, task: Task, result: dict[str, Any]) -> None:
        self.host, self.task, self.result = Host(host), task, result


@pytest.fixture(scope="module")
def loader() -> None:
    # tests/conftest.py installed Ansible's collection loader; this makes the dependency explicit.
    init_plugin_loader([str(ROOT / ".build" / "collections")])


@pytest.fixture
def callback(loader: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AZLIN_FLEET_REPORT_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("AZLIN_FLEET_REPORT_NAME", "unit")
    monkeypatch.setenv("AZLIN_FLEET_EVENTS_FILE", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("AZLIN_FLEET_REPORT_FORMATS", "json")
    monkeypatch.setenv("AZLIN_FLEET_MASK_PATTERNS", r"sig=(?P<secret>\w+)")
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    plugin = callback_loader.get("azlin.fleet.fleet_report")
    plugin.set_options()
    yield plugin
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def read_report(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "reports" / "unit.json").read_text())


def test_declares_an_opt_in_aggregate_callback_that_receives_the_plan_event(callback) -> None:
    assert (callback.CALLBACK_TYPE, callback.CALLBACK_NEEDS_ENABLED) == ("aggregate", True)
    callback._init_callback_methods()
    assert {
        "v2_playbook_on_fleet_plan",
        "v2_runner_on_ok",
        "v2_playbook_on_stats",
    } <= callback._implemented_callback_methods


def test_handlers_record_and_stats_write_the_report(callback, tmp_path: Path) -> None:
    run, secret = Task("t1", "Run sig=abc"), Task("t2", "Secret", no_log=True)
    plan = {"version": 1, "hosts": [{"host": "web-3", "status": "gated", "reasons": ["cpu 70% >= 50%"]}]}
    callback.v2_playbook_on_fleet_plan(plan)
    callback.v2_playbook_on_task_start(run, False)
    callback.v2_runner_on_ok(Result("web-1", run, {"rc": 0, "stdout": "sig=abc123", "changed": True}))
    callback.v2_runner_on_failed(Result("web-2", run, {"rc": 1, "stdout": "x", "msg": "rc 1"}), ignore_errors=None)
    callback.v2_runner_on_ok(Result("web-1", secret, {"censored": "hidden", "_ansible_no_log": True}))
    callback.v2_runner_on_unreachable(Result("web-2", secret, {"msg": "unreachable", "unreachable": True}))
    callback.v2_playbook_on_stats(None)
    report = read_report(tmp_path)
    assert [t["name"] for t in report["tasks"]] == ["route hosts (no gate, by score)", "Run sig=********", "Secret"]
    assert {h["host"]: h["status"] for h in report["hosts"]} == {
        "web-1": "changed",
        "web-2": "failed",
        "web-3": "gated",
    }
    assert "abc123" not in json.dumps(report) and "unreachable" in report["tasks"][2]["counts"]
    assert report["tasks"][2]["groups"][0]["no_log"] is True
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    # The plan gates its only host: a plan line with no host to run, then one result line per row.
    assert events[0] == {"event": "plan", "source": "route", "hosts": []}
    assert {e["event"] for e in events[1:]} == {"result"}
    assert [(e["host"], e["task"], e["status"]) for e in events[1:]] == [
        ("web-1", "Run sig=********", "changed"),
        ("web-2", "Run sig=********", "failed"),
        ("web-1", "Secret", "ok"),
        ("web-2", "Secret", "unreachable"),
    ]


def test_fleet_plan_in_a_task_result_is_recorded(callback, tmp_path: Path) -> None:
    route = Task("r", "Route hosts")
    plan = {
        "version": 1,
        "gate": "idle",
        "hosts": [{"host": "ci-1", "status": "unmeasurable", "reasons": ["probe failed"]}],
    }
    callback.v2_runner_on_ok(Result("localhost", route, {"changed": False, "fleet_plan": plan}))
    callback.v2_playbook_on_stats(None)
    plan_task = read_report(tmp_path)["tasks"][0]
    assert plan_task["groups"][0]["reasons"] == [{"reason": "probe failed", "hosts": ["ci-1"], "nodeset": "ci-1"}]


def test_signal_writes_the_report_then_chains_to_the_previous_handler(callback, tmp_path: Path) -> None:
    calls = []
    callback._previous_handlers[signal.SIGTERM] = lambda signum, frame: calls.append(signum)
    long = Task("t", "Long")
    callback.v2_playbook_on_task_start(long, False)
    callback.v2_runner_on_start(Host("web-1"), long)
    callback._on_signal(signal.SIGTERM, None)
    assert calls == [signal.SIGTERM]
    report = read_report(tmp_path)
    assert (report["complete"], report["interrupted"], report["counts"]) == (False, "SIGTERM", {"interrupted": 1})
    callback.v2_playbook_on_stats(None)  # the run's own end does not overwrite the interrupted report
    assert read_report(tmp_path)["interrupted"] == "SIGTERM"


def test_bad_mask_pattern_fails_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, callback) -> None:
    from ansible.errors import AnsibleError

    monkeypatch.setenv("AZLIN_FLEET_MASK_PATTERNS", "(")
    with pytest.raises(AnsibleError, match=r"Mask pattern '\('"):
        callback_loader.get("azlin.fleet.fleet_report").set_options()


def read_events(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]


def real_task(data: dict[str, Any], cls_name: str = "Task"):
    """A real ansible-core task (or TaskInclude), loaded from playbook data as the strategy would get it."""
    from ansible.playbook.block import Block
    from ansible.playbook.task import Task as AnsibleTask
    from ansible.playbook.task_include import TaskInclude

    if cls_name == "Block":
        return Block.load(data).block[0]
    return (TaskInclude if cls_name == "TaskInclude" else AnsibleTask).load(data)


def test_quiet_and_include_results_are_no_rows_but_their_failures_and_plans_are_kept(callback, tmp_path: Path) -> None:
    plan = {"version": 1, "hosts": [{"host": "web-2", "status": "selected", "order": 1, "reasons": []}]}
    quiet = real_task({"name": "Route", "ansible.builtin.debug": {"msg": "x"}, "vars": {"fleet_report_quiet": True}})
    in_block = real_task(
        {"block": [{"name": "Judge", "ansible.builtin.debug": {"msg": "x"}}], "vars": {"fleet_report_quiet": "true"}},
        "Block",
    )
    include = real_task({"name": "Include steps", "ansible.builtin.include_tasks": "steps.yml"}, "TaskInclude")
    run = real_task({"name": "Run", "ansible.builtin.command": "hostname"})
    for task in (quiet, in_block, include, run):
        callback.v2_playbook_on_task_start(task, False)
    callback.v2_runner_on_ok(Result("web-1", quiet, {"changed": False, "fleet_plan": plan}))
    callback.v2_runner_on_ok(Result("web-1", include, {"include": "steps.yml"}))
    callback.v2_runner_on_ok(Result("web-2", run, {"rc": 0, "stdout": "web-2"}))
    callback.v2_runner_on_ok(Result("web-2", in_block, {"msg": "fine"}))
    callback.v2_runner_on_failed(Result("web-3", in_block, {"msg": "web-3 failed its step"}))
    callback.v2_runner_on_failed(Result("web-4", include, {"msg": "steps.yml not found"}))
    callback.v2_playbook_on_stats(None)
    report = read_report(tmp_path)
    assert [t["name"] for t in report["tasks"]] == ["route hosts (no gate, by score)", "Run"]
    assert report["plans"] == [plan]
    assert [(e["host"], e["task"], e["status"], e["reason"]) for e in report["errors"]] == [
        ("web-3", "Judge", "failed", "web-3 failed its step"),
        ("web-4", "Include steps", "failed", "steps.yml not found"),
    ]
    assert [(e["event"], e.get("host"), e["hosts"] if "hosts" in e else None) for e in read_events(tmp_path)] == [
        ("plan", None, ["web-2"]),
        ("result", "web-2", None),
    ]


def test_a_task_first_seen_in_its_result_is_judged_by_its_own_vars(callback, tmp_path: Path) -> None:
    # Results carry a copy of the task with its parent blocks; the free strategy may report before task_start.
    quiet = real_task({"name": "Show", "ansible.builtin.debug": {"msg": "x"}, "vars": {"fleet_report_quiet": True}})
    callback.v2_runner_on_ok(Result("web-1", quiet.copy(exclude_parent=True, exclude_tasks=True), {"msg": "x"}))
    callback.v2_playbook_on_stats(None)
    assert read_report(tmp_path)["tasks"] == []


def test_play_start_writes_a_plan_line_with_the_whole_play_once(callback, tmp_path: Path) -> None:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play import Play
    from ansible.vars.manager import VariableManager

    inventory_file = tmp_path / "hosts.ini"
    inventory_file.write_text("[web]\nweb-1\nweb-2\nweb-3\n[ci]\nci-1\n")
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(inventory_file)])
    variables = VariableManager(loader=loader, inventory=inventory)
    play = Play.load(
        {"name": "Run the command", "hosts": "web", "gather_facts": False, "tasks": []},
        variable_manager=variables,
        loader=loader,
    )
    inventory.subset("all:!web-2")  # --limit
    inventory.restrict_to_hosts([inventory.get_host("web-1")])  # the first serial batch
    callback.v2_playbook_on_play_start(play)
    callback.v2_playbook_on_play_start(play.copy())  # the next batch starts the same play again
    assert read_events(tmp_path) == [
        {"event": "plan", "source": "play", "play": "Run the command", "hosts": ["web-1", "web-3"]}
    ]


def test_routing_plan_event_writes_a_plan_line_only_when_the_plan_changes(callback, tmp_path: Path) -> None:
    plan = {
        "version": 1,
        "hosts": [
            {"host": "web-1", "status": "selected", "order": 2, "reasons": []},
            {"host": "web-2", "status": "gated", "order": None, "reasons": ["cpu 70% >= 50%"]},
            {"host": "web-3", "status": "selected", "order": 1, "reasons": []},
        ],
    }
    callback.v2_playbook_on_fleet_plan(plan)
    callback.v2_playbook_on_fleet_plan(dict(plan))
    reprobed = dict(
        plan, hosts=[dict(h, status="selected", order=3) if h["host"] == "web-2" else h for h in plan["hosts"]]
    )
    callback.v2_playbook_on_fleet_plan(reprobed)
    assert read_events(tmp_path) == [
        {"event": "plan", "source": "route", "hosts": ["web-3", "web-1"]},
        {"event": "plan", "source": "route", "hosts": ["web-3", "web-1", "web-2"]},
    ]


def test_fleet_steps_results_become_step_rows_and_the_run_object_is_written(callback, tmp_path: Path) -> None:
    plan_task = real_task(
        {"name": "Plan the run", "ansible.builtin.debug": {}, "vars": {"fleet_report_quiet": True}, "run_once": True}
    )
    segment = real_task({"name": "Run steps", "ansible.builtin.debug": {}})
    judge = real_task({"name": "Judge", "ansible.builtin.debug": {}, "vars": {"fleet_report_quiet": True}})
    for task in (plan_task, segment, judge):
        callback.v2_playbook_on_task_start(task, False)
    callback.v2_runner_on_ok(Result("localhost", plan_task, {"changed": False}))
    callback.v2_runner_on_start(Host("web-1"), segment)
    steps = [
        {"step": "build", "status": "ok", "rc": 0, "stdout": "built on web-1", "attempts": 1, "duration": 1.5},
        {"step": "deploy", "status": "failed", "rc": 3, "stdout": "", "stderr": "no space", "reason": "rc 3"},
    ]
    callback.v2_runner_on_failed(Result("web-1", segment, {"failed": True, "msg": "step failed", "fleet_steps": steps}))
    callback.v2_runner_on_failed(Result("web-1", judge, {"failed": True, "fleet_status": "failed", "msg": "x"}))
    callback.v2_runner_on_failed(Result("web-2", judge, {"failed": True, "msg": "KeyError: 'fleet_states'"}))
    callback.v2_playbook_on_stats(None)
    report = read_report(tmp_path)
    assert [(t["id"], t["name"], t["kind"]) for t in report["tasks"]] == [
        ("step:build", "build", "step"),
        ("step:deploy", "deploy", "step"),
    ]
    rows = [(r["host"], r["step"], r["status"], r["rc"], r["reason"]) for t in report["tasks"] for r in t["results"]]
    assert rows == [("web-1", "build", "ok", 0, None), ("web-1", "deploy", "failed", 3, "rc 3")]
    assert report["run"] == {
        "status": "incomplete",
        "internal_errors": [{"host": "web-2", "task": "Judge", "error": "KeyError: 'fleet_states'"}],
        "refused": [],
        "nothing_selected": None,
    }
    assert [(e["host"], e["task"], e["status"], e.get("step")) for e in read_events(tmp_path)] == [
        ("web-1", "build", "ok", "build"),
        ("web-1", "deploy", "failed", "deploy"),
    ]


def test_refused_and_nothing_selected_reach_the_run_object(callback, tmp_path: Path) -> None:
    plan_task = real_task({"name": "Plan the run", "ansible.builtin.debug": {}, "vars": {"fleet_report_quiet": True}})
    empty = real_task({"name": "Select hosts", "ansible.builtin.fail": {}, "vars": {"fleet_report_quiet": True}})
    callback.v2_runner_on_failed(
        Result("web-1", plan_task, {"failed": True, "msg": "refused", "fleet_refused": ["fleet_count: not a number"]})
    )
    nothing = {"targets": "pool_none", "reason": "the targets select no host"}
    callback.v2_runner_on_failed(Result("localhost", empty, {"failed": True, "fleet_nothing_selected": nothing}))
    callback.v2_playbook_on_stats(None)
    run = read_report(tmp_path)["run"]
    assert run == {
        "status": "complete",
        "internal_errors": [],
        "refused": ["fleet_count: not a number"],
        "nothing_selected": nothing,
    }


def test_compare_to_adds_the_drift_section(callback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = Task("t", "Run")
    for host in ("web-1", "web-2"):
        callback.v2_runner_on_ok(Result(host, run, {"rc": 0, "stdout": f"{host} release 1"}))
    callback.v2_playbook_on_stats(None)
    earlier = tmp_path / "earlier.json"
    (tmp_path / "reports" / "unit.json").rename(earlier)
    monkeypatch.setenv("AZLIN_FLEET_COMPARE_TO", str(earlier))
    second = callback_loader.get("azlin.fleet.fleet_report")
    second.set_options()
    second.v2_runner_on_ok(Result("web-1", run, {"rc": 0, "stdout": "web-1 release 1"}))
    second.v2_runner_on_ok(Result("web-2", run, {"rc": 0, "stdout": "web-2 release 2"}))
    second.v2_playbook_on_stats(None)
    drift = read_report(tmp_path)["drift"]
    assert (drift["compared_to"], drift["hosts"]) == ("unit", ["web-2"])


def test_compare_to_a_missing_report_warns_and_still_writes(callback, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AZLIN_FLEET_COMPARE_TO", str(tmp_path / "nope.json"))
    plugin = callback_loader.get("azlin.fleet.fleet_report")
    plugin.set_options()
    plugin.v2_runner_on_ok(Result("web-1", Task("t", "Run"), {"rc": 0, "stdout": "x"}))
    plugin.v2_playbook_on_stats(None)
    report = read_report(tmp_path)
    assert report["drift"] is None and "No drift section" in report["warnings"][0]


def test_host_address_from_inventory_vars_is_normalised(callback, tmp_path: Path) -> None:
    run = Task("t", "Listen")
    for name, address in (("web-1", "10.0.0.1"), ("web-2", "10.0.0.2")):
        result = Result(name, run, {"rc": 0, "stdout": f"listening on {address}:22"})
        result.host = Host(name, address)
        callback.v2_runner_on_ok(result)
    callback.v2_playbook_on_stats(None)
    (task,) = read_report(tmp_path)["tasks"]
    assert [g["count"] for g in task["groups"]] == [2]
    assert [r["identity"] for r in task["results"]] == [["10.0.0.1"], ["10.0.0.2"]]
