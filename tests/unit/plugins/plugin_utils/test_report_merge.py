from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report import (
    NormalizeOptions,
    Outcome,
    ReportCollector,
    TaskInfo,
    build_masker,
    build_report,
    write_report,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_merge import main, merge_report_dicts, merge_reports

ROOT = Path(__file__).resolve().parents[4]


def slice_report(
    name: str, outputs: dict[str, str], options: NormalizeOptions | None = None, complete: bool = True
) -> dict[str, Any]:
    """A report as one AWX slice writes it: same playbook, its own hosts, its own task ids."""
    collector = ReportCollector(build_masker(), options or NormalizeOptions())
    collector.add_task(TaskInfo(f"{name}-uuid", "Run command", "fleet", "run.yml:10"))
    for host, text in outputs.items():
        status = "failed" if text == "FAIL" else "ok"
        collector.add_result(host, f"{name}-uuid", Outcome(status, 1 if status == "failed" else 0, text))
    return build_report(
        collector,
        name=name,
        started=f"2026-01-01T00:00:0{len(name) % 10}+00:00",
        finished="2026-01-01T00:01:00+00:00",
        complete=complete,
    )


def test_slices_merge_into_regrouped_groups() -> None:
    one = slice_report("slice-1", {"web-1": "v1", "web-2": "v1", "web-3": "v2", "web-4": "v1"})
    two = slice_report("slice-2", {"web-5": "v1", "web-6": "v1", "web-7": "v2", "web-8": "FAIL"})
    merged = merge_report_dicts([one, two], name="merged")
    jsonschema.validate(merged, json.loads((ROOT / "docs" / "report-schema.json").read_text()))
    (task,) = merged["tasks"]
    assert [(g["nodeset"], g["status"]) for g in task["groups"]] == [
        ("web-[1-2,4-6]", "ok"),
        ("web-[3,7]", "ok"),
        ("web-8", "failed"),
    ]
    assert task["groups"][1]["diff"].splitlines()[:2] == ["--- web-[1-2,4-6]", "+++ web-[3,7]"]
    assert merged["counts"] == {"failed": 1, "ok": 7}
    assert [s["name"] for s in merged["sources"]] == ["slice-1", "slice-2"]
    assert merged["warnings"] == [] and merged["complete"] is True


def test_host_in_two_reports_keeps_the_later_result_and_says_so() -> None:
    first = slice_report("run-1", {"web-1": "FAIL", "web-2": "v1"})
    retry = slice_report("run-2", {"web-1": "v1"})
    merged = merge_report_dicts([first, retry])
    assert merged["tasks"][0]["groups"][0]["nodeset"] == "web-[1-2]"
    assert merged["warnings"] == [
        "Host 'web-1' is in several reports for task 'Run command'; the result from 'run-2' is kept."
    ]


def test_different_output_options_are_warned_about() -> None:
    one = slice_report("a", {"web-1": "v1"})
    two = slice_report("b", {"web-2": "v1"}, NormalizeOptions(ignore_whitespace=True))
    assert "'b' was written with other output options" in merge_report_dicts([one, two])["warnings"][0]


def test_incomplete_source_makes_merged_incomplete() -> None:
    merged = merge_report_dicts(
        [slice_report("a", {"web-1": "v1"}), slice_report("b", {"web-2": "v1"}, complete=False)]
    )
    assert merged["complete"] is False


def test_merge_reports_reads_files_and_main_writes_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [write_report(slice_report(n, {f"h{n[-1]}": "v"}), tmp_path, n, ["json"])[0] for n in ("s-1", "s-2")]
    assert merge_reports(paths)["hosts"] == [
        {"host": "h1", "status": "ok", "attempts": None, "reasons": []},
        {"host": "h2", "status": "ok", "attempts": None, "reasons": []},
    ]
    assert main(["-o", str(tmp_path / "out"), "-n", "all", *map(str, paths)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["all.html", "all.json", "all.md"]
    assert capsys.readouterr().out.splitlines()[0].endswith("all.json")


def test_merge_of_nothing_or_a_bad_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FleetUsageError, match="no report files given"):
        merge_reports([])
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["-o", str(tmp_path), str(bad)]) == 2
    assert "not an azlin.fleet.report file" in capsys.readouterr().err


def test_run_errors_of_every_slice_are_kept_once() -> None:
    error = {
        "host": "web-8",
        "task": "Judge the rollout",
        "play": "judge",
        "path": "run.yml:130",
        "status": "failed",
        "reason": "step failed",
        "ignored": False,
    }
    one = slice_report("slice-1", {"web-1": "v1"}) | {"errors": [error]}
    two = slice_report("slice-2", {"web-8": "v1"}) | {"errors": [error, dict(error, host="web-9")]}
    old = slice_report("slice-3", {"web-7": "v1"})
    del old["errors"]  # a report written before the key existed
    merged = merge_report_dicts([one, two, old], name="merged")
    jsonschema.validate(merged, json.loads((ROOT / "docs" / "report-schema.json").read_text()))
    assert [e["host"] for e in merged["errors"]] == ["web-8", "web-9"]
