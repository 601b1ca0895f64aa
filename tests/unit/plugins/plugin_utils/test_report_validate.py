from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report import load_report, validate_report
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_merge import merge_reports

ROOT = Path(__file__).resolve().parents[4]
GOLDEN = json.loads((ROOT / "tests" / "unit" / "fixtures" / "report" / "golden-report.json").read_text())
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())


def schema_valid(report: dict[str, Any]) -> bool:
    return not list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(report))


def test_golden_report_is_valid() -> None:
    assert validate_report(GOLDEN) == [] and schema_valid(GOLDEN)


def _task(report: dict[str, Any]) -> dict[str, Any]:
    return report["tasks"][1]


MUTATIONS = [
    pytest.param(lambda r: _task(r)["groups"][0].update(rc="<script>alert(1)</script>"), "groups[0].rc", id="rc-text"),
    pytest.param(lambda r: r["hosts"][0].update(attempts="2"), "hosts[0].attempts", id="attempts-string"),
    pytest.param(lambda r: _task(r).update(hosts="<img src=x>"), "tasks[1].hosts", id="task-hosts-string"),
    pytest.param(lambda r: _task(r)["groups"][0].update(hosts="web-1"), "groups[0].hosts", id="group-hosts-string"),
    pytest.param(lambda r: _task(r)["results"][0].update(status="pwned"), "results[0].status", id="unknown-status"),
    pytest.param(lambda r: _task(r)["results"][0].update(output="f" * 64), "names an output", id="dangling-output"),
    pytest.param(lambda r: r.update(run={"status": "fine"}), "report.run", id="bad-run"),
    pytest.param(lambda r: r.update(tasks={}), "report.tasks: expected a list", id="tasks-object"),
    pytest.param(lambda r: r["counts"].update(ok="3"), "report.counts", id="count-string"),
    pytest.param(lambda r: r.pop("hosts"), "report.hosts", id="missing-hosts"),
]


@pytest.mark.parametrize(("mutate", "where"), MUTATIONS)
def test_mutated_reports_are_refused_by_both_validators(mutate, where: str) -> None:
    report = copy.deepcopy(GOLDEN)
    mutate(report)
    problems = validate_report(report)
    assert any(where in p for p in problems), problems
    if where != "names an output":  # referential integrity is beyond JSON Schema
        assert not schema_valid(report)


def test_load_report_and_merge_refuse_a_hostile_report(tmp_path: Path) -> None:
    report = copy.deepcopy(GOLDEN)
    _task(report)["results"][0]["attempts"] = "many"
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(report))
    with pytest.raises(FleetUsageError, match=r"does not match the report schema: .*attempts: expected"):
        load_report(path)
    with pytest.raises(FleetUsageError, match="does not match the report schema"):
        merge_reports([path])


def test_validate_report_never_raises_on_garbage() -> None:
    for garbage in (None, [], "x", {"tasks": [1, None, "x"]}, {"outputs": {"x": 1}, "run": []}):
        assert validate_report(garbage)
