from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report import (
    Outcome,
    ReportCollector,
    TaskInfo,
    build_masker,
    build_report,
    hosts_by_status,
    load_report,
    render_report,
    write_report,
)

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "report"
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())


def validate(report: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(json.dumps(report)))


@pytest.fixture
def report() -> dict[str, Any]:
    collector = ReportCollector(build_masker())
    collector.add_plan(
        {
            "version": 1,
            "gate": "cpu<50",
            "gate_mode": "skip",
            "route_by": "score",
            "count": None,
            "dry_run": False,
            "hosts": [
                {"host": f"web-{i}", "status": "selected", "order": i, "score": 5.0, "metrics": {}, "reasons": []}
                for i in range(1, 7)
            ]
            + [
                {
                    "host": "web-7",
                    "status": "gated",
                    "order": None,
                    "score": 70.0,
                    "metrics": {},
                    "reasons": ["cpu 70% >= 50%"],
                },
                {
                    "host": "web-8",
                    "status": "unmeasurable",
                    "order": None,
                    "score": None,
                    "metrics": None,
                    "reasons": ["probe failed: /proc/stat unreadable"],
                },
            ],
        }
    )
    collector.add_task(TaskInfo("t1", "Run command", "fleet", "run.yml:10"))
    for i in range(1, 5):
        collector.add_result(f"web-{i}", "t1", Outcome("changed", 0, "release 42\npassword=hunter2\n"))
    collector.add_result("web-5", "t1", Outcome("changed", 0, "release 41\npassword=hunter2\n"))
    collector.add_result("web-6", "t1", Outcome("failed", 1, "", "boom", reason="non-zero return code"))
    collector.add_task(TaskInfo("t2", "Use secret", "fleet"))
    collector.add_result("web-1", "t2", Outcome("ok", 0, "the-no-log-output"), no_log=True)
    return build_report(
        collector, name="unit", started="2026-01-01T00:00:00+00:00", finished="2026-01-01T00:00:05+00:00"
    )


def test_built_report_matches_schema(report: dict[str, Any]) -> None:
    validate(report)


def test_golden_report_fixture_matches_schema() -> None:
    validate(json.loads((FIXTURES / "golden-report.json").read_text()))


def test_plan_hosts_appear_with_reasons(report: dict[str, Any]) -> None:
    plan = report["tasks"][0]
    assert (plan["kind"], plan["name"]) == ("plan", "route hosts (gate cpu<50, by score)")
    assert [(g["nodeset"], g["status"]) for g in plan["groups"]] == [
        ("web-[1-6]", "selected"),
        ("web-7", "gated"),
        ("web-8", "unmeasurable"),
    ]
    assert hosts_by_status(report) == {
        "changed": "web-[1-5]",
        "failed": "web-6",
        "gated": "web-7",
        "unmeasurable": "web-8",
    }
    assert report["counts"] == {"failed": 1, "unmeasurable": 1, "gated": 1, "changed": 5}


def test_task_groups_diff_and_outputs_stored_once(report: dict[str, Any]) -> None:
    task = report["tasks"][1]
    assert [(g["nodeset"], g["status"], g["baseline"]) for g in task["groups"]] == [
        ("web-[1-4]", "changed", True),
        ("web-5", "changed", False),
        ("web-6", "failed", False),
    ]
    assert "-release 42\n+release 41" in task["groups"][1]["diff"]
    assert "+boom" in task["groups"][2]["diff"]
    assert len(report["outputs"]) == 3


def test_no_secret_and_no_no_log_output_in_any_format(report: dict[str, Any]) -> None:
    for fmt in ("json", "md", "html", "text"):
        text = render_report(report, fmt)
        assert "hunter2" not in text and "the-no-log-output" not in text, fmt
        assert "password=********" in text, fmt


def test_golden_renderings() -> None:
    golden = json.loads((FIXTURES / "golden-report.json").read_text())
    assert render_report(golden, "text") == (FIXTURES / "golden-report.txt").read_text()
    assert render_report(golden, "md") == (FIXTURES / "golden-report.md").read_text()


