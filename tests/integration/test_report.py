"""Acceptance of the azlin.fleet.fleet_report callback on the sandbox fleet, over real SSH.

Real ansible-playbook runs with the callback enabled next to a stdout callback: grouped outputs with diffs and
folded host names, failed and unreachable hosts in their own groups, routing-plan hosts with reasons, no_log
output and masked secrets absent from every file, a report written on SIGINT/SIGTERM, and the HTML page
checked in headless Chromium (screenshot kept in tests/output/report.png).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).parent / "targets" / "report" / "playbooks"
SCHEMA = json.loads((REPO / "docs" / "report-schema.json").read_text())
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.multiversion


def report_env(tmp_path: Path, name: str = "run", **extra: str) -> dict[str, str]:
    return {
        "ANSIBLE_CALLBACKS_ENABLED": "azlin.fleet.fleet_report",
        "AZLIN_FLEET_REPORT_DIR": str(tmp_path / "reports"),
        "AZLIN_FLEET_REPORT_NAME": name,
        "AZLIN_FLEET_EVENTS_FILE": str(tmp_path / "events.jsonl"),
        **extra,
    }


def load(tmp_path: Path, name: str = "run") -> dict[str, Any]:
    report = json.loads((tmp_path / "reports" / f"{name}.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    return report


def task_named(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in report["tasks"] if t["name"] == name)


def groups_of(task: dict[str, Any]) -> list[tuple[str, str, int | None, int]]:
    return [(g["nodeset"], g["status"], g["rc"], g["count"]) for g in task["groups"]]


def all_written_text(tmp_path: Path) -> dict[str, str]:
    files = list((tmp_path / "reports").iterdir()) + [tmp_path / "events.jsonl"]
    return {p.name: p.read_text() for p in files}


def test_output_differing_on_two_hosts_gives_a_six_host_group_and_diffs(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    proc = run_playbook(PLAYBOOKS / "divergent.yml", env=report_env(tmp_path, ANSIBLE_STDOUT_CALLBACK="oneline"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = load(tmp_path)
    task = task_named(report, "Print the release")
    assert groups_of(task) == [("stage-[1-3],web-[1-3]", "ok", 0, 6), ("ci-[1-2]", "ok", 0, 2)]
    baseline, other = task["groups"]
    assert report["outputs"][baseline["output"]]["text"] == "release 42\nhost class: build"
    assert other["diff"].splitlines()[:5] == [
        "--- stage-[1-3],web-[1-3]",
        "+++ ci-[1-2]",
        "@@ -1,2 +1,2 @@",
        "-release 42",
        "+release 41",
    ]
    assert report["counts"] == {"ok": 8} and report["complete"] is True
    # The summary printed next to the oneline stdout callback, clush style, with the counts line.
    assert "web-1 | SUCCESS" in proc.stdout or "web-1 | CHANGED" in proc.stdout
    assert "stage-[1-3],web-[1-3] (6)" in proc.stdout and "+release 41" in proc.stdout
    assert "HOSTS 8: ok=8" in proc.stdout
    # Files: all three formats, private, no temp files; a plan line for the play, then one event per host result.
    files = sorted((tmp_path / "reports").iterdir())
    assert [p.name for p in files] == ["run.html", "run.json", "run.md"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    hosts = [f"{p}-{i}" for p, n in (("web", 3), ("stage", 3), ("ci", 2)) for i in range(1, n + 1)]
    plan, *events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert (plan["event"], plan["source"], sorted(plan["hosts"])) == ("plan", "play", sorted(hosts))
    assert sorted(e["host"] for e in events) == sorted(hosts)
    assert {(e["event"], e["task"], e["status"]) for e in events} == {("result", "Print the release", "ok")}
    markdown = (tmp_path / "reports" / "run.md").read_text()
    assert "### `ci-[1-2]` (2): ok, rc 0" in markdown and "+release 41" in markdown


def test_failed_and_unreachable_hosts_get_their_own_groups(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    fleet.fault("stage-3", "stop")
    proc = run_playbook(PLAYBOOKS / "faults.yml", env=report_env(tmp_path))
    assert proc.returncode != 0
    report = load(tmp_path)
    task = task_named(report, "Check the service")
    assert groups_of(task) == [
        ("ci-[1-2],stage-[1-2],web-[1-2]", "ok", 0, 6),
        ("stage-3", "unreachable", None, 1),
        ("web-3", "failed", 3, 1),
    ]
    unreachable, failed = task["groups"][1:]
    assert failed["diff"].splitlines()[-1] == "+disk full"
    assert unreachable["diff"] is None and unreachable["reasons"][0]["nodeset"] == "stage-3"
    assert report["counts"] == {"failed": 1, "unreachable": 1, "ok": 6}
    assert "fleet: web-3: Check the service: failed: exited with exit code 3" in proc.stdout
    assert "fleet: stage-3: Check the service: unreachable" in proc.stdout


def test_no_log_output_and_masked_secrets_are_in_no_file(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    proc = run_playbook(PLAYBOOKS / "secrets.yml", env=report_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = load(tmp_path)
    secrets = ("S3cr3tPassw0rd", "AKIAFLEETKEY42", "eyJfleetbearer", "nolog-marker-9f3a", "nolog-failure-7c1e")
    written = all_written_text(tmp_path)
    assert sorted(written) == ["events.jsonl", "run.html", "run.json", "run.md"]
    for name, text in written.items():
        for secret in secrets:
            assert secret not in text, f"{secret} in {name}"
    for secret in secrets:
        assert secret not in proc.stdout
    masked = report["outputs"][task_named(report, "Print a configuration line holding secrets")["groups"][0]["output"]]
    assert masked["text"] == "db_password=******** api_key=******** Authorization: Bearer ********"
    no_log = task_named(report, "Use a secret under no_log")
    assert groups_of(no_log) == [("ci-[1-2],stage-[1-3],web-[1-3]", "ok", None, 8)]
    assert no_log["groups"][0]["no_log"] is True and no_log["groups"][0]["output"] is None
    failed = task_named(report, "Fail under no_log")
    assert [
        (r["host"], r["status"], r["ignored"], r["reason"]) for r in failed["results"] if r["status"] != "skipped"
    ] == [("web-1", "failed", True, None)]


def test_routing_plan_hosts_are_reported_with_reasons(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    proc = run_playbook(PLAYBOOKS / "plan.yml", env=report_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = load(tmp_path)
    plan = report["tasks"][0]
    assert plan["kind"] == "plan" and plan["name"] == "route hosts (gate cpu<50, by score, count 2)"
    assert [(g["nodeset"], g["status"], [r["reason"] for r in g["reasons"]]) for g in plan["groups"]] == [
        ("web-[1-2]", "selected", []),
        ("stage-1", "gated", ["cpu 63% >= 50%"]),
        ("stage-2", "unmeasurable", ["probe failed: /proc/stat unreadable"]),
        ("web-3", "not_selected", ["count 2 reached"]),
    ]
    statuses = {h["host"]: h["status"] for h in report["hosts"]}
    assert statuses == {
        "localhost": "ok",
        "web-1": "ok",
        "web-2": "ok",
        "web-3": "not_selected",
        "stage-1": "gated",
        "stage-2": "unmeasurable",
    }
    assert "fleet: stage-1: route hosts (gate cpu<50, by score, count 2): gated" in proc.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_leaves_a_valid_report(
    fleet, ansible_bin: Path, ansible_env: dict[str, str], tmp_path: Path, signum: signal.Signals
) -> None:
    cmd = [str(ansible_bin / "ansible-playbook"), "-i", str(fleet.hosts_yml), str(PLAYBOOKS / "long.yml")]
    events = tmp_path / "events.jsonl"
    with subprocess.Popen(
        cmd,
        env=ansible_env | report_env(tmp_path),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        # Interrupt once web-1 is through the long task, while the seven others are still sleeping.
        deadline = time.monotonic() + 60
        while not (events.exists() and '"task": "Sleep on all but web-1"' in events.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be interrupted"
            time.sleep(0.2)
        time.sleep(1)
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"Run interrupted by {signum.name}" in output
    report = load(tmp_path)
    assert (report["complete"], report["interrupted"]) == (False, signum.name)
    task = task_named(report, "Sleep on all but web-1")
    assert groups_of(task) == [("ci-[1-2],stage-[1-3],web-[2-3]", "interrupted", None, 7), ("web-1", "ok", 0, 1)]
    assert task["groups"][0]["reasons"][0]["reason"] == f"run interrupted by {signum.name} before this host finished"
    assert task_named(report, "Print a quick line")["counts"] == {"ok": 8}
    assert report["counts"] == {"interrupted": 7, "ok": 1}
    assert (tmp_path / "reports" / "run.html").read_text().count('data-status="interrupted"') == 1


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (the test command installs it)")
def test_html_report_renders_in_headless_chromium(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    fleet.fault("stage-3", "stop")
    assert run_playbook(PLAYBOOKS / "faults.yml", env=report_env(tmp_path)).returncode != 0
    fleet.fault("stage-3", "start")
    run_playbook(PLAYBOOKS / "divergent.yml", env=report_env(tmp_path, name="divergent"))
    page = tmp_path / "reports" / "divergent.html"
    profile = tmp_path / "chromium-profile"
    base = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert dom.returncode == 0, dom.stderr
    groups = re.findall(
        r'<div class="group st-(\w+)" data-status="\w+" data-count="(\d+)" data-nodeset="([^"]+)"', dom.stdout
    )
    assert groups == [("ok", "6", "stage-[1-3],web-[1-3]"), ("ok", "2", "ci-[1-2]")]
    assert '<span class="diff-del">-release 42</span><span class="diff-add">+release 41</span>' in dom.stdout
    assert '<p class="hosts">ci-1 ci-2</p>' in dom.stdout
    assert "Hosts 8:" in dom.stdout
    output_dir = REPO / "tests" / "output"
    output_dir.mkdir(parents=True, exist_ok=True)
    shot = output_dir / "report.png"
    shot.unlink(missing_ok=True)
    proc = subprocess.run(
        [*base, "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and shot.stat().st_size > 10_000, proc.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shutil.copy(tmp_path / "reports" / "run.html", output_dir / "report-faults.html")
    shutil.copy(page, output_dir / "report.html")
    os.chmod(output_dir / "report.html", 0o644)


def test_plan_from_the_least_loaded_strategy_reaches_the_report(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    fleet.set_load("web-2", cpu=80.0, load=None, mem=None, users=None)
    fleet.set_load("ci-1", cpu=65.0, load=None, mem=None, users=None)
    proc = run_playbook(PLAYBOOKS / "strategy_plan.yml", env=report_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = load(tmp_path)
    plan = next(t for t in report["tasks"] if t["kind"] == "plan")
    assert [(g["nodeset"], g["status"]) for g in plan["groups"]] == [
        ("ci-2,stage-[1-3],web-[1,3]", "selected"),
        ("ci-1,web-2", "gated"),
    ]
    reasons = {r["nodeset"]: r["reason"] for r in plan["groups"][1]["reasons"]}
    assert sorted(reasons) == ["ci-1", "web-2"]
    assert all(re.search(r"cpu \d+(\.\d+)?% >= 50%", reason) for reason in reasons.values()), reasons
    ran = task_named(report, "Print the hostname")
    assert sorted(r["host"] for r in ran["results"]) == ["ci-2", "stage-1", "stage-2", "stage-3", "web-1", "web-3"]
    not_run = {h["host"]: h["status"] for h in report["hosts"] if h["status"] != "ok"}
    assert not_run == {"ci-1": "gated", "web-2": "gated"}


def test_quiet_tasks_and_includes_are_no_rows_but_plans_and_failures_are_kept(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    (tmp_path / "reports").mkdir()  # the events file lives there, as the CLI puts it
    env = report_env(tmp_path, AZLIN_FLEET_EVENTS_FILE=str(tmp_path / "reports" / "events.jsonl"))
    proc = run_playbook(PLAYBOOKS / "quiet.yml", env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr  # the quiet check failed web-3
    report = load(tmp_path)
    # Neither the include, nor the quiet task, nor the quiet block's tasks are rows; the included task is.
    assert [t["name"] for t in report["tasks"]] == [
        "route hosts (no gate, by score)",
        "Print the step",
        "Print the hostname",
    ]
    assert groups_of(task_named(report, "Print the step")) == [("web-[1-2]", "ok", 0, 2)]
    assert [h["host"] for h in report["plans"][0]["hosts"]] == ["web-3", "web-1", "web-2"]
    assert [(e["host"], e["task"], e["status"], e["ignored"]) for e in report["errors"]] == [
        ("web-3", "Check internally", "failed", False)
    ]
    assert report["errors"][0]["reason"]  # 2.21 words it, 2.19/2.20 leave msg empty: either way, a reason
    assert "fleet: web-3: Check internally: failed (internal task): " in proc.stdout
    assert "Failures of internal tasks" in (tmp_path / "reports" / "run.html").read_text()
    events = [json.loads(line) for line in (tmp_path / "reports" / "events.jsonl").read_text().splitlines()]
    assert [e for e in events if e["event"] == "plan"] == [
        {"event": "plan", "source": "play", "play": "Run included steps", "hosts": ["web-1", "web-2"]},
        # serial: 2 starts the play twice; it is announced once, with all its hosts.
        {"event": "plan", "source": "play", "play": "Run with internal tasks", "hosts": ["web-1", "web-2", "web-3"]},
        {"event": "plan", "source": "route", "hosts": ["web-3", "web-1"]},
    ]
    results = [e for e in events if e["event"] == "result"]
    assert len(results) + 3 == len(events)
    assert sorted((e["task"], e["host"]) for e in results) == [
        ("Print the hostname", "web-1"),
        ("Print the hostname", "web-2"),
        ("Print the hostname", "web-3"),
        ("Print the step", "web-1"),
        ("Print the step", "web-2"),
    ]


def test_outputs_naming_their_own_host_fold_into_one_group(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    proc = run_playbook(PLAYBOOKS / "hostname.yml", env=report_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = load(tmp_path)
    hostname = task_named(report, "Print the hostname")
    assert groups_of(hostname) == [("ci-[1-2],stage-[1-3],web-[1-3]", "ok", 0, 8)]
    assert report["outputs"][hostname["groups"][0]["output"]]["text"] == "{host}"
    assert {r["host"]: r["identity"] for r in hostname["results"]} == {h["host"]: [h["host"]] for h in report["hosts"]}
    # A real difference on the ci hosts still splits them off, and the diff shows only that difference: the host
    # names and the addresses (each host's ansible_host) are the same placeholder on both sides.
    deploy = task_named(report, "Print the deploy line")
    assert groups_of(deploy) == [("stage-[1-3],web-[1-3]", "ok", 0, 6), ("ci-[1-2]", "ok", 0, 2)]
    assert report["outputs"][deploy["groups"][0]["output"]]["text"] == (
        "deployed release 42 on {host}\nlistening on {host}:8080"
    )
    assert [line for line in deploy["groups"][1]["diff"].splitlines() if line[:1] in "+-"] == [
        "--- stage-[1-3],web-[1-3]",
        "+++ ci-[1-2]",
        "-deployed release 42 on {host}",
        "+deployed release 41 on {host}",
    ]
    addresses = {h.name: h.address for h in fleet.hosts()}
    web1 = next(r for r in deploy["results"] if r["host"] == "web-1")
    assert web1["identity"] == ["web-1", addresses["web-1"]]
    html = (tmp_path / "reports" / "run.html").read_text()
    assert f"<tr><td>web-1</td><td>web-1, {addresses['web-1']}</td></tr>" in html


def test_drift_between_two_runs_names_exactly_the_changed_host(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    names = [h.name for h in fleet.hosts()]
    for name in names:
        fleet.host_path(name, "/tmp/app.conf").write_text(f"role=app\nnode={name}\n")
    first = run_playbook(PLAYBOOKS / "config.yml", env=report_env(tmp_path, name="first"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert load(tmp_path, "first")["drift"] is None
    fleet.host_path("stage-2", "/tmp/app.conf").write_text("role=db\nnode=stage-2\n")
    earlier = tmp_path / "reports" / "first.json"
    second = run_playbook(
        PLAYBOOKS / "config.yml", env=report_env(tmp_path, name="second", AZLIN_FLEET_COMPARE_TO=str(earlier))
    )
    assert second.returncode == 0, second.stdout + second.stderr
    drift = load(tmp_path, "second")["drift"]
    assert (drift["compared_to"], drift["hosts"], drift["tasks_compared"]) == ("first", ["stage-2"], 1)
    (task,) = drift["tasks"]
    assert [c["host"] for c in task["changed"]] == ["stage-2"] and not task["appeared"] and not task["disappeared"]
    assert "-role=app" in task["changed"][0]["diff"] and "+role=db" in task["changed"][0]["diff"]
    assert "CHANGED SINCE first: 1 host drifted (stage-2)" in second.stdout
    assert "## Changed since first" in (tmp_path / "reports" / "second.md").read_text()
    assert 'class="drift-changed" data-host="stage-2"' in (tmp_path / "reports" / "second.html").read_text()


def test_non_utf8_and_binary_output_never_breaks_the_report(
    fleet, run_playbook: Callable[..., subprocess.CompletedProcess], tmp_path: Path
) -> None:
    proc = run_playbook(PLAYBOOKS / "binary.yml", env=report_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["run.html", "run.json", "run.md"]
    report = load(tmp_path)
    raw = task_named(report, "Print binary output without a module")
    assert raw["counts"] == {"ok": 8}
    texts = {r["host"]: report["outputs"][r["output"]] for r in raw["results"]}
    assert texts["ci-1"]["binary"] is False and texts["ci-1"]["text"].startswith("plain text")
    for host, visible in (("web-1", "caf\ufffd cr\ufffdme"), ("web-2", "lone \ufffd byte"), ("web-3", "nul\x00 and ")):
        assert texts[host]["binary"] is True, (host, texts[host])
        assert texts[host]["text"].startswith(visible), texts[host]
    # Through a module, ansible-core may refuse the non-UTF-8 result itself: then the host has its failure and
    # Ansible's reason; when it passes the text on, the output is marked binary. Either way every host is there.
    module = task_named(report, "Print binary output")
    assert sorted(r["host"] for r in module["results"]) == sorted(h.name for h in fleet.hosts())
    for result in module["results"]:
        if result["host"].startswith("web-"):
            if result["status"] == "failed":
                assert result["ignored"] is True and "UTF" in result["reason"], result
            else:
                assert report["outputs"][result["output"]]["binary"] is True, result
    for name in ("run.html", "run.md"):
        (tmp_path / "reports" / name).read_text(encoding="utf-8")  # valid UTF-8
    assert "nul\\x00 and" in proc.stdout  # the summary shows the NUL escaped


@pytest.mark.parametrize("full", [False, True], ids=["default", "full"])
def test_a_64_host_summary_stays_a_screenful(
    run_ansible: Callable[..., subprocess.CompletedProcess], tmp_path: Path, full: bool
) -> None:
    # 64 hosts on the controller's own connection: the summary is what is under test, not SSH.
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[all]\n" + "".join(f"node-{i}\n" for i in range(1, 65)))
    env = report_env(tmp_path, AZLIN_FLEET_REPORT_SUMMARY_FULL=str(full).lower())
    proc = run_ansible(
        ["ansible-playbook", "-i", str(inventory), "-f", "16", str(PLAYBOOKS / "many_groups.yml")], env=env
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    summary = lines[lines.index("FLEET REPORT run (complete)") : lines.index("HOSTS 64: failed=12 ok=52") + 1]
    failed = "fleet: node-[5,10,15,20,25,30,35,40,45,50,55,60] (12): Print the checksum: failed: exited with exit codes"
    assert f"{failed} 1, 2, 3" in summary
    report = load(tmp_path)
    assert len(task_named(report, "Print the checksum")["groups"]) == 64
    if full:
        assert sum(1 for line in summary if re.fullmatch(r"node-\d+  (ok|failed) rc=\d(  \[baseline\])?", line)) == 64
        assert not any("more groups" in line for line in summary)
    else:
        assert len(summary) < 60, "\n".join(summary)
        html = str(tmp_path / "reports" / "run.html")
        assert f"... 60 more groups (60 hosts) (see {html})" in summary
