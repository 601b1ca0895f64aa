"""The HTML report's pictures, rendered by headless Chromium from a real routed run on the sandbox fleet.

A run of two steps through the least_loaded strategy with one host over the gate: the page must show the routing
plan as a chart (one bar per host, the gated host marked, the gate threshold as a line), a timeline row per host
that ran with one span per step, and the metrics columns in the hosts table. The DOM Chromium builds is checked
(not the file we wrote), and a screenshot is kept in tests/output/report-routed.png.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).parent / "targets" / "report" / "playbooks"
SCHEMA = json.loads((REPO / "docs" / "report-schema.json").read_text())
CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = REPO / "tests" / "output"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    base = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120, check=False)


def test_routed_run_html_shows_the_plan_chart_the_timeline_and_metrics(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    fleet.set_load("web-2", cpu=80.0, load=None, mem=None, users=None)
    env = {
        "ANSIBLE_CALLBACKS_ENABLED": "azlin.fleet.fleet_report",
        "AZLIN_FLEET_REPORT_DIR": str(tmp_path / "reports"),
        "AZLIN_FLEET_REPORT_NAME": "routed",
    }
    proc = run_playbook(PLAYBOOKS / "routed_steps.yml", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "reports" / "routed.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    (plan,) = report["plans"]
    page = tmp_path / "reports" / "routed.html"

    dom = chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    html = dom.stdout
    # The chart: one bar per planned host, the gated host marked, the gate's limit as a line at 50.
    chart = html[html.index('<svg class="plan-chart"') : html.index("</svg>", html.index('<svg class="plan-chart"'))]
    bars = re.findall(r'<rect class="bar st-(\w+)" data-host="([^"]+)" data-status="\w+" data-score="([^"]*)"', chart)
    assert sorted(host for _status, host, _score in bars) == sorted(h["host"] for h in plan["hosts"])
    assert len(bars) == 8
    assert [host for status, host, _score in bars if status == "gated"] == ["web-2"]
    assert float(dict((host, score) for _s, host, score in bars)["web-2"]) >= 50
    assert re.search(r'<line class="threshold" data-gate="cpu &lt; 50" data-value="50"', chart)
    assert '<text class="mark"' in chart
    # The timeline: a row for each host (the strategy probes every host first), a span per task or step in
    # order: the gated host was only probed, the others then built and tested.
    probe = next(t["name"] for t in report["tasks"] if t["name"].startswith("Probe host metrics"))
    timeline = html[html.index('<svg class="timeline"') :]
    timeline = timeline[: timeline.index("</svg>")]
    rows = dict(re.findall(r'<g class="timeline-row" data-host="([^"]+)">(.*?)</g>', timeline, re.DOTALL))
    assert sorted(rows) == sorted(h.name for h in fleet.hosts())
    for host, body in rows.items():
        spans = re.findall(r'data-task="([^"]+)" data-status="(\w+)" data-start="([\d.]+)" data-end="([\d.]+)"', body)
        expected = [probe] if host == "web-2" else [probe, "Build", "Test"]
        assert [task for task, _status, _s, _e in spans] == expected, host
        assert {status for _task, status, _s, _e in spans} == {"ok"}, host
        bounds = [(float(start), float(end)) for _t, _st, start, end in spans]
        assert all(start < end for start, end in bounds), host
        assert all(earlier[1] <= later[0] for earlier, later in zip(bounds, bounds[1:], strict=False)), host
        if host != "web-2":
            assert bounds[1][1] - bounds[1][0] >= 0.5, host  # the build step sleeps half a second
    # The hosts table carries the plan's metrics, score, rank and verdict.
    cpu_cell = re.search(r'<tr class="st-gated" data-host="web-2">.*?<td class="num metric-cpu">([\d.]+)%</td>', html)
    # the simulated 80 % as two /proc/stat samples measure it (the machine's load shifts it by a little)
    assert cpu_cell is not None and abs(float(cpu_cell.group(1)) - 80.0) <= 5, cpu_cell
    assert re.search(r'<td class="verdict">gated</td>', html)
    assert not re.search(r"<script|<link|\bsrc=|url\(|https?://", page.read_text())

    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "report-routed.png"
    shot.unlink(missing_ok=True)
    proc = chromium(tmp_path / "profile", "--window-size=1280,2000", f"--screenshot={shot}", page.as_uri())
    assert proc.returncode == 0 and shot.stat().st_size > 10_000, proc.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (OUTPUT / "report-routed.html").write_text(page.read_text())
