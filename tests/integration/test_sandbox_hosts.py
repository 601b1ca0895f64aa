"""Acceptance of the sandbox fleet, over real SSH and a real ansible-playbook run (host-key checking on).

Each host: its own hostname, /proc/loadavg, /proc/stat (CPU % from two samples), /proc/meminfo and utmp, set
live; the controller's real /proc untouched; faults (stop -> refused, cut -> timeout, unreadable -> reading
/proc/stat fails); down removes everything, also after a crash.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from azlin_fleet_sandbox import Sandbox, SandboxError

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(__file__).parent / "targets" / "sandbox" / "playbooks" / "check_hosts.yml"

# Runs on a host: everything a probe would read, as JSON. CPU % from two /proc/stat samples 1 s apart;
# users' idle seconds from the USER_PROCESS records of /run/utmp (ut_type at 0, ut_tv.tv_sec at 340).
PROBE = r"""
import json, socket, struct, time
def sample():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]), v[3] + v[4]
t0, i0 = sample(); time.sleep(1.0); t1, i1 = sample()
with open("/proc/stat") as f:
    cpus = sum(1 for line in f if line.startswith("cpu") and line[3].isdigit())
mem = {line.split(":")[0]: int(line.split()[1]) for line in open("/proc/meminfo")}
data = open("/run/utmp", "rb").read()
idle = [round(time.time() - struct.unpack_from("<i", data, o + 340)[0])
        for o in range(0, len(data), 384) if struct.unpack_from("<h", data, o)[0] == 7]
print(json.dumps({"hostname": socket.gethostname(), "loadavg": open("/proc/loadavg").read().split(),
                  "cpu": 100 * (1 - (i1 - i0) / (t1 - t0)), "cpus": cpus,
                  "mem": 100 * (1 - mem["MemAvailable"] / mem["MemTotal"]), "idle": idle}))
