"""Benchmark the azlin-fleet CLI: one trivial command on 16 sandbox hosts, against plain ansible and clush.

Same run, same hosts, same fan-out (16):

- ``azlin-fleet run true --all --parallel 16`` (the whole CLI: validation, ansible-playbook azlin.fleet.run with
  the report callback, report files, exit code),
- ``ansible all -m command -a true -f 16`` with ansible-core's defaults (no ansible.cfg; no pipelining),
- ClusterShell ``clush -w <hosts> -f 16 -o '-F <ssh_config>' true`` (the floor: one SSH command per host).

Rounds alternate the order of the three tools; each tool has its own SSH ControlPath dir so no tool reuses
another's connections. Prints every round, the medians and both ratios. Goals: azlin-fleet / ansible <= 1.0,
azlin-fleet / clush <= 3.0.

    .venv/bin/python benchmarks/bench_cli.py [--hosts 16] [--rounds 5] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
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

GOAL_VS_ANSIBLE = 1.0
GOAL_VS_CLUSH = 3.0


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall time of one command; a failing command aborts the benchmark (a fast failure proves nothing)."""
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        output = f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        sys.exit(f"bench_cli: {command[0]} failed (rc {result.returncode}):\n{output}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the sandbox running")
    parser.add_argument("--command", default="true", help="the command every tool runs (default: true)")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="azlin-bench-cli-"))
    sandbox = Sandbox(work / "sandbox")
    print(f"starting {options.hosts} sandbox hosts in {sandbox.state_dir} ...", flush=True)
    sandbox.up(hosts=options.hosts, azure=False)
    try:
        names = [host.name for host in sandbox.hosts()]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "AZLIN_FLEET_"))}
        base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
        envs = {}
        for tool in ("azlin-fleet", "ansible", "clush"):
            control = work / f"cp-{tool}"
            control.mkdir()
            envs[tool] = dict(base, ANSIBLE_SSH_CONTROL_PATH_DIR=str(control), HOME=str(work / f"home-{tool}"))
            Path(envs[tool]["HOME"]).mkdir()
        # clush's ssh gets the sandbox's ssh_config (known_hosts, key, strict host key checking).
        commands = {
            "azlin-fleet": [
                str(BIN / "azlin-fleet"),
                "run",
                options.command,
                "--all",
                "--parallel",
                "16",
                "-i",
                str(sandbox.hosts_yml),
                "--report-dir",
                str(work / "reports"),
            ],
            "ansible": [
                str(BIN / "ansible"),
                "all",
                "-i",
                str(sandbox.hosts_yml),
                "-m",
                "command",
                "-a",
                options.command,
                "-f",
                "16",
            ],
            "clush": [
                str(BIN / "clush"),
                "-w",
                ",".join(names),
                "-f",
                "16",
                "-o",
                f"-F {sandbox.ssh_config}",
                options.command,
            ],
        }
        print(f"hosts: {len(names)}; fan-out 16; rounds: {options.rounds}")
        for tool, command in commands.items():
            print(f"  {tool}: {' '.join(command)}")
        times: dict[str, list[float]] = {tool: [] for tool in commands}
        order = list(commands)
        for round_number in range(1, options.rounds + 1):
            for tool in order:
                times[tool].append(timed(commands[tool], envs[tool], work))
            print(f"round {round_number}: " + "  ".join(f"{t} {times[t][-1]:.2f}s" for t in commands), flush=True)
            order = order[1:] + order[:1]
        median = {tool: statistics.median(values) for tool, values in times.items()}
        print("median: " + "  ".join(f"{t} {median[t]:.2f}s" for t in commands))
        vs_ansible = median["azlin-fleet"] / median["ansible"]
        vs_clush = median["azlin-fleet"] / median["clush"]
        print(
            f"ratio azlin-fleet / ansible (defaults): {vs_ansible:.2f} (goal <= {GOAL_VS_ANSIBLE})"
            f" {'OK' if vs_ansible <= GOAL_VS_ANSIBLE else 'MISSED'}"
        )
        print(
            f"ratio azlin-fleet / clush: {vs_clush:.2f} (goal <= {GOAL_VS_CLUSH})"
            f" {'OK' if vs_clush <= GOAL_VS_CLUSH else 'MISSED'}"
        )
    finally:
        if not options.keep:
            sandbox.down()
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
