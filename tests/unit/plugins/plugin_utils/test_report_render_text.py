from __future__ import annotations

import re
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.report import (
    Outcome,
    ReportCollector,
    TaskInfo,
    build_masker,
    build_report,
    render_report,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_render_text import neutralize, render_text


def fleet_report(hosts: int = 64) -> dict[str, Any]:
    """64 hosts: every output different (3 lines each), a fifth of them failing with three exit codes."""
    collector = ReportCollector(build_masker())
    collector.add_task(TaskInfo("t", "Run command", "fleet"))
    collector.add_task(TaskInfo("q", "Probe", "probe", quiet=True))
    for i in range(1, hosts + 1):
        status, rc = ("failed", i % 3 + 1) if i % 5 == 0 else ("ok", 0)
        text = f"version 1.{i}\nline two\nbuild {i * 7}\n"
        collector.add_result(f"node-{i}", "t", Outcome(status, rc, text, reason="rc" if rc else None))
        collector.add_result(f"node-{i}", "q", Outcome("unreachable", reason=f"ssh to 10.0.0.{i} refused"))
    return build_report(collector, name="big")


def test_64_host_summary_stays_under_60_lines_and_keeps_failures_and_counts() -> None:
    report = fleet_report()
    text = render_text(report, see="/reports/big.html")
    lines = text.splitlines()
    assert len(lines) < 60, text
    assert "... 60 more groups (60 hosts) (see /reports/big.html)" in lines
    # The failed hosts, folded, with their exit codes; the quiet task's failures folded into one line.
    assert (
        "fleet: node-[5,10,15,20,25,30,35,40,45,50,55,60] (12): Run command: failed: exited with exit codes 1, 2, 3"
        in lines
    )
    assert any(line.startswith("fleet: node-[1-64] (64): Probe: unreachable (internal task): ssh to") for line in lines)
    assert lines[-1] == "HOSTS 64: failed=12 ok=52"


def test_full_summary_prints_every_group() -> None:
    report = fleet_report()
    full = render_report(report, "text", full=True)
    assert len(re.findall(r"^node-\d+  ", full, re.MULTILINE)) == 64
    assert "more groups" not in full and full.count("(internal task)") == 64


def test_long_outputs_and_diffs_are_cut_in_the_summary() -> None:
    collector = ReportCollector(build_masker())
    collector.add_task(TaskInfo("t", "Log"))
    collector.add_result("a", "t", Outcome("ok", 0, "".join(f"line {i}\n" for i in range(100))))
    text = render_text(build_report(collector, name="long"))
    assert "line 7" in text and "line 8\n" not in text and "[... 92 more lines in the report files ...]" in text


def test_escape_sequences_from_hosts_are_neutralised() -> None:
    collector = ReportCollector(build_masker())
    evil_task = "Run \x1b]0;owned\x07"
    collector.add_task(TaskInfo("t", evil_task))
    collector.add_result("web\x1b[2J", "t", Outcome("failed", 1, "\x1b[1A\x1b[2Kok\r\x00\x9b31m\u202eevil\n"))
    collector.add_result("web-2", "t", Outcome("ok", 0, "fine\n"))
    for text in (
        render_text(build_report(collector, name="esc\x1b[5m")),
        render_report(build_report(collector, name="x"), "text", full=True),
    ):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
        assert "\\x1b[1A\\x1b[2Kok\\x0d\\x00\\x9b31m\\u202eevil" in text
        assert "Run \\x1b]0;owned\\x07" in text


def test_colour_codes_are_ours_only() -> None:
    collector = ReportCollector(build_masker())
    collector.add_task(TaskInfo("t", "Run"))
    collector.add_result("a", "t", Outcome("failed", 1, "\x1b[31mred\x1b[0m"))
    text = render_text(build_report(collector, name="c"), color=True)
    assert "\x1b[31mfailed\x1b[0m" in text and "\\x1b[31mred\\x1b[0m" in text


def test_neutralize_keeps_newlines_tabs_and_unicode() -> None:
    assert neutralize("a\tb\nc é 漢") == "a\tb\nc é 漢"
