from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report import (
    Outcome,
    ReportCollector,
    TaskInfo,
    attach_drift,
    build_masker,
    build_report,
    compare_reports,
    has_drift,
    render_report,
    write_report,
)

ROOT = Path(__file__).resolve().parents[4]
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())


def run(outputs: dict[str, tuple[str, str]], name: str) -> dict[str, Any]:
    """A report of one task 'Run' where each host gives (status, output)."""
    collector = ReportCollector(build_masker())
    collector.add_task(TaskInfo("t", "Run", "fleet"))
    collector.add_task(TaskInfo("u", "Only now", "fleet"))
    for host, (status, text) in outputs.items():
        collector.add_result(host, "t", Outcome(status, 0 if status == "ok" else 1, text))
    return build_report(collector, name=name, started="2026-01-01T00:00:00+00:00")


BEFORE = {f"web-{i}": ("ok", f"web-{i}: config v1\n") for i in range(1, 5)} | {"web-9": ("ok", "web-9: config v1\n")}


def test_drift_names_exactly_the_changed_appeared_and_disappeared_hosts() -> None:
    after_outputs = dict(BEFORE)
    after_outputs["web-2"] = ("ok", "web-2: config v2\n")
    after_outputs["web-3"] = ("failed", "web-3: config v1\n")
    del after_outputs["web-9"]
    after_outputs["web-5"] = ("ok", "web-5: config v1\n")
    before, after = run(BEFORE, "r1"), run(after_outputs, "r2")
    drift = compare_reports(before, after)
    assert drift["hosts"] == ["web-2", "web-3", "web-5", "web-9"]
    (task,) = drift["tasks"]
    assert [c["host"] for c in task["changed"]] == ["web-2", "web-3"]
    assert [a["host"] for a in task["appeared"]] == ["web-5"]
    assert [d["host"] for d in task["disappeared"]] == ["web-9"]
    web2, web3 = task["changed"]
    assert "-{host}: config v1" in web2["diff"] and "+{host}: config v2" in web2["diff"]
    assert (web3["before"]["status"], web3["after"]["status"], web3["diff"]) == ("ok", "failed", None)
    assert has_drift(drift) and drift["compared_to"] == "r1" and drift["tasks_compared"] == 1


def test_host_normalised_outputs_do_not_drift_by_name_and_identical_runs_have_none() -> None:
    drift = compare_reports(run(BEFORE, "r1"), run(BEFORE, "r2"))
    assert (drift["hosts"], drift["tasks"], has_drift(drift)) == ([], [], False)


def test_different_output_options_warn() -> None:
    before = run(BEFORE, "r1")
    before["options"]["normalize_hosts"] = False
    assert "normalize_hosts" in compare_reports(before, run(BEFORE, "r2"))["warnings"][0]


def test_drift_in_every_format_and_schema(tmp_path: Path) -> None:
    changed = dict(BEFORE, **{"web-4": ("ok", "web-4: config v<b>2</b>\n")})
    path = write_report(run(BEFORE, "r1"), tmp_path, "r1", ["json"])[0]
    after = run(changed, "r2")
    attach_drift(after, path)
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(json.dumps(after)))
    text = render_report(after, "text")
    assert "CHANGED SINCE r1: 1 host drifted (web-4)" in text and "  fleet: Run: changed web-4" in text
    md = render_report(after, "md")
    assert "## Changed since r1" in md and "- `web-4`: ok -> ok, output changed" in md
    html = render_report(after, "html")
    assert '<li class="drift-changed" data-host="web-4">web-4: ok &rarr; ok' in html
    assert "v&lt;b&gt;2&lt;/b&gt;" in html and "<b>2" not in html


def test_unreadable_earlier_report_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(FleetUsageError, match="cannot be read"):
        attach_drift(run(BEFORE, "r2"), tmp_path / "missing.json")