"""


def ssh(
    box: Sandbox, host: str, command: str, *, stdin: str | None = None, timeout: int = 5
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-F", str(box.ssh_config), "-o", f"ConnectTimeout={timeout}", host, command],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout + 20,
        check=False,
    )


def probe_all(box: Sandbox, names: list[str]) -> dict[str, dict]:
    def one(name: str) -> dict:
        proc = ssh(box, name, "/usr/bin/python3 -", stdin=PROBE)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        return json.loads(proc.stdout)

    with ThreadPoolExecutor(len(names)) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def distinct_loads(box: Sandbox) -> dict[str, dict]:
    """Give every host different values; return what each should show."""
    expected = {}
    for i, host in enumerate(box.hosts()):
        cpu, mem = 7.0 + 11 * i, 15.5 + 9 * i
        load = (round(0.25 + 0.5 * i, 2), round(0.2 + 0.3 * i, 2), round(0.1 + 0.2 * i, 2))
        users = [30 * (i + 1), 1200][: i % 3]
        box.set_load(host.name, cpu=cpu, load=load, mem=mem, users=users)
        expected[host.name] = {
            "cpu": cpu,
            "mem": mem,
            "loadavg": [f"{v:.2f}" for v in load],
            "users": users,
            "cpus": host.cpus,
        }
    return expected


def test_each_host_has_its_own_hostname_and_view_of_proc(fleet: Sandbox) -> None:
    expected = distinct_loads(fleet)
    seen = probe_all(fleet, list(expected))
    assert sorted(s["hostname"] for s in seen.values()) == sorted(expected)
    for name, want in expected.items():
        got = seen[name]
        assert got["hostname"] == name
        assert got["loadavg"][:3] == want["loadavg"], name
        assert got["cpu"] == pytest.approx(want["cpu"], abs=2), name
        assert got["cpus"] == want["cpus"], name
        assert got["mem"] == pytest.approx(want["mem"], abs=0.01), name
        assert got["idle"] == pytest.approx(want["users"], abs=2), name


def test_a_live_change_shows_within_half_a_second(fleet: Sandbox) -> None:
    assert ssh(fleet, "stage-2", "cat /proc/loadavg").stdout.split()[:3] == ["0.05", "0.04", "0.01"]
    started = time.monotonic()
    fleet.set_load("stage-2", load=(3.25, 2.5, 1.75), cpu=81, users=[5])
    assert time.monotonic() - started < 0.5
    proc = ssh(fleet, "stage-2", "cat /proc/loadavg; who | wc -l")
    assert proc.stdout.split()[:3] == ["3.25", "2.50", "1.75"]
    assert proc.stdout.split()[-1] == "1"
    assert probe_all(fleet, ["stage-2"])["stage-2"]["cpu"] == pytest.approx(81, abs=2)


def test_the_machines_real_proc_is_untouched(fleet: Sandbox) -> None:
    fleet.set_load("web-1", load=(7.77, 6.66, 5.55), mem=99)
    real_loadavg = Path("/proc/loadavg").read_text().split()
    assert real_loadavg[:3] != ["7.77", "6.66", "5.55"]
    real_cpus = sum(
        1 for line in Path("/proc/stat").read_text().splitlines() if line[:3] == "cpu" and line[3].isdigit()
    )
    assert real_cpus == os.cpu_count()
    real_total = int(Path("/proc/meminfo").read_text().split()[1])
    assert real_total == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 1024
    assert ssh(fleet, "web-1", "head -1 /proc/meminfo").stdout.split()[1] != str(real_total)
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    assert not {"/proc/stat", "/proc/loadavg", "/proc/meminfo", "/run/utmp"} & set(mounts)
    assert os.uname().nodename not in {h.name for h in fleet.hosts()}


@pytest.mark.multiversion
def test_ansible_playbook_reaches_every_host_with_host_key_checking(fleet: Sandbox, run_playbook) -> None:
    expected = distinct_loads(fleet)
    proc = run_playbook(PLAYBOOK, extra_vars={"fleet_expected": expected})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recap = proc.stdout.split("PLAY RECAP", 1)[1]
    for name in expected:
        assert f"{name} " in recap
    assert recap.count("failed=0") == len(expected) and recap.count("unreachable=0") == len(expected)


def test_an_unknown_host_key_is_refused(fleet: Sandbox, run_ansible, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    proc = run_ansible(
        [
            "ansible",
            "-i",
            str(fleet.hosts_yml),
            "ci-1",
            "-m",
            "ansible.builtin.ping",
            "-e",
            f"ansible_ssh_common_args='-o UserKnownHostsFile={empty} -o StrictHostKeyChecking=yes'",
        ],
        # a fresh connection: a persisted one (ControlPersist) would skip the host-key check
        env={"ANSIBLE_SSH_ARGS": "-o ControlMaster=no"},
    )
    assert proc.returncode != 0
    assert "Host key verification failed" in proc.stdout + proc.stderr


def test_stop_refuses_connections_and_start_brings_sshd_back(fleet: Sandbox) -> None:
    fleet.fault("web-3", "stop")
    proc = ssh(fleet, "web-3", "true", timeout=3)
    assert proc.returncode == 255 and "Connection refused" in proc.stderr
    assert ssh(fleet, "web-2", "hostname").stdout == "web-2\n"
    assert fleet.status()["hosts"][2]["sshd"] == "stopped"
    fleet.fault("web-3", "start")
    assert ssh(fleet, "web-3", "hostname").stdout == "web-3\n"


def test_cut_makes_connections_time_out_and_restore_reconnects(fleet: Sandbox, run_ansible) -> None:
    ping = ["ansible", "-i", str(fleet.hosts_yml), "ci-2", "-m", "ansible.builtin.ping"]
    assert run_ansible(ping).returncode == 0  # leaves a persisted (ControlPersist) connection behind
    fleet.fault("ci-2", "cut")
    started = time.monotonic()
    proc = run_ansible(ping, env={"ANSIBLE_TIMEOUT": "2"})
    assert proc.returncode == 4 and "UNREACHABLE" in proc.stdout, proc.stdout + proc.stderr
    assert time.monotonic() - started < 10
    started = time.monotonic()
    proc = ssh(fleet, "ci-2", "true", timeout=2)
    assert proc.returncode == 255 and "timed out" in proc.stderr, proc.stderr
    assert time.monotonic() - started >= 1.9
    assert ssh(fleet, "ci-1", "hostname").stdout == "ci-1\n"
    fleet.fault("ci-2", "restore")
    assert ssh(fleet, "ci-2", "hostname").stdout == "ci-2\n"


def test_unreadable_probe_files_fail_to_read_even_for_root(fleet: Sandbox) -> None:
    fleet.fault("stage-1", "unreadable")
    proc = ssh(fleet, "stage-1", "id -u; cat /proc/stat")
    assert proc.stdout.startswith("0\n") and "/proc/stat: Permission denied" in proc.stderr
    proc = ssh(fleet, "stage-1", "python3 -c 'open(\"/proc/loadavg\").read()'")
    assert "PermissionError" in proc.stderr
    assert ssh(fleet, "stage-2", "head -c 4 /proc/stat").stdout == "cpu "
    # A restarted sshd keeps the fault; readable undoes it.
    fleet.fault("stage-1", "stop")
    fleet.fault("stage-1", "start")
    assert "Permission denied" in ssh(fleet, "stage-1", "cat /proc/meminfo").stderr
    fleet.fault("stage-1", "readable")
    assert ssh(fleet, "stage-1", "head -c 4 /proc/stat").stdout == "cpu "


def test_reset_clears_every_fault_and_load_and_revives_the_driver(fleet: Sandbox) -> None:
    fleet.fault("web-1", "stop")
    fleet.fault("web-2", "cut")
    fleet.fault("ci-1", "unreadable")
    fleet.set_load("ci-2", cpu=90, load=(4, 4, 4), mem=95, users=[0])
    os.kill(fleet.status()["driver"]["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while fleet.status()["driver"]["running"] and time.monotonic() < deadline:
        time.sleep(0.01)
    fleet.reset()
    status = {h["name"]: h for h in fleet.status()["hosts"]}
    assert {(h["sshd"], h["network"], h["probe_files"]) for h in status.values()} == {("running", "ok", "readable")}
    assert status["ci-2"]["load"] == {"cpu": 5.0, "load": [0.05, 0.04, 0.01], "mem": 30.0, "users": []}
    assert fleet.status()["driver"]["running"]
    seen = probe_all(fleet, ["web-1", "web-2", "ci-1", "ci-2"])
    assert {s["hostname"] for s in seen.values()} == {"web-1", "web-2", "ci-1", "ci-2"}
    assert seen["ci-2"]["cpu"] == pytest.approx(5, abs=2) and seen["ci-2"]["idle"] == []


def test_each_host_has_private_tmp_and_root(fleet: Sandbox) -> None:
    marker = f"/tmp/sandbox-marker-{os.getpid()}"
    assert ssh(fleet, "web-1", f"echo from-web-1 > {marker}; echo x > /root/.sandbox-marker").returncode == 0
    assert fleet.host_path("web-1", marker).read_text() == "from-web-1\n"
    assert fleet.host_path("web-1", "/root/.sandbox-marker").exists()
    assert ssh(fleet, "web-2", f"test -e {marker}").returncode == 1
    assert not Path(marker).exists()


def test_up_while_up_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError, match="is already up"):
        sandbox.up(hosts=2, azure=False)
    assert ssh(sandbox, "web-1", "hostname").stdout == "web-1\n"


def test_sixteen_hosts_then_down_leaves_nothing_even_after_a_crash(run_ansible, sandbox_remains) -> None:
    state_dir = REPO / ".sandbox-test-down"
    # prefix and net outside the hashed ranges (letters bcdeg..., nets 2-251), so no other sandbox is touched
    box = Sandbox(state_dir, prefix="azo", net=252)
    box.down()
    started = time.monotonic()
    box.up(hosts=16, azure=False)
    assert time.monotonic() - started < 10
    try:
        names = [h.name for h in box.hosts()]
        assert len(names) == 16 and names[-1] == "node-16"
        proc = run_ansible(
            ["ansible", "-i", str(box.hosts_yml), "all", "-f", "16", "-m", "ansible.builtin.command", "-a", "hostname"]
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert sorted(line.split()[0] for line in proc.stdout.splitlines() if "| CHANGED |" in line) == sorted(names)
        # Leave things behind as a crash would: a session process, a fault mount, a dead driver, no Popen handles.
        assert ssh(box, "node-9", "nohup sleep 600 >/dev/null 2>&1 &").returncode == 0
        box.fault("node-10", "unreadable")
        box.fault("node-11", "cut")
        os.kill(json.loads((state_dir / "state.json").read_text())["driver_pid"], signal.SIGKILL)
    finally:
        Sandbox(state_dir).down()
    assert sandbox_remains(state_dir, "azo") == []
    Sandbox(state_dir).down()  # idempotent
    assert sorted(p.name for p in state_dir.iterdir()) == [".lock"]
