"""Benchmark the fleet pipeline: a 5-step chain workflow vs 5 runs vs clush 5 times, on 16 and 64 sandbox hosts.

Same run, same hosts, same fan-out; `true` as every step:

- ``azlin-fleet workflow chain5.yaml --all`` (one ansible-playbook; each host walks its own 5-step chain),
- ``azlin-fleet run true --all`` five times in a row (five ansible-playbook runs),
- ClusterShell ``clush -w <hosts> true`` five times (the floor: one SSH command per host per step).

Controller CPU is user+sys of the whole process tree: the children waited for (ansible-playbook, its workers,
clush's ssh) plus the SSH ControlMaster processes a run leaves behind (read from /proc before they are closed),
because the sandbox hosts share the machine's cores and CPU per host is the fair scale figure. Prints wall and CPU
per tool and size, CPU per host per step, and the ratios the pipeline issue sets as goals:

- workflow wall / 5 runs wall <= 1.0,
- workflow CPU per host per step at 64 hosts / at 16 hosts <= 1.2 (linear, not quadratic),
- workflow CPU per host per step / clush's <= 1.5.

    .venv/bin/python benchmarks/bench_pipeline.py [--sizes 16,64] [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
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

from azlin_fleet_sandbox import Sandbox  # noqa: E402

STEPS = 5
CHAIN = "name: chain5\nsteps:\n" + "".join(
    f"  - name: s{i}\n    command: 'true'\n" + (f"    requires: [s{i - 1}]\n" if i > 1 else "")
    for i in range(1, STEPS + 1)
)
GOALS = {
    "workflow / 5 runs (wall)": 1.0,
    "workflow CPU/host/step 64 / 16": 1.2,
    "workflow / clush (CPU/host/step)": 1.5,
}
TICK = os.sysconf("SC_CLK_TCK")


def leftover_cpu(marker: str) -> float:
    """CPU seconds of live processes whose command line names ``marker`` (SSH ControlMasters); then stop them."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if marker not in cmd:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
            os.kill(int(proc.name), signal.SIGTERM)
        except (OSError, ValueError):
            continue
    return total


def measure(commands: list[list[str]], env: dict[str, str], cwd: Path, marker: str) -> tuple[float, float]:
    """(wall seconds, controller CPU seconds) of running ``commands`` one after the other."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for command in commands:
        result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit(f"bench_pipeline: {' '.join(command[:3])} failed (rc {result.returncode}):\n"
                     f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + leftover_cpu(marker)
    return wall, cpu


def bench_size(hosts: int, rounds: int, work: Path) -> dict[str, tuple[float, float]]:
    sandbox = Sandbox(work / f"sandbox-{hosts}")
    print(f"\nstarting {hosts} sandbox hosts ...", flush=True)
    sandbox.up(hosts=hosts, azure=False)
    try:
        names = [host.name for host in sandbox.hosts()]
        chain = work / "chain5.yaml"
        chain.write_text(CHAIN)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "AZLIN_FLEET_"))}
        base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
        fanout = "16"  # azlin-fleet's default forks; clush gets the same fan-out
        common = ["--all", "-i", str(sandbox.hosts_yml), "--report-dir", str(work / "reports")]
        tools = {
            "workflow": [[str(BIN / "azlin-fleet"), "workflow", str(chain), *common]],
            "5 runs": [[str(BIN / "azlin-fleet"), "run", "true", *common]] * STEPS,
            "clush x5": [[str(BIN / "clush"), "-w", ",".join(names), "-f", fanout, "-o", f"-F {sandbox.ssh_config}",
                          "true"]] * STEPS,
        }
        results: dict[str, list[tuple[float, float]]] = {tool: [] for tool in tools}
        order = list(tools)
        for number in range(1, rounds + 1):
            for tool in order:
                control = work / f"cp-{hosts}-{tool.replace(' ', '')}-{number}"
                control.mkdir()
                env = dict(base, ANSIBLE_SSH_CONTROL_PATH_DIR=str(control), HOME=str(work / "home"))
                Path(env["HOME"]).mkdir(exist_ok=True)
                results[tool].append(measure(tools[tool], env, work, str(control)))
            print(f"  round {number}: " + "  ".join(
                f"{t} {results[t][-1][0]:.2f}s wall {results[t][-1][1]:.2f}s cpu" for t in tools), flush=True)
            order = order[1:] + order[:1]
        return {t: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for t, r in results.items()}
    finally:
        sandbox.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,64")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (reports)")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="azlin-bench-pipeline-"))
    try:
        medians = {size: bench_size(size, options.rounds, work) for size in sizes}
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\nmedians (wall s, controller CPU s, CPU ms per host per step):")
    per_step: dict[tuple[int, str], float] = {}
    for size, tools in medians.items():
        for tool, (wall, cpu) in tools.items():
            per_step[(size, tool)] = 1000 * cpu / (size * STEPS)
            print(f"  {size:4d} hosts  {tool:9s} wall {wall:6.2f}  cpu {cpu:6.2f}  {per_step[(size, tool)]:6.1f} ms")
    ratios = {}
    big, small = max(sizes), min(sizes)
    ratios["workflow / 5 runs (wall)"] = max(medians[s]["workflow"][0] / medians[s]["5 runs"][0] for s in sizes)
    if big != small:
        ratios["workflow CPU/host/step 64 / 16"] = per_step[(big, "workflow")] / per_step[(small, "workflow")]
    ratios["workflow / clush (CPU/host/step)"] = per_step[(big, "workflow")] / per_step[(big, "clush x5")]
    print("ratios (same run):")
    for name, value in ratios.items():
        goal = GOALS[name]
        print(f"  {name}: {value:.2f} (goal <= {goal}) {'OK' if value <= goal else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