def test_html_is_self_contained_and_shows_groups(report: dict[str, Any]) -> None:
    page = render_report(report, "html")
    assert not re.search(r"<script|<link|\bsrc=|url\(|https?://", page)
    assert 'data-nodeset="web-[1-4]"' in page and 'class="diff-add">+release 41<' in page
    assert '<a href="#task-2">fleet: Run command</a>' in page


def test_html_escapes_output() -> None:
    golden = json.loads((FIXTURES / "golden-report.json").read_text())
    golden["outputs"]["a" * 64]["text"] = "<b>bold</b>"
    page = render_report(golden, "html")
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold" not in page


def test_text_colour_only_when_asked() -> None:
    from ansible_collections.azlin.fleet.plugins.plugin_utils.report_render_text import render_text

    golden = json.loads((FIXTURES / "golden-report.json").read_text())
    assert "\033[" not in render_text(golden)
    coloured = render_text(golden, color=True)
    assert "\033[31mfailed\033[0m" in coloured and "\033[32m+version 1.2.2\033[0m" in coloured


def test_write_report_is_atomic_and_private(tmp_path: Path, report: dict[str, Any]) -> None:
    target = tmp_path / "reports"
    paths = write_report(report, target, "run-1")
    assert [p.name for p in paths] == ["run-1.json", "run-1.md", "run-1.html"]
    assert sorted(p.name for p in target.iterdir()) == ["run-1.html", "run-1.json", "run-1.md"]  # no temp files left
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    assert load_report(paths[0]) == json.loads(json.dumps(report))


def test_unknown_format_is_refused(report: dict[str, Any]) -> None:
    with pytest.raises(FleetUsageError, match="Report format 'pdf'.*unknown"):
        render_report(report, "pdf")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("{not json", "not valid JSON", id="not-json"),
        pytest.param(None, "cannot be read \\(No such file or directory\\)", id="missing"),
        pytest.param('{"format": "other"}', "not an azlin.fleet.report file", id="other-format"),
        pytest.param(
            '{"format": "azlin.fleet.report", "version": 99}', "schema version 99 is not supported", id="version"
        ),
    ],
)
def test_load_report_refuses_bad_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(FleetUsageError, match=message):
        load_report(path)


def test_quiet_task_failures_are_run_errors_in_every_format() -> None:
    collector = ReportCollector(build_masker())
    collector.add_task(TaskInfo("t1", "Run command", "fleet", "run.yml:10"))
    collector.add_task(TaskInfo("q1", "Judge the rollout", "judge", "run.yml:130", quiet=True))
    collector.add_task(TaskInfo("i1", "include_tasks", "fleet", "run.yml:20", quiet=True))
    collector.add_result("web-1", "t1", Outcome("ok", 0, "fine"))
    collector.add_result("web-1", "q1", Outcome("ok"))
    collector.add_result("web-2", "q1", Outcome("failed", reason="command failed on web-2 <b>"))
    collector.add_result("web-1", "i1", Outcome("ok"))
    report = build_report(collector, name="quiet")
    validate(report)
    assert [t["name"] for t in report["tasks"]] == ["Run command"]
    assert [h["host"] for h in report["hosts"]] == ["web-1"]
    assert report["errors"] == [
        {
            "host": "web-2",
            "task": "Judge the rollout",
            "play": "judge",
            "path": "run.yml:130",
            "status": "failed",
            "reason": "command failed on web-2 <b>",
            "ignored": False,
        }
    ]
    text = render_report(report, "text")
    assert "fleet: web-2: Judge the rollout: failed (internal task): command failed on web-2 <b>" in text
    assert "- `web-2`: Judge the rollout: failed (internal task): command failed on web-2 \\<b>" in render_report(
        report, "md"
    )
    html = render_report(report, "html")
    assert '<ul class="errors"><li class="st-failed"><span class="nodeset">web-2</span>' in html
    assert "command failed on web-2 &lt;b&gt;" in html and "<b>" not in html.split('<ul class="errors">')[1]
    assert "internal task" not in render_report(build_report(ReportCollector(build_masker()), name="none"), "html")


