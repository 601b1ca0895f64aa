"""``azlin-fleet-sandbox``: start, inspect, load and break the local sandbox fleet.

Exit codes: 0 done, 1 the operation failed, 2 bad usage (nothing was changed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from azlin_fleet_sandbox.errors import SandboxError, SandboxUsageError
from azlin_fleet_sandbox.sandbox import DEFAULT_STATE_DIR, FAULT_KINDS, Sandbox

PROG = "azlin-fleet-sandbox"


def _numbers(text: str, kind: type, count: int | None = None) -> list:
    try:
        values = [kind(v) for v in text.split(",")] if text.strip() else []
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if count is not None and len(values) != count:
        raise argparse.ArgumentTypeError(f"{text!r} must have {count} comma-separated values")
    return values


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("AZLIN_FLEET_SANDBOX_DIR", DEFAULT_STATE_DIR)),
        help="sandbox state directory (default: $AZLIN_FLEET_SANDBOX_DIR or <repo>/.sandbox)",
    )
    parser = argparse.ArgumentParser(
        prog=PROG, description="Local sandbox fleet: real sshd hosts + local Azure endpoint."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common], help="start the hosts (and the Azure endpoint)")
    up.add_argument("--hosts", type=int, default=8, help="number of hosts (default 8)")
    up.add_argument("--no-azure", action="store_true", help="do not start the local Azure endpoint")
    sub.add_parser("down", parents=[common], help="stop and remove everything the sandbox started")
    status = sub.add_parser("status", parents=[common], help="show what runs")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    sub.add_parser("reset", parents=[common], help="all hosts back to normal (no faults, default loads)")
    load = sub.add_parser("load", parents=[common], help="set a host's loads (live)")
    load.add_argument("host")
    load.add_argument("--cpu", type=float, help="CPU %% as two /proc/stat samples give it")
    load.add_argument("--load", type=lambda t: _numbers(t, float, 3), metavar="L1,L5,L15", help="load averages")
    load.add_argument("--mem", type=float, help="memory used %%")
    load.add_argument(
        "--users",
        type=lambda t: _numbers(t, int),
        metavar="IDLE,...",
        help="interactive users as idle seconds each ('' for none)",
    )
    fault = sub.add_parser("fault", parents=[common], help="inject or clear a fault on a host")
    fault.add_argument("host")
    fault.add_argument("kind", choices=FAULT_KINDS)
    return parser


def _print_status(status: dict) -> None:
    if not status["hosts"]:
        print(f"sandbox in {status['state_dir']}: down")
        return
    driver = status["driver"] or {}
    print(
        f"sandbox in {status['state_dir']}: {'up' if status['up'] else 'NOT healthy'} "
        f"(phase {status['phase']}, driver {'running' if driver.get('running') else 'not running'})"
    )
    print(
        f"{'host':<10} {'address':<14} {'pool':<12} {'cpus':>4} {'sshd':<8} {'network':<8} {'files':<10} "
        f"{'cpu%':>5} {'load':<15} {'mem%':>5} users"
    )
    for h in status["hosts"]:
        load = h["load"]
        print(
            f"{h['name']:<10} {h['address']:<14} {','.join(h['pools']):<12} {h['cpus']:>4} {h['sshd']:<8} "
            f"{h['network']:<8} {h['probe_files']:<10} {load['cpu']:>5.1f} "
            f"{' '.join(f'{v:.2f}' for v in load['load']):<15} {load['mem']:>5.1f} {len(load['users'])}"
        )
    if status.get("azure"):
        azure = status["azure"]
        print(f"azure endpoint: {azure.get('base_url')} (pid {azure.get('pid')}; credentials in azure/env.sh)")
    files = status.get("files", {})
    if files:
        print(f"\nansible-playbook -i {files['hosts_yml']} ...   |   ssh -F {files['ssh_config']} <host>")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        sandbox = Sandbox(args.state_dir)
        if args.command == "up":
            sandbox.up(hosts=args.hosts, azure=not args.no_azure)
            _print_status(sandbox.status())
        elif args.command == "down":
            sandbox.down()
            print(f"sandbox in {sandbox.state_dir}: down, nothing left")
        elif args.command == "status":
            status = sandbox.status()
            if args.json:
                print(json.dumps(status, indent=2, sort_keys=True))
            else:
                _print_status(status)
        elif args.command == "reset":
            sandbox.reset()
        elif args.command == "load":
            sandbox.set_load(args.host, cpu=args.cpu, load=args.load, mem=args.mem, users=args.users)
        elif args.command == "fault":
            sandbox.fault(args.host, args.kind)
    except SandboxUsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except SandboxError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0
