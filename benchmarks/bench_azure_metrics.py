"""Benchmark Azure Monitor gating: CPU of 1,000 VMs through azlin.fleet.azure_metrics (metrics:getBatch), no SSH.

Starts the local Azure endpoint in scale mode (1,000 running VMs over 2 subscriptions, one region each), then runs
two playbooks on localhost against the azure_pools inventory of those VMs, in the same run:

- baseline: the same inventory and play with a no-op task (inventory listing, Ansible start-up);
- gated: azure_metrics reads Percentage CPU of every VM and the play counts the hosts passing ``cpu<50``.

It prints the number of getBatch calls the endpoint answered (goal: <= 25, i.e. 50 VMs per call per subscription
and region), wall time and controller CPU (user+sys) of each playbook, and the ratios gated / baseline.

    .venv/bin/python benchmarks/bench_azure_metrics.py [--vms 1000] [--subscriptions 2]
        [--client auto|querymetrics|pipeline] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from azlin_fleet_sandbox.arm import ArmAdmin, launch, stop  # noqa: E402
from azlin_fleet_sandbox.arm.files import plugin_options  # noqa: E402

CALL_GOAL = 25


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_playbook(playbook: Path, inventory: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU user+sys) of one ansible-playbook run; fails loudly on a non-zero exit."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    cpu = children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return wall, children_cpu() - cpu


def play(tasks: list) -> list:
    return [{"name": "Gate the fleet on Azure Monitor", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--subscriptions", type=int, default=2)
    parser.add_argument("--client", choices=("auto", "querymetrics", "pipeline"), default="auto")
    parser.add_argument("--keep", type=Path, help="keep the state and output files in this directory")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-azure-metrics-"))
    work.mkdir(parents=True, exist_ok=True)
    state = work / "state"
    print(f"starting the local Azure endpoint: {args.vms} VMs in {args.subscriptions} subscriptions ...")
    endpoint = launch(state, [], synthetic=args.vms, subscriptions=args.subscriptions, timeout=300)
    try:
        env = dict(os.environ)
        env.update(
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_NOCOLOR="1",
            REQUESTS_CA_BUNDLE=endpoint["ca_bundle"],
            ANSIBLE_INVENTORY_UNPARSED_FAILED="true",
        )
        inventory = work / "bench.azure_pools.yml"
        inventory.write_text(yaml.safe_dump(plugin_options(endpoint), sort_keys=False))
        result_file = work / "gate.json"
        baseline = work / "baseline.yml"
        baseline.write_text(
            yaml.safe_dump(
                play([{"name": "Count the hosts", "ansible.builtin.debug": {"msg": "{{ groups['all'] | length }}"}}])
            )
        )
        gated = work / "gated.yml"
        gated.write_text(
            yaml.safe_dump(
                play(
                    [
                        {
                            "name": "Read Percentage CPU of every VM",
                            "azlin.fleet.azure_metrics": {
                                "hosts": "{{ groups['all'] }}",
                                "gate": "cpu<50",
                                "client": args.client,
                            },
                            "register": "fleet_azure",
                        },
                        {
                            "name": "Save the gate outcome",
                            "ansible.builtin.copy": {
                                "dest": str(result_file),
                                "content": "{{ {'measured': fleet_azure.fleet_metrics | length, "
                                "'passing': fleet_azure.fleet_metrics | dict2items | selectattr('value.cpu', 'lt', 50) "
                                "| list | length, 'unmeasurable': fleet_azure.fleet_unmeasurable | length, "
                                "'calls': fleet_azure.azure_metrics_calls, 'client': fleet_azure.azure_metrics_client} "
                                "| to_json }}",
                            },
                        },
                    ]
                )
            )
        )
        admin = ArmAdmin(endpoint)
        admin.reset()
        base_wall, base_cpu = run_playbook(baseline, inventory, env)
        before = admin.requests()
        gate_wall, gate_cpu = run_playbook(gated, inventory, env)
        after = admin.requests()
        outcome = json.loads(result_file.read_text())
        calls = after["metrics"] - before["metrics"]
        per_group = math.ceil(args.vms / args.subscriptions / 50) * args.subscriptions
        print(
            f"VMs: {args.vms}   measured: {outcome['measured']}   passing cpu<50: {outcome['passing']}   "
            f"unmeasurable: {outcome['unmeasurable']}   client: {outcome['client']}"
        )
        print(f"metrics:getBatch calls (endpoint):  {calls:7d}   (goal <= {CALL_GOAL}; 50 per call -> {per_group})")
        print(f"baseline playbook (no-op task):     {base_wall:7.2f} s wall   {base_cpu:7.2f} s CPU (user+sys)")
        print(f"gated playbook (azure_metrics):     {gate_wall:7.2f} s wall   {gate_cpu:7.2f} s CPU (user+sys)")
        print(f"ratio gated / baseline:             {gate_wall / base_wall:7.2f} wall   {gate_cpu / base_cpu:7.2f} CPU")
        print(
            f"added by the gate:                  {gate_wall - base_wall:7.2f} s wall   "
            f"{gate_cpu - base_cpu:7.2f} s CPU"
        )
        ok = calls <= CALL_GOAL and outcome["measured"] == args.vms and outcome["calls"] == calls
        print(f"goals met: {ok}   (calls <= {CALL_GOAL}, every VM measured)")
        return 0 if ok else 1
    finally:
        stop(state)
        if not args.keep:
            print(f"(files in {work}; pass --keep DIR to choose where)")


if __name__ == "__main__":
    sys.exit(main())