def pipeline_report() -> dict[str, Any]:
    collector = ReportCollector(build_masker())
    collector.add_task(TaskInfo("seg", "Run steps", "steps", "workflow.yml:40"))
    collector.add_task(TaskInfo("judge", "Judge", "judge", "workflow.yml:60", quiet=True))
    for host, test_status in (("web-1", "ok"), ("web-2", "failed")):
        steps = [
            {"step": "build", "status": "changed", "rc": 0, "stdout": "built", "start": 10.0, "end": 12.0},
            {"step": "test", "status": test_status, "rc": 0 if test_status == "ok" else 1, "stdout": "tested"},
        ]
        collector.take_result(host, "seg", "ok", {"fleet_steps": steps})
    collector.take_result("web-2", "judge", "failed", {"fleet_status": "failed", "msg": "step test failed"})
    collector.take_result("web-3", "judge", "failed", {"msg": "Traceback: KeyError 'fleet_states'"})
    return build_report(collector, name="pipeline")


def test_pipeline_report_has_step_rows_and_the_run_object() -> None:
    report = pipeline_report()
    validate(report)
    assert [(t["id"], t["name"], t["kind"]) for t in report["tasks"]] == [
        ("step:build", "build", "step"),
        ("step:test", "test", "step"),
    ]
    assert {h["host"]: h["status"] for h in report["hosts"]} == {"web-1": "changed", "web-2": "failed"}
    assert report["run"] == {
        "status": "incomplete",
        "internal_errors": [{"host": "web-3", "task": "Judge", "error": "Traceback: KeyError 'fleet_states'"}],
        "refused": [],
        "nothing_selected": None,
    }
    assert report["complete"] is False
    build = report["tasks"][0]["results"][0]
    assert (build["step"], build["start"], build["end"], build["duration"]) == ("build", 10.0, 12.0, 2.0)


def test_run_health_shows_in_every_format() -> None:
    report = pipeline_report()
    report["run"]["refused"] = ["workflow.yml:3: unknown key 'stpes'"]
    report["run"]["nothing_selected"] = {"targets": "pool_x", "reason": "no host in pool_x"}
    text = render_report(report, "text")
    assert "fleet: internal error: web-3: Judge: Traceback: KeyError 'fleet_states'" in text
    assert "fleet: refused: workflow.yml:3: unknown key 'stpes'" in text
    assert "fleet: nothing selected in 'pool_x': no host in pool_x" in text
    assert text.startswith("FLEET REPORT pipeline (INCOMPLETE)")
    md = render_report(report, "md")
    assert "**Incomplete**: internal errors" in md and "- `web-3`: Judge: Traceback: KeyError 'fleet\\_states'" in md
    assert "- workflow.yml:3: unknown key 'stpes'" in md and "Nothing selected in `pool_x`" in md
    html = render_report(report, "html")
    assert '<ul class="internal-errors"><li><span class="nodeset">web-3</span>: Judge: Traceback: KeyError' in html
    assert '<ul class="refused"><li>workflow.yml:3: unknown key &#x27;stpes&#x27;</li>' in html
    assert 'id="nothing-selected"' in html


def test_version_1_reports_are_upgraded_on_load(tmp_path: Path) -> None:
    golden = json.loads((FIXTURES / "golden-report.json").read_text())
    golden["version"] = 1
    del golden["run"]
    for task in golden["tasks"]:
        for result in task["results"]:
            del result["start"], result["end"], result["identity"]
    for entry in golden["outputs"].values():
        del entry["binary"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(golden))
    upgraded = load_report(path)
    validate(upgraded)
    assert upgraded["run"] == {"status": "complete", "internal_errors": [], "refused": [], "nothing_selected": None}


def test_failed_report_is_valid_and_names_the_cause() -> None:
    from ansible_collections.azlin.fleet.plugins.plugin_utils.report import failed_report, validate_report

    report = failed_report("run", "2026-01-01T00:00:00+00:00", None, "building the report failed: KeyError('x')")
    validate(report)
    assert validate_report(report) == []
    assert (report["complete"], report["run"]["status"]) == (False, "incomplete")
    assert "fleet: internal error: localhost: azlin.fleet.fleet_report: building the report failed" in render_report(
        report, "text"
    )
