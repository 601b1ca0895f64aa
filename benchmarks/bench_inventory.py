"""Benchmark azlin.fleet.azure_pools: `ansible-inventory --list` over 10,000 VMs in 4 subscriptions, plus 20
Uniform scale sets of 100 instances each.

Starts the local Azure endpoint in scale mode, times `ansible-inventory --list` through the plugin, reads the total
number of HTTP requests from the endpoint's counters, then writes a static inventory with the same hosts, hostvars
and groups (taken from the plugin's own --list output) and times `ansible-inventory --list` on it in the same run,
in its JSON form (the floor DESIGN.md section 5 recommends as the baseline) and, with --yaml, its YAML form.
Beside each wall time it prints the controller CPU (user+sys) of the ansible-inventory process.

    .venv/bin/python benchmarks/bench_inventory.py [--vms 10000] [--scale-sets 20] [--scale-set-size 100]
        [--subscriptions 4] [--yaml] [--keep DIR]

Goals: wall-time ratio plugin / static JSON <= 1.0 (issue 14; issue 3 had plugin / static YAML <= 1.5); requests
grow with pages and scale sets, never with VMs or instances: at most 100 + 3 per scale set (its instances, NICs
and public IPs, one page each at 100 instances). Not a timed test: it only prints.
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

REQUEST_GOAL = 100
RATIO_GOAL = 1.0  # plugin / static JSON
YAML_RATIO_GOAL = 1.5


def ansible_env(ca_bundle: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        # The machine exports its own REQUESTS_CA_BUNDLE; the endpoint's CA must win (the plugin also gets ca_bundle).
        REQUESTS_CA_BUNDLE=ca_bundle,
        ANSIBLE_INVENTORY_UNPARSED_FAILED="true",
    )
    return env


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_list(inventory: Path, out: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall time, CPU user+sys) of `ansible-inventory -i inventory --list --output out`; fails loudly on error."""
    cmd = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inventory), "--list", "--output", str(out)]
    cpu = children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    cpu = children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    if "WARNING" in proc.stderr:
        print(f"  warnings from {inventory.name}:\n{proc.stderr[-1500:]}", file=sys.stderr)
    return elapsed, cpu


def plain(obj: dict):
    """JSON object hook: ansible-inventory marks untrusted strings as {"__ansible_unsafe": "..."}; unwrap them."""
    return obj["__ansible_unsafe"] if set(obj) == {"__ansible_unsafe"} else obj


def static_inventory(listing: dict) -> dict:
    """A static YAML inventory with the hosts, hostvars and groups of an `ansible-inventory --list` result
    (read with ``plain``, so values are plain strings as a hand-written inventory has them)."""
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    groups = {}
    for name, group in listing.items():
        if name in ("_meta", "all", "ungrouped"):
            continue
        groups[name] = {"hosts": {host: None for host in group.get("hosts", [])}}
    return {"all": {"hosts": hostvars, "children": groups}}


def comparable(listing: dict) -> dict:
    """The listing with the order of all.children dropped (it follows group creation order)."""
    out = dict(listing)
    out["all"] = {**listing.get("all", {}), "children": sorted(listing.get("all", {}).get("children", []))}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=10_000)
    parser.add_argument("--scale-sets", type=int, default=20, help="Uniform scale sets (default 20)")
    parser.add_argument("--scale-set-size", type=int, default=100, help="instances per scale set (default 100)")
    parser.add_argument("--subscriptions", type=int, default=4)
    parser.add_argument("--yaml", action="store_true", help="also time the static YAML form (slow)")
    parser.add_argument("--keep", type=Path, help="keep the state and output files in this directory")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-inventory-"))
    work.mkdir(parents=True, exist_ok=True)
    state = work / "state"
    instances = args.scale_sets * args.scale_set_size
    print(
        f"starting the local Azure endpoint: {args.vms} VMs + {args.scale_sets} scale sets x {args.scale_set_size} "
        f"instances in {args.subscriptions} subscriptions ..."
    )
    endpoint = launch(
        state,
        [],
        synthetic=args.vms,
        synthetic_scale_sets=args.scale_sets,
        scale_set_size=args.scale_set_size,
        subscriptions=args.subscriptions,
        timeout=300,
    )
    try:
        env = ansible_env(endpoint["ca_bundle"])
        # No compose: the benchmark measures listing, and connection vars would only add templating.
        config = plugin_options(endpoint)
        plugin_cfg = work / "bench.azure_pools.yml"
        plugin_cfg.write_text(yaml.safe_dump(config, sort_keys=False))
        admin = ArmAdmin(endpoint)
        admin.reset()

        plugin_out = work / "plugin-list.json"
        plugin_time, plugin_cpu = time_list(plugin_cfg, plugin_out, env)
        counts = admin.requests()
        listing = json.loads(plugin_out.read_text(), object_hook=plain)
        hosts = len(listing.get("_meta", {}).get("hostvars", {}))
        groups = len([g for g in listing if g not in ("_meta", "all")])

        static = static_inventory(listing)
        static_json = work / "static.json"
        static_json.write_text(json.dumps(static))
        json_time, json_cpu = time_list(static_json, work / "static-json-list.json", env)
        static_listing = json.loads((work / "static-json-list.json").read_text(), object_hook=plain)
        same = comparable(static_listing) == comparable(listing)
        print(f"hosts: {hosts}   groups: {groups}   static inventory lists the same data: {same}")
        print(f"plugin  ansible-inventory --list: {plugin_time:7.2f} s wall   {plugin_cpu:7.2f} s CPU (user+sys)")
        print(f"static  JSON inventory --list:     {json_time:7.2f} s wall   {json_cpu:7.2f} s CPU   (baseline)")
        yaml_ok = True
        if args.yaml:
            static_yaml = work / "static.yml"
            static_yaml.write_text(yaml.safe_dump(static, sort_keys=False, default_flow_style=False))
            yaml_time, yaml_cpu = time_list(static_yaml, work / "static-yaml-list.json", env)
            print(f"static  YAML inventory --list:     {yaml_time:7.2f} s wall   {yaml_cpu:7.2f} s CPU")
            print(f"ratio plugin / static YAML:        {plugin_time / yaml_time:7.2f}   (goal <= {YAML_RATIO_GOAL})")
            yaml_ok = plugin_time / yaml_time <= YAML_RATIO_GOAL
        per_page = endpoint.get("page_size") or 1000
        request_goal = REQUEST_GOAL + 3 * args.scale_sets * math.ceil(args.scale_set_size / per_page)
        print(
            f"HTTP requests (endpoint counts):   {counts['total']:7d}   (goal <= {request_goal}; "
            f"{', '.join(f'{k}={v}' for k, v in counts.items() if isinstance(v, int) and k != 'total' and v)}; "
            f"by status {counts['by_status']})"
        )
        ratio = plugin_time / json_time
        print(f"ratio plugin / static JSON (wall): {ratio:7.2f}   (goal <= {RATIO_GOAL})")
        print(f"ratio plugin / static JSON (CPU):  {plugin_cpu / json_cpu:7.2f}")
        ok = (
            counts["total"] <= request_goal
            and ratio <= RATIO_GOAL
            and yaml_ok
            and hosts == args.vms + instances
            and same
        )
        print(
            f"goals met: {ok}   (requests <= {request_goal}, ratio <= {RATIO_GOAL}, "
            f"all {args.vms} VMs and {instances} instances listed)"
        )
        return 0 if ok else 1
    finally:
        stop(state)
        if not args.keep:
            print(f"(files in {work}; pass --keep DIR to choose where)")


if __name__ == "__main__":
    sys.exit(main())
