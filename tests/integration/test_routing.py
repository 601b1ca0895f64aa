"""Least-loaded routing on the sandbox fleet, through the strategy and through the route action (real SSH).

Each host's command writes its start time into the host's private /tmp; the tests read it back on the controller
with ``Sandbox.host_path``. Loads are set so that the score equals the CPU % (memory and load averages low).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from azlin_fleet_sandbox.clock import fake_clock, libfaketime, restore_clock, step_clock

TARGET = Path(__file__).parent / "targets" / "routing"
MARKER = "/tmp/fleet_started_at"
# CPU % per host, all distinct: the expected order is ascending CPU
CPU = {"web-1": 55, "web-2": 15, "web-3": 85, "stage-1": 5, "stage-2": 45, "stage-3": 95, "ci-1": 25, "ci-2": 65}
ASCENDING = sorted(CPU, key=CPU.get)
PATHS = [
    pytest.param("strategy.yml", id="strategy", marks=pytest.mark.multiversion),
    pytest.param("route.yml", id="route-action", marks=pytest.mark.multiversion),
]


@pytest.fixture
def routed(fleet, tmp_path):
    """The fleet at the CPU loads above, no markers left, and a runner returning (process, final plan)."""
    for host, cpu in CPU.items():
        fleet.set_load(host, cpu=cpu, mem=2, load=(0.02, 0.02, 0.02), users=[])
        fleet.host_path(host, MARKER).unlink(missing_ok=True)
    plan_file = tmp_path / "plans.jsonl"

    def run(run_playbook, playbook: str, *args: str, **fleet_vars):
        plan_file.unlink(missing_ok=True)
        extra = {"fleet_probe_interval": 0.3, **fleet_vars}
        proc = run_playbook(TARGET / playbook, *args, extra_vars=extra, env={"FLEET_PLAN_FILE": str(plan_file)})
        return proc, read_plan(plan_file)

    run.plan_file = plan_file
    return run


def read_plan(plan_file: Path) -> dict:
    assert plan_file.exists(), "no routing plan reached the observer callback"
    return json.loads(plan_file.read_text().splitlines()[-1])["plan"]


def read_verdicts(plan_file: Path) -> dict | None:
    """The fleet_verdicts of the last route action result (None on the strategy path, which has no such result)."""
    return json.loads(plan_file.read_text().splitlines()[-1])["verdicts"]


def started(fleet) -> dict[str, float]:
    """Hosts that ran the command, with the start time each one recorded.

    Safe to call while the hosts run: the shell creates the marker (empty) before ``date`` writes the time into
    it, so a marker without a whole line yet is a host still starting, not one that started.
    """
    times = {}
    for host in CPU:
        path = fleet.host_path(host, MARKER)
        text = path.read_text() if path.exists() else ""
        if text.endswith("\n"):
            times[host] = float(text)
    return times


def wait_for(condition, timeout: float = 60) -> None:
    """Poll ``condition`` until it holds or ``timeout`` passes (the test's own assertions then tell what went wrong)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def run_while_stage2_turns_busy(fleet, routed, ansible_bin, ansible_env, playbook: str, extra: dict):
    """Run ``playbook`` with ``extra``; once stage-1 (the least loaded) has started, stage-2 (45 %) turns busy.

    Returns (process, output): the TTL tests check which hosts a re-probe then lets start.
    """
    vars_file = routed.plan_file.with_name("vars.json")
    vars_file.write_text(json.dumps(extra))
    env = ansible_env | {"FLEET_PLAN_FILE": str(routed.plan_file)}
    proc = start_playbook(ansible_bin, fleet, playbook, vars_file, env, subprocess.PIPE)
    wait_for(fleet.host_path("stage-1", MARKER).exists)
    fleet.set_load("stage-2", cpu=90)
    out, _ = proc.communicate(timeout=120)
    return proc, out


def start_playbook(ansible_bin, fleet, playbook: str, vars_file: Path, env: dict, stdout) -> subprocess.Popen:
    """ansible-playbook on the fleet in the background (extra vars from ``vars_file``), output to ``stdout``."""
    return subprocess.Popen(
        [
            str(ansible_bin / "ansible-playbook"),
            "-i",
            str(fleet.hosts_yml),
            "-e",
            f"@{vars_file}",
            str(TARGET / playbook),
        ],
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
    )


def entries(plan: dict) -> dict[str, dict]:
    return {entry["host"]: entry for entry in plan["hosts"]}


def output(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"


@pytest.mark.parametrize("playbook", PATHS)
def test_parallel_one_starts_hosts_in_ascending_load(fleet, routed, run_playbook, playbook):
    proc, plan = routed(run_playbook, playbook, fleet_parallel=1)
    assert proc.returncode == 0, output(proc)
    times = started(fleet)
    assert sorted(times, key=times.get) == ASCENDING
    assert [e["host"] for e in plan["hosts"]] == ASCENDING
    assert [e["order"] for e in plan["hosts"]] == list(range(1, 9))
    assert {e["status"] for e in plan["hosts"]} == {"selected"}


@pytest.mark.parametrize("playbook", PATHS)
def test_count_runs_exactly_the_least_loaded(fleet, routed, run_playbook, playbook):
    proc, plan = routed(run_playbook, playbook, fleet_count=3)
    assert proc.returncode == 0, output(proc)
    assert set(started(fleet)) == set(ASCENDING[:3]) == {"stage-1", "web-2", "ci-1"}
    by_host = entries(plan)
    for host in ASCENDING[3:]:
        assert by_host[host]["status"] == "not_selected"
        assert by_host[host]["reasons"][0].startswith("not among the 3 least loaded")


@pytest.mark.parametrize("playbook", PATHS)
def test_cpu_gate_runs_only_below_and_reports_the_rest(fleet, routed, run_playbook, playbook):
    proc, plan = routed(run_playbook, playbook, fleet_gate="cpu<50")
    assert proc.returncode == 0, output(proc)
    below = {host for host, cpu in CPU.items() if cpu < 50}
    assert set(started(fleet)) == below
    by_host = entries(plan)
    for host, cpu in CPU.items():
        if host in below:
            assert by_host[host]["status"] == "selected"
        else:
            assert by_host[host]["status"] == "gated"
            assert len(by_host[host]["reasons"]) == 1
            # the measured value comes from two /proc/stat samples, so allow a point of noise
            measured = float(by_host[host]["reasons"][0].split("%")[0].removeprefix("cpu "))
            assert abs(measured - cpu) <= 1.5
            assert by_host[host]["reasons"][0].endswith("% >= 50%")


@pytest.mark.parametrize("playbook", PATHS)
def test_idle_gate(fleet, routed, run_playbook, playbook):
    fleet.set_load("web-3", cpu=3)  # idle
    fleet.set_load("ci-2", cpu=4)  # idle, with a session idle for 20 min
    fleet.set_load("ci-2", users=[1200])
    fleet.set_load("stage-3", cpu=4, users=[60])  # quiet CPU but someone typed a minute ago
    fleet.set_load("stage-1", cpu=4, load=(1.5, 1.0, 1.0))  # busy run queue
    cpus = {spec.name: spec.cpus for spec in fleet.hosts()}["stage-1"]
    proc, plan = routed(run_playbook, playbook, fleet_gate="idle")
    assert proc.returncode == 0, output(proc)
    assert set(started(fleet)) == {"web-3", "ci-2"}
    reasons = {e["host"]: e["reasons"] for e in plan["hosts"]}
    # The user logged in 60 s before the probe; the probe may read the clock a second or two later.
    assert len(reasons["stage-3"]) == 1
    assert re.fullmatch(r"not idle: user user1 active 6[0-3]s ago \(< 900s\)", reasons["stage-3"][0])
    assert reasons["stage-1"] == [f"not idle: load {1.5 / cpus:.2f} >= 0.30 per CPU"]
    assert reasons["web-2"][0].startswith("not idle: cpu 1")


@pytest.mark.parametrize("playbook", PATHS)
def test_wait_mode_runs_a_host_whose_load_drops(fleet, routed, run_playbook, ansible_bin, ansible_env, playbook):
    # every host but web-3 (drops) and stage-3 (never drops) already passes
    for host in CPU:
        if host not in ("web-3", "stage-3"):
            fleet.set_load(host, cpu=10)
    extra = {"fleet_probe_interval": 0.3, "fleet_gate": "cpu<50", "fleet_gate_mode": "wait", "fleet_gate_timeout": 8}
    vars_file = routed.plan_file.with_name("vars.json")
    vars_file.write_text(json.dumps(extra))
    log = routed.plan_file.with_name("stdout.log")
    waiting_line = "Waiting up to" if playbook == "strategy.yml" else "TASK [Wait for the gated hosts"
    with open(log, "w") as out:
        proc = start_playbook(
            ansible_bin, fleet, playbook, vars_file, ansible_env | {"FLEET_PLAN_FILE": str(routed.plan_file)}, out
        )

        def drop_when_waiting() -> None:
            wait_for(lambda: waiting_line in log.read_text())
            time.sleep(1.0)  # well inside the wait, after at least one failing re-probe
            fleet.set_load("web-3", cpu=20)

        dropper = threading.Thread(target=drop_when_waiting)
        dropper.start()
        rc = proc.wait(timeout=120)
        dropper.join()
    text = log.read_text()
    assert rc == 0, text[-4000:]
    assert waiting_line in text
    ran = started(fleet)
    assert "web-3" in ran and "stage-3" not in ran
    assert set(ran) == set(CPU) - {"stage-3"}
    by_host = entries(read_plan(routed.plan_file))
    assert by_host["web-3"]["status"] == "selected"
    assert by_host["stage-3"]["status"] == "gated"
    assert by_host["stage-3"]["reasons"][-1] == "still gated after waiting 8s"


@pytest.mark.parametrize("playbook", PATHS)
def test_unreadable_host_is_unmeasurable_and_not_run(fleet, routed, run_playbook, playbook):
    fleet.fault("ci-1", "unreadable")
    proc, plan = routed(run_playbook, playbook)
    # an unmeasurable host is its own outcome, never a failed task: ansible-playbook succeeds, ci-1 runs nothing
    assert proc.returncode == 0, output(proc)
    assert set(started(fleet)) == set(CPU) - {"ci-1"}
    entry = entries(plan)["ci-1"]
    assert entry["status"] == "unmeasurable"
    assert entry["order"] is None and entry["metrics"] is None
    assert "Cannot read /proc/" in entry["reasons"][0]


@pytest.mark.parametrize("playbook", PATHS)
def test_dry_run_leaves_no_trace(fleet, routed, run_playbook, playbook):
    proc, plan = routed(run_playbook, playbook, fleet_dry_run=True, fleet_gate="cpu<50", fleet_count=2)
    assert proc.returncode == 0, output(proc)
    assert started(fleet) == {}
    assert plan["dry_run"] is True
    by_host = entries(plan)
    assert [h for h in ASCENDING if by_host[h]["status"] == "selected"] == ["stage-1", "web-2"]
    assert all(entry["metrics"] for entry in plan["hosts"])


@pytest.mark.multiversion
def test_bad_gate_fails_before_any_host_runs(fleet, routed, run_playbook):
    proc = run_playbook(
        TARGET / "strategy.yml", extra_vars={"fleet_gate": "cpu<<50"}, env={"FLEET_PLAN_FILE": str(routed.plan_file)}
    )
    assert proc.returncode != 0
    assert "Invalid gate 'cpu<<50' at column 5: expected a number after '<'" in proc.stdout + proc.stderr
    assert started(fleet) == {}


@pytest.mark.multiversion
def test_strategy_reprobes_stale_hosts_before_dispatch(fleet, routed, ansible_bin, ansible_env):
    # ttl 0: every host is re-probed just before it starts; stage-2 (45 %) turns busy once the first host ran
    extra = {"fleet_probe_interval": 0.3, "fleet_gate": "cpu<50", "fleet_parallel": 1, "fleet_probe_ttl": 0}
    proc, out = run_while_stage2_turns_busy(fleet, routed, ansible_bin, ansible_env, "strategy.yml", extra)
    assert proc.returncode == 0, out[-4000:]
    assert set(started(fleet)) == {"stage-1", "web-2", "ci-1"}
    plans = [json.loads(line)["plan"] for line in routed.plan_file.read_text().splitlines()]
    assert entries(plans[0])["stage-2"]["status"] == "selected"  # the plan at play start
    final = entries(plans[-1])["stage-2"]
    assert final["status"] == "gated"
    assert final["reasons"][0].startswith("re-probe before dispatch: cpu ")


NO_PYTHON = ("web-2", "ci-1")


@pytest.mark.parametrize("playbook", PATHS)
def test_hosts_without_python_are_probed_and_routed(fleet, routed, run_playbook, run_ansible, tmp_path, playbook):
    # their interpreter points to a missing path: every Python module fails there, the probe needs none
    extra_inventory = tmp_path / "no_python.yml"
    interpreter = {"ansible_python_interpreter": "/nonexistent/bin/python3"}
    extra_inventory.write_text(json.dumps({"all": {"hosts": {host: interpreter for host in NO_PYTHON}}}))
    ping = run_ansible(["ansible", "-i", str(fleet.hosts_yml), "-i", str(extra_inventory), "ci-1", "-m", "ping"])
    assert ping.returncode != 0 and "/nonexistent/bin/python3" in ping.stdout + ping.stderr, output(ping)
    proc, plan = routed(run_playbook, playbook, "-i", str(extra_inventory), fleet_parallel=1)
    assert proc.returncode == 0, output(proc)
    times = started(fleet)
    assert sorted(times, key=times.get) == ASCENDING
    by_host = entries(plan)
    for host in NO_PYTHON:
        assert by_host[host]["status"] == "selected"
        assert abs(by_host[host]["metrics"]["cpu"] - CPU[host]) <= 1.5


GARBAGE_STAT = "cpu  idle 0 lots 0 0 0 0 0\ncpu0 idle 0 lots 0 0 0 0 0\n"


@pytest.mark.parametrize("playbook", PATHS)
def test_host_answering_non_numeric_cpu_is_unmeasurable_and_the_others_run(fleet, routed, run_playbook, playbook):
    # a compromised VM: its /proc/stat holds words where the CPU counters belong
    host = next(h for h in fleet.status()["hosts"] if h["name"] == "ci-1")
    garbage = fleet.host_dir("ci-1") / "garbage-stat"
    garbage.write_text(GARBAGE_STAT)
    nsenter = ["/usr/bin/nsenter", "-t", str(host["sshd_pid"]), "-m"]
    subprocess.run([*nsenter, "mount", "--bind", str(garbage), "/proc/stat"], check=True)
    try:
        proc, plan = routed(run_playbook, playbook, fleet_gate="cpu<90")
    finally:
        subprocess.run([*nsenter, "umount", "/proc/stat"], check=True)
    # the probe could not measure that one host: unmeasurable, not a failed task (ansible-playbook succeeds);
    # every other host ran
    assert proc.returncode == 0, output(proc)
    assert set(started(fleet)) == {h for h, cpu in CPU.items() if cpu < 90} - {"ci-1"}
    entry = entries(plan)["ci-1"]
    assert entry["status"] == "unmeasurable" and entry["metrics"] is None
    assert entry["reasons"][0].startswith("Cannot parse /proc/stat: the 'cpu' line of /proc/stat holds a non-number")
    verdicts = read_verdicts(routed.plan_file)
    if playbook == "route.yml":
        assert verdicts["ci-1"] == {"status": "unmeasurable", "reason": entry["reasons"][0]}
        assert verdicts["stage-3"]["status"] == "gated" and verdicts["stage-1"] == {"status": "selected", "reason": ""}


@pytest.mark.multiversion
def test_strategy_reprobes_stale_hosts_while_others_run(fleet, routed, ansible_bin, ansible_env):
    # two at a time, each host busy for 2 s: every re-probe but the first happens while other hosts are running
    extra = {
        "fleet_probe_interval": 0.3,
        "fleet_gate": "cpu<50",
        "fleet_parallel": 2,
        "fleet_probe_ttl": 0,
        "fleet_test_busy": 2,
    }
    # stage-2 (45 %, fourth in line) turns busy while stage-1 and web-2 run
    proc, out = run_while_stage2_turns_busy(fleet, routed, ansible_bin, ansible_env, "strategy.yml", extra)
    assert proc.returncode == 0, out[-4000:]
    times = started(fleet)
    assert set(times) == {"stage-1", "web-2", "ci-1"}
    # in plan order, two at a time: web-2 started while stage-1 was busy, so every later re-probe (ci-1's, then
    # stage-2's) ran while another host was in flight
    assert times["stage-1"] <= times["web-2"] <= times["ci-1"]
    assert times["web-2"] < times["stage-1"] + 2
    final = entries(read_plan(routed.plan_file))["stage-2"]
    assert final["status"] == "gated"
    assert final["reasons"][0].startswith("re-probe before dispatch: cpu ")


@pytest.mark.parametrize("playbook", PATHS)
def test_wait_is_timed_by_the_controller_when_host_clocks_step_back(
    fleet, routed, ansible_bin, ansible_env, tmp_path, playbook
):
    if libfaketime() is None:
        pytest.skip("needs the Debian package libfaketime to step a host's clock")
    for host in CPU:
        if host not in ("web-3", "stage-3"):
            fleet.set_load(host, cpu=10)
    stepped = ("web-3", "stage-3")  # web-3's load drops during the wait, stage-3's never does
    for host in stepped:
        fake_clock(fleet, host)
    extra = {"fleet_probe_interval": 0.3, "fleet_gate": "cpu<50", "fleet_gate_mode": "wait", "fleet_gate_timeout": 8}
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra))
    log = tmp_path / "stdout.log"
    waiting_line = "Waiting up to" if playbook == "strategy.yml" else "TASK [Wait for the gated hosts"
    marks: dict[str, float] = {}
    # fresh SSH connections, so every session on the stepped hosts runs with the faked clock
    env = ansible_env | {"FLEET_PLAN_FILE": str(routed.plan_file), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp")}
    try:
        with open(log, "w") as out:
            proc = start_playbook(ansible_bin, fleet, playbook, vars_file, env, out)

            def step_then_drop() -> None:
                wait_for(lambda: waiting_line in log.read_text())
                marks["wait"] = time.monotonic()
                time.sleep(1.0)
                for host in stepped:
                    step_clock(fleet, host, -40)
                time.sleep(2.0)
                fleet.set_load("web-3", cpu=20)
                marks["drop"] = time.monotonic()

            worker = threading.Thread(target=step_then_drop)
            worker.start()
            rc = proc.wait(timeout=120)
            marks["end"] = time.monotonic()
            worker.join()
    finally:
        for host in stepped:
            restore_clock(fleet, host)
    text = log.read_text()
    assert rc == 0, text[-4000:]
    assert set(started(fleet)) == set(CPU) - {"stage-3"}
    by_host = entries(read_plan(routed.plan_file))
    # the wait ends with the gate timeout (8 s), not 40 s later; each reported wait is the controller's
    assert marks["end"] - marks["wait"] < 8 + 10
    dropped_after = marks["drop"] - marks["wait"]
    assert by_host["web-3"]["status"] == "selected"
    assert dropped_after - 0.5 <= by_host["web-3"]["waited"] <= dropped_after + 3
    assert by_host["stage-3"]["status"] == "gated"
    assert by_host["stage-3"]["reasons"][-1] == "still gated after waiting 8s"
    assert 8 <= by_host["stage-3"]["waited"] <= 8 + 3


@pytest.mark.multiversion
def test_route_path_reprobes_stale_hosts_before_they_start(fleet, routed, ansible_bin, ansible_env):
    # two at a time (serial batches), each host busy for 2 s, ttl 0: each host is re-checked as its batch starts
    extra = {
        "fleet_probe_interval": 0.3,
        "fleet_gate": "cpu<50",
        "fleet_parallel": 2,
        "fleet_probe_ttl": 0,
        "fleet_test_busy": 2,
    }
    # stage-2 (45 %, second of the second batch) turns busy while the first batch runs
    proc, out = run_while_stage2_turns_busy(fleet, routed, ansible_bin, ansible_env, "route.yml", extra)
    # the re-check fails the task on stage-2 (reported gated), so ansible-playbook reports a failure
    assert proc.returncode == 2, out[-4000:]
    times = started(fleet)
    assert set(times) == {"stage-1", "web-2", "ci-1"}
    assert times["web-2"] < times["stage-1"] + 2  # the first batch ran two at a time
    assert re.search(r"re-probe before dispatch: cpu \d+(\.\d+)?% >= 50%", out), out[-4000:]
    assert entries(read_plan(routed.plan_file))["stage-2"]["status"] == "selected"  # the plan at probe time


@pytest.mark.multiversion
def test_module_and_one_exec_probe_return_the_same_metrics(fleet, run_playbook, tmp_path):
    fleet.set_load("web-1", cpu=30, mem=40, load=(0.5, 0.4, 0.3), users=[600])
    out = tmp_path / "metrics.json"
    proc = run_playbook(
        TARGET / "same_metrics.yml", extra_vars={"fleet_test_host": "web-1", "fleet_test_out": str(out)}
    )
    assert proc.returncode == 0, output(proc)
    both = json.loads(out.read_text())
    module, one_exec = both["module"], both["exec"]
    assert module.keys() == one_exec.keys()
    assert {k: type(v) for k, v in module.items()} == {k: type(v) for k, v in one_exec.items()}
    for key in ("load1", "load5", "load15", "cpus", "mem", "users", "interval"):
        assert module[key] == one_exec[key], key
    assert (module["load1"], module["mem"], module["users"]) == (0.5, 40.0, 1)
    assert abs(module["cpu"] - 30) <= 1.5 and abs(one_exec["cpu"] - 30) <= 1.5
    assert abs(module["uptime"] - one_exec["uptime"]) < 30
    [by_module], [by_exec] = module["sessions"], one_exec["sessions"]
    assert {k: v for k, v in by_module.items() if k != "idle"} == {k: v for k, v in by_exec.items() if k != "idle"}
    assert 600 <= by_module["idle"] <= 620 and 600 <= by_exec["idle"] <= 620


@pytest.mark.multiversion
@pytest.mark.parametrize(
    ("fleet_vars", "early"),
    [
        pytest.param({}, True, id="order-moot-hosts-start-on-arrival"),
        pytest.param({"fleet_count": 7}, False, id="count-waits-for-every-probe"),
    ],
)
def test_strategy_starts_hosts_on_arrival_only_when_the_order_cannot_matter(
    fleet, routed, ansible_bin, ansible_env, fleet_vars, early
):
    # stage-3's probe hangs (the host is frozen) until it thaws. With a slot for every host and no count, the
    # least-loaded order changes nothing, so the other hosts start without waiting for it; with a count, nobody
    # may start before every host is measured.
    extra = {"fleet_probe_interval": 0.3, "ansible_ssh_timeout": 60, **fleet_vars}
    vars_file = routed.plan_file.with_name("vars.json")
    vars_file.write_text(json.dumps(extra))
    fleet.fault("stage-3", "freeze")
    try:
        proc = start_playbook(
            ansible_bin,
            fleet,
            "strategy.yml",
            vars_file,
            ansible_env | {"FLEET_PLAN_FILE": str(routed.plan_file)},
            subprocess.PIPE,
        )
        others = set(CPU) - {"stage-3"}
        deadline = time.monotonic() + (40 if early else 4)
        while set(started(fleet)) != others and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        while_frozen = set(started(fleet))
        announced_early = routed.plan_file.exists()
    finally:
        fleet.fault("stage-3", "thaw")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-4000:]
    assert not announced_early, f"the plan was announced before stage-3 was measured\n{out[-4000:]}"
    if early:
        assert while_frozen == others, out[-4000:]
        assert set(started(fleet)) == set(CPU)
    else:
        assert while_frozen == set(), out[-4000:]
        assert set(started(fleet)) == set(ASCENDING[:7])
    plan = entries(read_plan(routed.plan_file))
    assert set(plan) == set(CPU)
    assert plan["stage-3"]["status"] == ("selected" if early else "not_selected")


@pytest.mark.multiversion
@pytest.mark.parametrize("fleet_vars", [{}, {"fleet_count": 7}], ids=["on-arrival", "fleet-wide-probe"])
def test_strategy_reports_a_host_it_cannot_reach_and_runs_the_others(fleet, routed, run_playbook, fleet_vars):
    # the probe is the first contact with a host: a host whose sshd is down is unreachable there, as for any task,
    # and the plan says why it runs nothing
    fleet.fault("stage-3", "stop")
    proc, plan = routed(run_playbook, "strategy.yml", **fleet_vars)
    assert proc.returncode == 4, output(proc)  # ansible-playbook's exit code for an unreachable host
    assert re.search(r"stage-3\s+: ok=0 .*unreachable=1", proc.stdout), output(proc)
    expected = set(ASCENDING[:7]) if fleet_vars else set(CPU) - {"stage-3"}
    assert set(started(fleet)) == expected
    entry = entries(plan)["stage-3"]
    assert entry["status"] == "unmeasurable" and entry["reasons"][0].startswith("unreachable: "), entry
