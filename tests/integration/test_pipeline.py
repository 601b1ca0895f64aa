"""The fleet pipeline on the sandbox: hosts walk their own DAG, barriers only at fleet-wide steps, a workflow
routed and gated as a whole, gated hosts skipped in Ansible's recap (real ansible-playbook over SSH)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

FILES = Path(__file__).parent / "targets" / "workflow" / "files"
WEB = ["web-1", "web-2", "web-3"]
ALL = ["web-1", "web-2", "web-3", "stage-1", "stage-2", "stage-3", "ci-1", "ci-2"]
SCRATCH = ("/tmp/wf_a_end", "/tmp/wf_b_start", "/tmp/wf_marker", "/tmp/wf_trace")


def clear_scratch(fleet) -> None:
    """Remove the markers a test leaves on the hosts, so none passes for one of the next test's."""
    for host in ALL:
        for path in SCRATCH:
            fleet.host_path(host, path).unlink(missing_ok=True)


@pytest.fixture
def pipeline(fleet, run_playbook, tmp_path):
    """Runner: (process, report) of azlin.fleet.workflow with the given extra vars, hosts clean first."""
    clear_scratch(fleet)
    counter = iter(range(100))

    def run(name: str, **extra):
        report_dir = tmp_path / f"report-{next(counter)}"
        env = {
            "ANSIBLE_CALLBACKS_ENABLED": "azlin.fleet.fleet_report",
            "AZLIN_FLEET_REPORT_DIR": str(report_dir),
            "AZLIN_FLEET_REPORT_NAME": "report",
            "AZLIN_FLEET_REPORT_FORMATS": "json",
        }
        proc = run_playbook(
            "azlin.fleet.workflow", extra_vars={"fleet_workflow_file": str(FILES / name), **extra}, env=env
        )
        path = report_dir / "report.json"
        return proc, (json.loads(path.read_text()) if path.exists() else None)

    return run


def stamp(fleet, host: str, path: str) -> float:
    return float(fleet.host_path(host, path).read_text())


def recap(stdout: str) -> dict[str, dict[str, int]]:
    """Ansible's PLAY RECAP as host -> counters."""
    out = {}
    for line in stdout.split("PLAY RECAP", 1)[1].splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            out[match[1]] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match[2])}
    return out


