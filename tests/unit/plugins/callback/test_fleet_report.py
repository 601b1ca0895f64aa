"""Adapter wiring of azlin.fleet.fleet_report: the real plugin (through Ansible's loader and config) fed through
its handler methods with objects shaped like CallbackTaskResult."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible.plugins.loader import callback_loader, init_plugin_loader

ROOT = Path(__file__).resolve().parents[4]


class Host:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


class Task:
    def __init__(self, uuid: str, name: str, no_log: bool = False) -> None:
        self._uuid, self.name, self.no_log = uuid, name, no_log

    def get_name(self) -> str:
        return self.name

    def get_path(self) -> str:
        return f"play.yml:{self._uuid}"


class Result:
    def __init__(self, host: str, task: Task, result: dict[str, Any]) -> None:
        self.host, self.task, self.result = Host(host), task, result


@pytest.fixture(scope="module")
def loader() -> None:
    # tests/conftest.py makes the collection importable as a plain package; modules imported that way would
    # shadow Ansible's collection loader, which the plugin loader needs.
    for name in [n for n in sys.modules if n == "ansible_collections" or n.startswith("ansible_collections.")]:
        del sys.modules[name]
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
    assert [(e["host"], e["task"], e["status"]) for e in events] == [
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
