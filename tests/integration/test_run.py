"""azlin.fleet.run on the sandbox fleet: rolling with health checks, retries, error budget, timeouts, gates.

Commands leave markers in each host's private /tmp, read back on the controller with ``Sandbox.host_path``;
statuses and attempts come from the JSON report written by azlin.fleet.fleet_report.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

PLAYBOOK = "azlin.fleet.run"
DEV = ["web-1", "web-2", "web-3", "ci-1", "ci-2"]  # tag_env_dev, in inventory order
ALL = ["web-1", "web-2", "web-3", "stage-1", "stage-2", "stage-3", "ci-1", "ci-2"]
SCRATCH = ("/tmp/run_marker", "/tmp/run_unhealthy", "/tmp/run_attempt", "/tmp/run_sleeper.pid")


@pytest.fixture
def run(fleet, run_playbook, tmp_path):
    """Runner: (process, report) of azlin.fleet.run with the given fleet_* vars, hosts clean first."""
    for host in ALL:
        for path in SCRATCH:
            fleet.host_path(host, path).unlink(missing_ok=True)
    counter = iter(range(100))

    def go(env_extra=None, args=(), **extra):
        report_dir = tmp_path / f"report-{next(counter)}"
        env = {
            "ANSIBLE_CALLBACKS_ENABLED": "azlin.fleet.fleet_report",
            "AZLIN_FLEET_REPORT_DIR": str(report_dir),
            "AZLIN_FLEET_REPORT_NAME": "report",
            "AZLIN_FLEET_REPORT_FORMATS": "json",
            **(env_extra or {}),
        }
        proc = run_playbook(PLAYBOOK, *args, extra_vars={"fleet_retry_delay": 0.5, **extra}, env=env)
        path = report_dir / "report.json"
        return proc, (json.loads(path.read_text()) if path.exists() else None)

    return go


def command_results(report: dict) -> dict[str, dict]:
    """Host -> result of the command task (the step called 'run')."""
    return {r["host"]: r for t in report["tasks"] for r in t["results"] if r.get("step") == "run"}


def host_status(report: dict) -> dict[str, str]:
    """Status per fleet host (localhost only plans the run)."""
    return {h["host"]: h["status"] for h in report["hosts"] if h["host"] != "localhost"}


def marked(fleet, hosts=ALL, path="/tmp/run_marker") -> list[str]:
    return [h for h in hosts if fleet.host_path(h, path).exists()]


@pytest.mark.multiversion
def test_rolling_stops_at_the_first_unhealthy_host(fleet, run) -> None:
    fleet.host_path("web-3", "/tmp/run_unhealthy").write_text("sick\n")
    proc, report = run(
        fleet_command="touch /tmp/run_marker",
        fleet_targets="tag_env_dev",
        fleet_sequence=1,
        fleet_health_cmd="test ! -e /tmp/run_unhealthy",
        fleet_health_timeout=1,
        fleet_health_interval=0.3,
    )
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert marked(fleet) == ["web-1", "web-2", "web-3"]  # ci-1, ci-2 untouched
    results = command_results(report)
    assert {h: results[h]["status"] for h in DEV} == {
        "web-1": "ok",
        "web-2": "ok",
        "web-3": "failed",
        "ci-1": "not_started",
        "ci-2": "not_started",
    }
    assert results["web-3"]["reason"].startswith("unhealthy: Health check command 'test ! -e /tmp/run_unhealthy'")
    assert results["ci-1"]["reason"] == "rollout stopped after 'web-3' failed (failed)"
    assert host_status(report) == {
        "web-1": "ok",
        "web-2": "ok",
        "web-3": "failed",
        "ci-1": "not_started",
        "ci-2": "not_started",
    }


# A VM that went away has no live SSH master connection to hide the outage behind.
NO_MASTER = {"ANSIBLE_SSH_ARGS": "-o ControlMaster=no", "ANSIBLE_TIMEOUT": "3"}


def test_retry_recovers_a_failing_command_and_an_unreachable_host(fleet, run) -> None:
    fleet.fault("web-2", "cut")
    # The plan play takes a few seconds before the first connection: restore well after that.
    restore = threading.Timer(8.0, fleet.fault, args=("web-2", "restore"))
    restore.start()
    try:
        proc, report = run(
            # Fails on its first attempt on every host, succeeds on the next one.
            fleet_command="test -e /tmp/run_attempt || { touch /tmp/run_attempt; exit 3; }; touch /tmp/run_marker",
            fleet_targets="web-1:web-2",
            fleet_retries=5,
            fleet_retry_delay=1,
            env_extra=NO_MASTER,
        )
    finally:
        restore.join()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert marked(fleet) == ["web-1", "web-2"]
    results = command_results(report)
    assert results["web-1"]["attempts"] == 2
    assert results["web-1"]["reason"] == "succeeded on attempt 2"
    # web-2: at least one unreachable attempt, then the failing first run, then success.
    assert results["web-2"]["attempts"] >= 3
    assert {h["host"]: h["attempts"] for h in report["hosts"]}["web-2"] == results["web-2"]["attempts"]


def test_unreachable_host_is_reported_after_its_retries(fleet, run) -> None:
    fleet.fault("web-2", "cut")
    proc, report = run(
        fleet_command="touch /tmp/run_marker", fleet_targets="web-1:web-2", fleet_retries=1, env_extra=NO_MASTER
    )
    assert proc.returncode == 2
    results = command_results(report)
    assert (results["web-2"]["status"], results["web-2"]["attempts"]) == ("unreachable", 2)
    assert results["web-1"]["status"] == "ok"


def test_timeout_kills_the_command_on_the_host(fleet, run, run_ansible) -> None:
    started = time.monotonic()
    proc, report = run(
        fleet_command="echo $$ > /tmp/run_sleeper.pid; sleep 67",
        fleet_targets="web-1",
        fleet_timeout=2,
    )
    assert time.monotonic() - started < 40
    assert proc.returncode == 2
    result = command_results(report)["web-1"]
    assert (result["status"], result["rc"], result["reason"]) == ("timeout", 124, "killed after the 2s timeout")
    assert fleet.host_path("web-1", "/tmp/run_sleeper.pid").exists()  # it did start
    check = run_ansible(
        [
            "ansible",
            "-i",
            str(fleet.hosts_yml),
            "web-1",
            "-m",
            "ansible.builtin.shell",
            "-a",
            "pgrep -f 'slee[p] 67' || echo none",
        ]
    )
    assert check.returncode == 0, check.stdout
    assert "none" in check.stdout  # no process left on the host


def test_error_budget_stops_new_hosts_once_exceeded(fleet, run) -> None:
    proc, report = run(
        fleet_command='case "$(hostname)" in web-1|web-2) exit 1;; esac; touch /tmp/run_marker',
        fleet_targets="tag_env_dev",
        fleet_parallel=1,
        fleet_max_failures=1,
    )
    assert proc.returncode == 2
    results = command_results(report)
    assert {h: results[h]["status"] for h in DEV} == {
        "web-1": "failed",
        "web-2": "failed",
        "web-3": "not_started",
        "ci-1": "not_started",
        "ci-2": "not_started",
    }
    assert "error budget exhausted: 2 host(s) failed (web-1, web-2), max_failures is 1" in results["web-3"]["reason"]
    assert marked(fleet) == []


def test_become_chdir_environment_and_gate_through_routing(fleet, run) -> None:
    """SSH logs in as root; become (sudo) drops to nobody, a user who may not signal root's sshd: the command still
    runs to its end (the cancel guard must not take that for a lost session), in the directory, with the env."""
    fleet.set_load("web-2", cpu=90)
    proc, report = run(
        fleet_command='sleep 2.5; echo "$(pwd) $FLEET_GREETING $(id -un)" > /tmp/run_marker',
        fleet_targets="pool_web_servers",
        fleet_chdir="/tmp",
        fleet_environment={"FLEET_GREETING": "hello"},
        fleet_become=True,
        ansible_become_user="nobody",
        fleet_gate="cpu<50",
        fleet_probe_interval=0.3,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert marked(fleet) == ["web-1", "web-3"]  # web-2 gated out by the route action
    assert fleet.host_path("web-1", "/tmp/run_marker").read_text().split() == ["/tmp", "hello", "nobody"]
    assert [h["host"] for h in report["plans"][-1]["hosts"] if h["status"] == "gated"] == ["web-2"]


def test_dry_run_touches_no_host(fleet, run) -> None:
    proc, report = run(fleet_command="touch /tmp/run_marker", fleet_targets="pool_web_servers", fleet_dry_run=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "command: touch /tmp/run_marker" in proc.stdout
    assert "hosts: web-1, web-2, web-3" in proc.stdout
    assert marked(fleet) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param({"fleet_gate": "cpu<<5"}, "Invalid gate 'cpu<<5'", id="bad-gate"),
        pytest.param({"fleet_parallel": "0%"}, "Invalid fleet_parallel '0%'", id="bad-parallel"),
        pytest.param({"fleet_max_failures": "lots"}, "Invalid max_failures 'lots'", id="bad-budget"),
        pytest.param({"fleet_timeout": -3}, "Invalid fleet_timeout", id="bad-timeout"),
    ],
)
def test_invalid_input_fails_before_any_host_is_touched(fleet, run, extra: dict, message: str) -> None:
    proc, report = run(fleet_command="touch /tmp/run_marker", fleet_targets="all", **extra)
    assert proc.returncode == 2
    assert message in proc.stdout + proc.stderr
    assert marked(fleet) == []
    # refused by the one validation task (run once, on the controller, quiet in the report): no host got a task
    assert report["hosts"] == []
    assert [e["status"] for e in report["errors"]] == ["failed"]
    assert message in report["errors"][0]["reason"]


def test_dry_run_with_a_gate_probes_but_runs_nothing(fleet, run) -> None:
    fleet.set_load("web-3", cpu=95)
    proc, report = run(
        fleet_command="touch /tmp/run_marker",
        fleet_targets="pool_web_servers",
        fleet_gate="cpu<50",
        fleet_dry_run=True,
        fleet_probe_interval=0.3,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert marked(fleet) == []
    plan = report["plans"][-1]
    assert plan["dry_run"] is True
    assert {h["host"]: h["status"] for h in plan["hosts"]}["web-3"] == "gated"
    assert command_results(report) == {}


@pytest.mark.parametrize("command", ["true", "42"])
def test_command_spelled_like_a_boolean_or_number_is_run_as_text(fleet, run, command: str) -> None:
    proc, report = run(fleet_command=command, fleet_targets="web-1")
    assert f"command: {command}\n" in proc.stdout
    if command == "true":
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert command_results(report)["web-1"]["status"] == "ok"
    else:  # 42 is not a command on the host: it ran (and failed, 127) as the text the user gave
        assert proc.returncode == 2, proc.stdout[-3000:]
        assert (command_results(report)["web-1"]["status"], command_results(report)["web-1"]["rc"]) == ("failed", 127)


def test_limit_narrows_the_targets_without_a_controller_play(fleet, run) -> None:
    # --limit leaves localhost out of the play hosts; the controller work must not depend on it
    proc, report = run(
        fleet_command="touch /tmp/run_marker", fleet_targets="pool_web_servers", args=("--limit", "web-2")
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert marked(fleet) == ["web-2"]
    assert set(command_results(report)) == {"web-2"}
    assert "hosts: web-2" in proc.stdout


def test_limit_with_sequence_and_routing(fleet, run) -> None:
    fleet.set_load("stage-2", cpu=90)
    proc, report = run(
        fleet_command="touch /tmp/run_marker",
        fleet_targets="all",
        fleet_sequence=1,
        fleet_gate="cpu<50",
        fleet_probe_interval=0.3,
        args=("--limit", "stage-1:stage-2:stage-3"),
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert marked(fleet) == ["stage-1", "stage-3"]
    assert {h["host"]: h["status"] for h in report["plans"][-1]["hosts"]} == {
        "stage-1": "selected",
        "stage-2": "gated",
        "stage-3": "selected",
    }


@pytest.mark.parametrize("smart_route", [False, True], ids=["inventory-order", "smart-route"])
def test_dry_run_without_a_gate_shows_hosts_order_and_metrics(fleet, run, smart_route: bool) -> None:
    fleet.set_load("web-1", cpu=70, mem=10)
    fleet.set_load("web-2", cpu=40, mem=10)
    fleet.set_load("web-3", cpu=10, mem=10)
    proc, report = run(
        fleet_command="touch /tmp/run_marker",
        fleet_targets="pool_web_servers",
        fleet_dry_run=True,
        fleet_smart_route=smart_route,
        fleet_probe_interval=0.3,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert marked(fleet) == []
    assert command_results(report) == {}
    plan = report["plans"][-1]
    assert plan["dry_run"] is True and plan["gate"] is None
    entries = sorted(plan["hosts"], key=lambda e: e["order"])
    # the order the run would use: least loaded first when routing, else the inventory order
    order = ["web-3", "web-2", "web-1"] if smart_route else ["web-1", "web-2", "web-3"]
    assert [(e["host"], e["status"]) for e in entries] == [(h, "selected") for h in order]
    assert plan["route_by"] == ("score" if smart_route else "inventory")
    assert all(e["metrics"] and {"cpu", "mem", "load1"} <= set(e["metrics"]) for e in entries)
    assert abs(entries[order.index("web-1")]["metrics"]["cpu"] - 70) <= 1.5


def test_plain_command_keeps_streams_env_and_chdir_and_closes_stdin(fleet, run) -> None:
    """Without become the command runs as one SSH exec (no Python on the host): the task environment and chdir
    still apply, stdout and stderr stay apart (no terminal), and a command reading stdin gets EOF, not a hang."""
    proc, report = run(
        fleet_targets="web-1",
        fleet_command="cat; echo out-$FLEET_GREETING; pwd; echo err-stream >&2; exit 3",
        fleet_chdir="/tmp",
        fleet_environment={"FLEET_GREETING": "hello"},
        fleet_timeout=60,
    )
    result = command_results(report)["web-1"]
    assert (result["status"], result["rc"]) == ("failed", 3), proc.stdout
    text = report["outputs"][result["output"]]["text"]
    assert "out-hello\n/tmp" in text
    # No terminal was allocated: ssh's "Shared connection ... closed." would otherwise be in the output.
    assert "err-stream" in text and "Shared connection" not in text


def test_a_host_frozen_mid_command_ends_at_the_controller_deadline(fleet, run, tmp_path) -> None:
    # web-1 freezes (every process stopped, its TCP peer silent) once its command runs: `timeout` on the host
    # cannot fire, so only the controller's deadline (the step's timeout + 15 s) ends the wait; the others finish.
    started_marker = fleet.host_path("web-1", "/tmp/run_attempt")
    started_marker.unlink(missing_ok=True)

    def freeze_when_started() -> None:
        deadline = time.monotonic() + 60
        while not started_marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        fleet.fault("web-1", "freeze")

    freezer = threading.Thread(target=freeze_when_started)
    freezer.start()
    started = time.monotonic()
    try:
        # the sandbox inventory's SSH keepalives would notice the silence after ~15 s: in an inventory without
        # them (a later -i overrides the host vars) only the controller deadline is left
        quiet = tmp_path / "no-keepalive.yml"
        quiet.write_text(fleet.hosts_yml.read_text().replace("-o ServerAliveInterval=5 -o ServerAliveCountMax=2", ""))
        assert "ServerAlive" not in quiet.read_text()
        proc, report = run(
            fleet_command="touch /tmp/run_attempt; sleep 3; touch /tmp/run_marker",
            fleet_targets="pool_web_servers",
            fleet_timeout=4,
            args=("-i", str(quiet)),
        )
    finally:
        freezer.join()
        fleet.fault("web-1", "thaw")
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert elapsed < 4 + 15 + 20  # bounded: deadline plus Ansible's own start-up and wrap-up
    results = command_results(report)
    assert results["web-1"]["status"] == "timeout", json.dumps(report)[-4000:]
    assert "controller deadline" in results["web-1"]["reason"]
    assert {h: results[h]["status"] for h in ("web-2", "web-3")} == {"web-2": "ok", "web-3": "ok"}
    assert marked(fleet, ["web-2", "web-3"]) == ["web-2", "web-3"]
