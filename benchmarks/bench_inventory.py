"""Benchmark azlin.fleet.azure_pools: `ansible-inventory --list` over 10,000 VMs in 4 subscriptions.

Starts the local Azure endpoint in scale mode, times `ansible-inventory --list` through the plugin, reads the total
number of HTTP requests from the endpoint's counters, then writes a static YAML inventory with the same hosts,
hostvars and groups (taken from the plugin's own --list output) and times `ansible-inventory --list` on it in the
same run. The static inventory is also timed in its JSON form, which DESIGN.md section 5 recommends as a baseline.

    .venv/bin/python benchmarks/bench_inventory.py [--vms 10000] [--subscriptions 4] [--keep DIR]

Goals (issue 3): requests <= 100, wall-time ratio plugin / static YAML <= 1.5. Not a timed test: it only prints.
"""

from __future__ import annotations

import argparse
import json
import os
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
RATIO_GOAL = 1.5


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


def time_list(inventory: Path, out: Path, env: dict[str, str]) -> float:
    """Wall time of `ansible-inventory -i inventory --list --output out`; fails loudly on a non-zero exit."""
    cmd = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inventory), "--list", "--output", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    if "WARNING" in proc.stderr:
        print(f"  warnings from {inventory.name}:\n{proc.stderr[-1500:]}", file=sys.stderr)
    return elapsed


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
    parser.add_argument("--subscriptions", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="keep the state and output files in this directory")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-inventory-"))
    work.mkdir(parents=True, exist_ok=True)
    state = work / "state"
    print(f"starting the local Azure endpoint: {args.vms} VMs in {args.subscriptions} subscriptions ...")
    endpoint = launch(state, [], synthetic=args.vms, subscriptions=args.subscriptions, timeout=300)
    try:
        env = ansible_env(endpoint["ca_bundle"])
        # No compose: the benchmark measures listing, and connection vars would only add templating.
        config = plugin_options(endpoint)
        plugin_cfg = work / "bench.azure_pools.yml"
        plugin_cfg.write_text(yaml.safe_dump(config, sort_keys=False))
        admin = ArmAdmin(endpoint)
        admin.reset()

        plugin_out = work / "plugin-list.json"
        plugin_time = time_list(plugin_cfg, plugin_out, env)
        counts = admin.requests()
        listing = json.loads(plugin_out.read_text(), object_hook=plain)
        hosts = len(listing.get("_meta", {}).get("hostvars", {}))
        groups = len([g for g in listing if g not in ("_meta", "all")])

        static = static_inventory(listing)
        static_yaml = work / "static.yml"
        static_yaml.write_text(yaml.safe_dump(static, sort_keys=False, default_flow_style=False))
        static_json = work / "static.json"
        static_json.write_text(json.dumps(static))
        yaml_time = time_list(static_yaml, work / "static-yaml-list.json", env)
        json_time = time_list(static_json, work / "static-json-list.json", env)

        static_listing = json.loads((work / "static-yaml-list.json").read_text(), object_hook=plain)
        same = comparable(static_listing) == comparable(listing)
        print(f"hosts: {hosts}   groups: {groups}   static inventory lists the same data: {same}")
        print(f"plugin  ansible-inventory --list: {plugin_time:7.2f} s")
        print(f"static  YAML inventory --list:     {yaml_time:7.2f} s")
        print(f"static  JSON inventory --list:     {json_time:7.2f} s")
        print(
            f"HTTP requests (endpoint counts):   {counts['total']:7d}   "
            f"({', '.join(f'{k}={v}' for k, v in counts.items() if isinstance(v, int) and k != 'total' and v)}; "
            f"by status {counts['by_status']})"
        )
        ratio = plugin_time / yaml_time
        print(f"ratio plugin / static YAML:        {ratio:7.2f}   (goal <= {RATIO_GOAL})")
        print(f"ratio plugin / static JSON:        {plugin_time / json_time:7.2f}")
        ok = counts["total"] <= REQUEST_GOAL and ratio <= RATIO_GOAL and hosts == args.vms and same
        print(f"goals met: {ok}   (requests <= {REQUEST_GOAL}, ratio <= {RATIO_GOAL}, all {args.vms} VMs listed)")
        return 0 if ok else 1
    finally:
        stop(state)
        if not args.keep:
            print(f"(files in {work}; pass --keep DIR to choose where)")


if __name__ == "__main__":
    sys.exit(main())
