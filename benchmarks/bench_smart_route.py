"""Benchmark: what routing adds to a run. `azlin-fleet run true --all --smart-route` vs `azlin-fleet run true --all`.

For each size (default 16 and 64 hosts) it starts its own sandbox, then alternates the two commands for a few
rounds and prints, per run, the wall time and the controller CPU (user+sys) of the whole process tree: the CLI,
ansible-playbook, its workers, their ssh clients and the SSH ControlPersist masters (which detach from the tree; this
process adopts them as a child subreaper, closes them after each run and reaps them, so their CPU is counted).
Each run gets a fresh ControlPath directory, so both commands pay their own SSH handshakes.

Goals (issue 11): the routed run adds <= interval + 0.5 s of wall time at 16 hosts, and its controller CPU is
<= 1.3x the plain run's at every size.

    .venv/bin/python benchmarks/bench_smart_route.py [--sizes 16 64] [--rounds 3]

Sandbox state lives in .sandbox-bench-smart-route-<size> (own prefix and network), never the test or demo ones.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "src"))

sys.path.insert(0, str(ROOT / ".build" / "collections"))

from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import RouteSettings  # noqa: E402
from azlin_fleet_sandbox import Sandbox  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
GOAL_EXTRA_WALL = 0.5  # seconds on top of one sampling interval, at 16 hosts
GOAL_CPU_RATIO = 1.3
NET = 215  # subnet 10.213.<NET + size % 20>


def become_subreaper() -> None:
    """Adopt orphaned descendants (ControlPersist masters), so their CPU reaches RUSAGE_CHILDREN when reaped."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"bench_smart_route: prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}")


def reap_adopted() -> None:
    """Stop the adopted SSH masters of the last run and reap them (their CPU then counts for this process)."""
    me = str(os.getpid())
    adopted = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # only the SSH masters: the sandbox's own sshd processes are children of this process too
            if stat.rpartition(")")[2].split()[1] == me and stat.split("(", 1)[1].startswith("ssh)"):
                adopted.append(int(entry.name))
    for pid in adopted:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in adopted:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall time and controller CPU (user+sys of the process tree) of one command; a failure aborts."""
    cpu_before = cpu_of_children()
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    reap_adopted()
    cpu = cpu_of_children() - cpu_before
    if result.returncode != 0:
        sys.exit(
            f"bench_smart_route: {' '.join(command[:4])} failed (rc {result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
        )
    return wall, cpu


def measure(size: int, rounds: int, work: Path) -> dict[str, tuple[float, float]]:
    # an explicit identity (prefix, subnet): the benchmark never takes over another checkout's sandbox
    sandbox = Sandbox(ROOT / f".sandbox-bench-smart-route-{size}", prefix=f"azs{size % 10}", net=NET + size % 20)
    print(f"\n== {size} hosts: starting the sandbox in {sandbox.state_dir} ...", flush=True)
    sandbox.down()
    sandbox.up(hosts=size, azure=False)
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "AZLIN_FLEET_"))}
        base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
        base["HOME"] = str(work / "home")
        Path(base["HOME"]).mkdir(exist_ok=True)
        plain = [
            str(BIN / "azlin-fleet"),
            "run",
            "true",
            "--all",
            "-i",
            str(sandbox.hosts_yml),
            "--report-dir",
            str(work / "reports"),
        ]
        commands = {"plain": plain, "routed": [*plain, "--smart-route"]}
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        order = list(commands)
        # one warm-up each (imports, byte-code caches), not counted
        for label in order:
            control = Path(tempfile.mkdtemp(prefix="cp-", dir=work))
            timed(commands[label], dict(base, ANSIBLE_SSH_CONTROL_PATH_DIR=str(control)), work)
        for number in range(1, rounds + 1):
            for label in order:
                control = Path(tempfile.mkdtemp(prefix="cp-", dir=work))
                env = dict(base, ANSIBLE_SSH_CONTROL_PATH_DIR=str(control))
                samples[label].append(timed(commands[label], env, work))
            print(
                f"round {number}: "
                + "  ".join(
                    f"{label} wall {samples[label][-1][0]:.2f}s cpu {samples[label][-1][1]:.2f}s" for label in commands
                ),
                flush=True,
            )
            order.reverse()
        return {
            label: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
            for label, runs in samples.items()
        }
    finally:
        sandbox.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    interval = RouteSettings().probe_interval  # the CLI does not set it: the default is what users get
    become_subreaper()
    work = Path(tempfile.mkdtemp(prefix="azlin-bench-smart-route-"))
    results = {}
    try:
        for size in options.sizes:
            results[size] = measure(size, options.rounds, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmedians (interval {interval:g}s; controller CPU = user+sys of the whole process tree):")
    for size, medians in results.items():
        (p_wall, p_cpu), (r_wall, r_cpu) = medians["plain"], medians["routed"]
        extra, ratio = r_wall - p_wall, r_cpu / p_cpu
        wall_goal = interval + GOAL_EXTRA_WALL
        wall_verdict = ("OK" if extra <= wall_goal else "MISSED") if size == 16 else "(goal at 16 hosts only)"
        print(
            f"  {size:>3} hosts: plain wall {p_wall:.2f}s cpu {p_cpu:.2f}s | routed wall {r_wall:.2f}s cpu {r_cpu:.2f}s"
            f" | extra wall {extra:+.2f}s (goal <= {wall_goal:.2f}s) {wall_verdict}"
            f" | cpu ratio {ratio:.2f} (goal <= {GOAL_CPU_RATIO}) {'OK' if ratio <= GOAL_CPU_RATIO else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