@pytest.mark.multiversion
def test_fast_hosts_start_their_next_step_before_a_slow_host_finishes(fleet, pipeline) -> None:
    proc, report = pipeline("progress.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:]
    slow_a_end = stamp(fleet, "web-1", "/tmp/wf_a_end")
    for host in ("web-2", "web-3"):
        # b started on the fast host while a was still sleeping on web-1: no barrier between a and b
        assert stamp(fleet, host, "/tmp/wf_b_start") < slow_a_end - 3, host
    assert stamp(fleet, "web-1", "/tmp/wf_b_start") > slow_a_end  # and on web-1 after its own a
    statuses = {(r["host"], r["step"]): r["status"] for t in report["tasks"] for r in t["results"] if r.get("step")}
    assert statuses == {(h, s): "ok" for h in WEB for s in ("a", "b")}


@pytest.mark.multiversion
def test_a_fleet_wide_step_makes_every_host_wait(fleet, pipeline) -> None:
    proc, report = pipeline("progress_barrier.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:]
    slow_a_end = stamp(fleet, "web-1", "/tmp/wf_a_end")
    assert min(stamp(fleet, h, "/tmp/wf_b_start") for h in WEB) > slow_a_end


def test_a_workflow_is_gated_and_routed_as_a_whole(fleet, pipeline) -> None:
    # web-2 busy (gated by idle), ci-2 has a user (gated); of the idle rest the two least loaded run
    fleet.set_load("web-2", cpu=60)
    fleet.set_load("ci-2", users=[30])
    # the score is the memory % here (read from /proc/meminfo, not sampled: no noise from a busy machine)
    for host, mem in (("web-1", 40), ("web-3", 5), ("stage-1", 60), ("stage-2", 3), ("stage-3", 70), ("ci-1", 80)):
        fleet.set_load(host, cpu=2, mem=mem, load=(0.01, 0.01, 0.01))
    dry, dry_report = pipeline(
        "touch.yaml",
        fleet_targets="all",
        fleet_gate="idle",
        fleet_count=2,
        fleet_dry_run=True,
        fleet_probe_interval=0.3,
    )
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert "routing: probe, gate idle and order least loaded first (by score), keep the 2 best" in dry.stdout
    assert not any(fleet.host_path(h, "/tmp/wf_marker").exists() for h in ALL)
    verdicts = {h["host"]: h["status"] for h in dry_report["plans"][-1]["hosts"]}
    assert verdicts["web-2"] == verdicts["ci-2"] == "gated"
    assert sorted(h for h, s in verdicts.items() if s == "selected") == ["stage-2", "web-3"]

    proc, report = pipeline(
        "touch.yaml", fleet_targets="all", fleet_gate="idle", fleet_count=2, fleet_probe_interval=0.3
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(h for h in ALL if fleet.host_path(h, "/tmp/wf_marker").exists()) == ["stage-2", "web-3"]
    ran = {r["host"] for t in report["tasks"] for r in t["results"] if r.get("step") == "after"}
    assert ran == {"stage-2", "web-3"}
    counters = recap(proc.stdout)
    # the play recap shows every host kept out by routing as skipped, and none of them failed
    for host in set(ALL) - {"stage-2", "web-3"}:
        assert counters[host]["skipped"] >= 1 and counters[host]["failed"] == 0, (host, counters[host])


@pytest.mark.multiversion
def test_gated_hosts_are_skipped_in_the_play_recap(fleet, run_playbook) -> None:
    fleet.set_load("web-2", cpu=90)
    proc = run_playbook(
        "azlin.fleet.run",
        extra_vars={
            "fleet_command": "true",
            "fleet_targets": "pool_web_servers",
            "fleet_gate": "cpu<50",
            "fleet_probe_interval": 0.3,
        },
    )
    problems = [line for line in proc.stdout.splitlines() if line.startswith(("fatal:", "failed:", "[ERROR]"))]
    assert proc.returncode == 0, "\n".join(problems) + proc.stdout[-3000:]
    counters = recap(proc.stdout)
    judged = re.findall(
        r"^(skipping|ok|failed|fatal): \[(\S+)\]", proc.stdout.split("PLAY [Judge the outcome]")[1], flags=re.M
    )
    assert ("skipping", "web-2") in judged and ("ok", "web-1") in judged and ("ok", "web-3") in judged
    assert counters["web-2"]["failed"] == 0 and counters["web-2"]["changed"] == 0


AZLIN_FLEET = str(Path(sys.executable).parent / "azlin-fleet")


@pytest.fixture
def cli(fleet, ansible_env, tmp_path):
    """azlin-fleet on the sandbox's static inventory: (process, JSON report or None); hosts clean first."""
    clear_scratch(fleet)
    env = {k: v for k, v in ansible_env.items() if k != "ANSIBLE_CONFIG"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")

    def run(*argv: str, **more_env: str):
        report_dir = tmp_path / f"reports-{len(list(tmp_path.glob('reports-*')))}"
        args = [
            AZLIN_FLEET,
            argv[0],
            *argv[1:],
            "-i",
            str(fleet.hosts_yml),
            "--report-dir",
            str(report_dir),
            "--format",
            "json",
        ]
        proc = subprocess.run(args, env=env | more_env, capture_output=True, text=True, timeout=300, check=False)
        reports = sorted(report_dir.glob("fleet-*.json")) if report_dir.exists() else []
        return proc, (json.loads(reports[-1].read_text()) if reports else None)

    return run


def test_an_unmeasurable_host_is_its_own_outcome_never_a_failure(fleet, cli) -> None:
    fleet.fault("ci-1", "unreadable")  # its probe files cannot be read: no metrics, so no gate verdict
    proc, report = cli("run", "touch /tmp/wf_marker", "--pool", "ci", "--if-cpu-below", "50")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    hosts = {h["host"]: h["status"] for h in report["hosts"]}
    assert hosts == {"ci-1": "unmeasurable", "ci-2": "ok"}
    assert not fleet.host_path("ci-1", "/tmp/wf_marker").exists() and fleet.host_path("ci-2", "/tmp/wf_marker").exists()
    assert report["run"]["status"] == "complete" and report["run"]["internal_errors"] == []

    fleet.fault("ci-2", "unreadable")  # now no host of the pool can be measured: nothing ran, exit 3
    proc, report = cli("run", "touch /tmp/wf_trace", "--pool", "ci", "--if-cpu-below", "50")
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {h["host"]: h["status"] for h in report["hosts"] if h["host"] != "localhost"} == {
        "ci-1": "unmeasurable",
        "ci-2": "unmeasurable",
    }
    assert report["run"]["nothing_selected"]["reason"].startswith("every target was gated, unmeasurable")
    assert not any(fleet.host_path(h, "/tmp/wf_trace").exists() for h in ("ci-1", "ci-2"))


def test_workflow_from_the_cli_is_gated_and_counted_like_a_run(fleet, cli) -> None:
    fleet.set_load("web-2", cpu=95)  # far from the gate, whatever the machine's load does to the sampling
    proc, report = cli(
        "workflow",
        str(FILES / "touch.yaml"),
        "--pool",
        "web-servers",
        "--if-cpu-below",
        "50",
        "--count",
        "1",
        "--smart-route",
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    statuses = {h["host"]: h["status"] for h in report["hosts"] if h["host"] != "localhost"}
    assert statuses["web-2"] == "gated"
    assert sorted(statuses.values()) == ["gated", "not_selected", "ok"]
    ran = [h for h in WEB if fleet.host_path(h, "/tmp/wf_marker").exists()]
    assert len(ran) == 1 and statuses[ran[0]] == "ok"


def user_of(marker: Path) -> str:
    """The user name a command wrote into ``marker`` ("" while it is missing or half written)."""
    text = marker.read_text() if marker.exists() else ""
    return text.strip() if text.endswith("\n") else ""


def start_cli(ansible_env: dict, tmp_path: Path, *argv: str) -> subprocess.Popen:
    """azlin-fleet in the background, in a session of its own (so a test can signal it as CI would)."""
    env = {k: v for k, v in ansible_env.items() if k != "ANSIBLE_CONFIG"}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return subprocess.Popen(
        [AZLIN_FLEET, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.parametrize(
    "escalate", [[], ["--", "-e", "fleet_become=true", "-e", "ansible_become_user=nobody"]], ids=["plain", "become"]
)
def test_a_cancelled_run_stops_its_commands_on_the_hosts(fleet, ansible_env, tmp_path, escalate: list) -> None:
    clear_scratch(fleet)
    started, finished = "/tmp/wf_a_end", "/tmp/wf_b_start"
    # the start marker names the user the command runs as (SSH logs in as root; become drops to nobody, who may not
    # signal root's sshd): the command must be stopped either way
    command = f"id -un > {started}; sleep 4; touch {finished}"
    child = start_cli(
        ansible_env,
        tmp_path,
        *("run", command, "--pool", "web-servers", "-i", str(fleet.hosts_yml)),
        *("--report-dir", str(tmp_path / "reports"), *escalate),
    )
    deadline = time.monotonic() + 60
    while not all(user_of(fleet.host_path(h, started)) for h in WEB):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGTERM)
    child.communicate(timeout=120)
    assert child.returncode == 143
    assert {user_of(fleet.host_path(h, started)) for h in WEB} == {"nobody" if escalate else "root"}
    time.sleep(6)  # past the command's own end: had it kept running, it would have left its marker by now
    assert [h for h in WEB if fleet.host_path(h, finished).exists()] == []


def test_a_cancel_reports_the_hosts_that_finished_as_they_ended(fleet, ansible_env, tmp_path) -> None:
    """SIGTERM while web-1 still runs and web-2, web-3 are done: web-1 is interrupted, the others stay ok (their
    step rows are the segment task's result, which once let them pass for hosts that never started)."""
    clear_scratch(fleet)
    finished = "/tmp/wf_b_start"
    report_dir = tmp_path / "reports"
    command = f'if [ "$(hostname)" = web-1 ]; then sleep 30; fi; touch {finished}'
    child = start_cli(
        ansible_env,
        tmp_path,
        *("run", command, "--pool", "web-servers", "-i", str(fleet.hosts_yml)),
        *("--report-dir", str(report_dir), "--format", "json"),
    )
    deadline = time.monotonic() + 60
    while not all(fleet.host_path(h, finished).exists() for h in ("web-2", "web-3")):
        assert time.monotonic() < deadline and child.poll() is None, "web-2 and web-3 never finished"
        time.sleep(0.1)
    time.sleep(1.0)  # their results reach the controller
    os.kill(child.pid, signal.SIGTERM)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 143, out[-2000:] + err[-2000:]
    report = json.loads(next(report_dir.glob("fleet-*.json")).read_text())
    statuses = {h["host"]: h["status"] for h in report["hosts"] if h["host"] != "localhost"}
    assert statuses == {"web-1": "interrupted", "web-2": "ok", "web-3": "ok"}, statuses


def test_a_vm_that_freezes_mid_command_is_unreachable_and_the_others_keep_their_results(
    fleet, ansible_env, tmp_path
) -> None:
    """With the inventory's own SSH options only (no keepalives, as a user's Azure inventory has), a VM frozen in
    the middle of its command is reported unreachable by the CLI's keepalives, after ~30 s of silence, instead of
    holding the run forever; the hosts that finished keep their true status."""
    clear_scratch(fleet)
    inventory = yaml.safe_load(fleet.hosts_yml.read_text())
    common = inventory["all"]["vars"]["ansible_ssh_common_args"]
    inventory["all"]["vars"]["ansible_ssh_common_args"] = re.sub(r"-o ServerAlive\w+=\d+", "", common)
    bare = tmp_path / "hosts.yml"
    bare.write_text(yaml.safe_dump(inventory))
    started = "/tmp/wf_a_end"
    report_dir = tmp_path / "reports"
    child = start_cli(
        ansible_env,
        tmp_path,
        *("run", f"touch {started}; sleep 4; echo done", "--pool", "web-servers", "-i", str(bare)),
        *("--report-dir", str(report_dir), "--format", "json"),
    )
    try:
        deadline = time.monotonic() + 60
        while not fleet.host_path("web-1", started).exists():
            assert time.monotonic() < deadline and child.poll() is None, "the command never started"
            time.sleep(0.1)
        fleet.fault("web-1", "freeze")
        out, err = child.communicate(timeout=150)
    finally:
        fleet.fault("web-1", "thaw")
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 4, out[-2000:] + err[-2000:]  # the only failure is an unreachable host
    report = json.loads(next(report_dir.glob("fleet-*.json")).read_text())
    statuses = {h["host"]: h["status"] for h in report["hosts"] if h["host"] != "localhost"}
    assert statuses == {"web-1": "unreachable", "web-2": "ok", "web-3": "ok"}, statuses


def test_controller_memory_stays_bounded_by_the_output_received(fleet, ansible_bin, ansible_env, tmp_path) -> None:
    """Controller memory once grew 6-7x the output received. Four hosts each print 16 MB of their own text: the
    peak RSS of ansible-playbook (with the report callback) may grow, over a run with tiny outputs, by less than one
    host's output (outputs are cut in the worker, never held whole by the main process), and the report keeps
    bounded excerpts."""
    hosts = "web-1:web-2:web-3:ci-1"
    measured = {}
    for label, command in (("small", "hostname"), ("big", "head -c 12000000 /dev/urandom | base64 -w 120; hostname")):
        report_dir = tmp_path / label
        vars_file = tmp_path / f"{label}.json"
        vars_file.write_text(json.dumps({"fleet_command": command, "fleet_targets": hosts}))
        env = dict(
            ansible_env,
            ANSIBLE_CALLBACKS_ENABLED="azlin.fleet.fleet_report",
            AZLIN_FLEET_REPORT_DIR=str(report_dir),
            AZLIN_FLEET_REPORT_NAME="report",
            AZLIN_FLEET_REPORT_FORMATS="json",
        )
        playbook = [
            str(ansible_bin / "ansible-playbook"),
            "-i",
            str(fleet.hosts_yml),
            "-e",
            f"@{vars_file}",
            "azlin.fleet.run",
        ]
        # the main ansible-playbook process's own peak (VmHWM), read until it exits: the workers each hold only
        # their own host's result for a moment; what must not grow with the fleet's output is the main process
        child = subprocess.Popen(playbook, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak_kib = 0
        while child.poll() is None:
            try:
                status = Path(f"/proc/{child.pid}/status").read_text()
                peak_kib = max(peak_kib, int(status.split("VmHWM:")[1].split()[0]))
            except (OSError, IndexError, ValueError):
                pass
            time.sleep(0.02)
        assert child.returncode == 0, label
        measured[label] = (peak_kib * 1024, json.loads((report_dir / "report.json").read_text()))
    (small_peak, _small), (big_peak, big) = measured["small"], measured["big"]
    outputs = list(big["outputs"].values())
    printed = 4 * 16_133_334  # 12 MB of random bytes in base64, 120 characters a line, on each host
    # cut to 1 MiB in the worker (head + tail, the whole size and digest in the middle), then to the report's excerpt
    assert len(outputs) == 4 and all(o["truncated"] and 1 << 20 <= o["size"] < 2 << 20 for o in outputs)
    # the controller's main process never held even one host's whole output
    assert big_peak - small_peak < printed / 4, (big_peak - small_peak, printed)


def test_smart_route_with_parallel_one_runs_one_host_at_a_time_least_loaded_first(fleet, cli) -> None:
    # --parallel holds the steps (the playbook's throttle), not ansible's forks: the probe still measures every
    # host at once, and the command runs on one host at a time, least loaded first
    loads = {"web-1": 60, "web-2": 10, "web-3": 35}
    for host, cpu in loads.items():
        fleet.set_load(host, cpu=cpu, mem=2, load=(0.02, 0.02, 0.02), users=[])
    proc, report = cli("run", "sleep 0.3", "--pool", "web-servers", "--smart-route", "--parallel", "1")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (step,) = [t for t in report["tasks"] if t["kind"] == "step"]
    runs = sorted(step["results"], key=lambda r: r["start"])
    assert [r["host"] for r in runs] == sorted(loads, key=loads.get)
    assert all(r["status"] == "ok" for r in runs)
    assert all(earlier["end"] <= later["start"] for earlier, later in zip(runs, runs[1:], strict=False)), runs


def test_without_parallel_the_users_forks_bound_the_hosts_at_once(fleet, cli) -> None:
    # azlin-fleet runs ansible-playbook with room for the probe (256 forks); the steps still take the user's
    # ANSIBLE_FORKS as their default limit, as the playbook's throttle
    proc, report = cli("run", "sleep 1", "--pool", "web-servers", ANSIBLE_FORKS="2")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (step,) = [t for t in report["tasks"] if t["kind"] == "step"]
    spans = [(r["start"], r["end"]) for r in step["results"]]
    assert len(spans) == 3 and all(r["status"] == "ok" for r in step["results"])
    most = max(sum(1 for start, end in spans if start <= at < end) for at, _ in spans)
    assert most == 2, spans
