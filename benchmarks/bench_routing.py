"""Benchmark: wall time of azlin.fleet.least_loaded (probe included) vs the builtin free strategy.

Runs a trivial command on the sandbox's hosts with the same forks, alternating the two strategies in one run,
and prints each repetition with its wall time and controller CPU (user+sys of the whole process tree, SSH
ControlPersist masters included: see bench_smart_route.py), the median ratio, the probe time per host (from
v2_runner_on_start to the result of the probe task, as seen by a timing callback), the probe phase's wall time and
the sampling interval. Each run gets a fresh SSH ControlPath directory, so both strategies pay their handshakes.

    .venv/bin/python benchmarks/bench_routing.py [--hosts 16] [--reps 5] [--interval 0.4] [--command true] [--keep]

Uses its own sandbox state dir and identity (.sandbox-bench-routing, prefix azr, subnet 10.213.214) so it never
touches the test or demo sandboxes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_smart_route import become_subreaper, cpu_of_children, reap_adopted

from azlin_fleet_sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]
STATE_DIR = REPO / ".sandbox-bench-routing"
sys.path.insert(0, str(REPO / ".build" / "collections"))

from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import RouteSettings  # noqa: E402

PLAY = """---
- name: Trivial command ({strategy})
  hosts: all
  gather_facts: false
  strategy: {strategy}
  tasks:
    - name: Run the command
      ansible.builtin.command: {command}
      changed_when: false
"""

TIMING_CALLBACK = """
from __future__ import annotations
import json, os, time
from ansible.plugins.callback import CallbackBase

class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.starts, self.probes, self.phase = {}, [], [None, None]

    def v2_runner_on_start(self, host, task):
        if "Probe host metrics" in task.get_name():
            self.starts[host.name] = time.monotonic()
            self.phase[0] = self.phase[0] or time.monotonic()

    def v2_runner_on_ok(self, result):
        name = result.host.name
        if "Probe host metrics" in result.task.get_name() and name in self.starts:
            self.probes.append(time.monotonic() - self.starts.pop(name))
            self.phase[1] = time.monotonic()

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_TIMING_FILE")
        if path and self.probes:
            with open(path, "w") as handle:
                json.dump({"probes": self.probes, "phase": self.phase[1] - self.phase[0]}, handle)
"""


def run_once(playbook: Path, hosts_yml: Path, forks: int, extra: dict, timing: Path) -> tuple[float, float]:
    """Wall time and controller CPU (user+sys of the process tree) of one ansible-playbook run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env |= {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "BENCH_TIMING_FILE": str(timing),
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": tempfile.mkdtemp(prefix="cp-", dir=timing.parent),
    }
    cmd = [
        str(REPO / ".venv" / "bin" / "ansible-playbook"),
        "-i",
        str(hosts_yml),
        "-f",
        str(forks),
        "-e",
        json.dumps(extra),
        str(playbook),
    ]
    cpu_before = cpu_of_children()
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, check=False)
    elapsed = time.monotonic() - started
    reap_adopted()
    cpu = cpu_of_children() - cpu_before
    if proc.returncode != 0:
        sys.exit(
            f"bench_routing: {playbook.name} failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}"
        )
    return elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--forks", type=int, default=16)
    parser.add_argument(
        "--interval",
        type=float,
        default=RouteSettings().probe_interval,
        help="fleet_probe_interval (CPU sample), seconds; default: the product's default",
    )
    parser.add_argument("--command", default="true", help="command each host runs (default: the trivial 'true')")
    parser.add_argument("--keep", action="store_true", help="leave the benchmark sandbox up afterwards")
    args = parser.parse_args(argv)

    become_subreaper()
    box = Sandbox(STATE_DIR, prefix="azr", net=214)
    started_here = not box.status().get("up")
    if started_here:
        box.up(hosts=args.hosts, azure=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "callback_plugins").mkdir()
            (work / "callback_plugins" / "bench_timing.py").write_text(TIMING_CALLBACK)
            plays = {}
            for label, strategy in (("free", "ansible.builtin.free"), ("least_loaded", "azlin.fleet.least_loaded")):
                plays[label] = work / f"{label}.yml"
                plays[label].write_text(PLAY.format(strategy=strategy, command=json.dumps(args.command)))
            extra = {"fleet_probe_interval": args.interval}
            timing = work / "timing.json"
            # warm-up: imports and byte-code caches for both, not measured
            for label in plays:
                run_once(plays[label], box.hosts_yml, args.forks, extra, timing)
            walls: dict[str, list[float]] = {"free": [], "least_loaded": []}
            cpus: dict[str, list[float]] = {"free": [], "least_loaded": []}
            probes: list[float] = []
            phases: list[float] = []
            for rep in range(args.reps):
                order = ("free", "least_loaded") if rep % 2 == 0 else ("least_loaded", "free")
                for label in order:
                    timing.unlink(missing_ok=True)
                    wall, cpu = run_once(plays[label], box.hosts_yml, args.forks, extra, timing)
                    walls[label].append(wall)
                    cpus[label].append(cpu)
                    if label == "least_loaded":
                        data = json.loads(timing.read_text())
                        probes += data["probes"]
                        phases.append(data["phase"])
                print(
                    f"rep {rep + 1}: free {walls['free'][-1]:.2f}s (cpu {cpus['free'][-1]:.2f}s)  "
                    f"least_loaded {walls['least_loaded'][-1]:.2f}s (cpu {cpus['least_loaded'][-1]:.2f}s)",
                    flush=True,
                )
    finally:
        if started_here and not args.keep:
            box.down()
    free, routed = statistics.median(walls["free"]), statistics.median(walls["least_loaded"])
    print(f"hosts={args.hosts} forks={args.forks} reps={args.reps} command={args.command!r}")
    print(f"median wall time: free {free:.2f}s, least_loaded {routed:.2f}s")
    free_cpu, routed_cpu = statistics.median(cpus["free"]), statistics.median(cpus["least_loaded"])
    print(
        f"median controller CPU (user+sys, process tree): free {free_cpu:.2f}s, least_loaded {routed_cpu:.2f}s "
        f"(ratio {routed_cpu / free_cpu:.3f})"
    )
    print(f"ratio least_loaded/free (median): {routed / free:.3f} (goal <= 1.15)")
    # what routing adds, beside the one thing it cannot avoid: the CPU sampling window of the probe
    print(f"routing adds {routed - free:.2f}s of wall time per run (the sampling interval is {args.interval:g}s)")
    print(
        f"probe time per host: median {statistics.median(probes):.3f}s, max {max(probes):.3f}s "
        f"(interval {args.interval:g}s included); probe phase wall time median {statistics.median(phases):.3f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
