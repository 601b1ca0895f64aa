"""`python -m azlin_fleet_sandbox.arm serve ...`: run the local Azure endpoint in the foreground.

Benchmark world: `python -m azlin_fleet_sandbox.arm serve --synthetic 10000 --subscriptions 4 --state-dir DIR`
(then `source DIR/azure/env.sh`; `DIR/azure/endpoint.json` holds everything a client needs).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

from .entra import Entra
from .faults import Control
from .files import write_az, write_client_files
from .server import ArmServer, run_until_signalled, tls_context
from .tls import ensure_tls
from .world import (
    CLIENT_ID,
    TENANT_ID,
    World,
    host_record,
    subscription_ids,
    synthetic_scale_sets,
    synthetic_vms,
    world_from_hosts,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m azlin_fleet_sandbox.arm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the local Azure endpoint until SIGTERM")
    serve.add_argument("--state-dir", type=Path, required=True, help="sandbox state dir (files go to DIR/azure)")
    serve.add_argument("--hosts-file", type=Path, help="JSON list of hosts (name, address, port, pools, tags, ...)")
    serve.add_argument("--synthetic", type=int, default=0, help="add N synthetic running VMs (scale mode)")
    serve.add_argument(
        "--synthetic-scale-sets", type=int, default=0, help="add N synthetic Uniform scale sets (scale mode)"
    )
    serve.add_argument("--scale-set-size", type=int, default=100, help="instances per synthetic scale set")
    serve.add_argument("--subscriptions", type=int, default=2, help="number of subscriptions (default 2)")
    serve.add_argument("--page-size", type=int, default=1000, help="items per list page (default 1000)")
    serve.add_argument(
        "--status-only-shape",
        choices=("minimal", "full"),
        default="minimal",
        help="statusOnly=true items: identity + instanceView only (default), or the full model too",
    )
    serve.add_argument("--no-request-log", action="store_true", help="do not write azure/requests.jsonl")
    return parser


def serve(args: argparse.Namespace) -> int:
    if args.subscriptions < 1 or args.synthetic < 0 or args.page_size < 1:
        sys.stderr.write("arm serve: --subscriptions and --page-size must be >= 1, --synthetic >= 0\n")
        return 2
    state_dir = args.state_dir.resolve()
    azure_dir = state_dir / "azure"
    azure_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    hosts = [host_record(h) for h in json.loads(args.hosts_file.read_text())] if args.hosts_file else []
    subs = subscription_ids(args.subscriptions)
    vms = world_from_hosts(hosts, subs) if hosts else []
    vms += synthetic_vms(args.synthetic, subs)
    scale_sets, instances = synthetic_scale_sets(args.synthetic_scale_sets, args.scale_set_size, subs)
    world = World(
        TENANT_ID, subs, vms + instances, status_shape=args.status_only_shape, noise=bool(hosts), scale_sets=scale_sets
    )
    tls = ensure_tls(azure_dir)
    federated = secrets.token_urlsafe(32)
    federated_file = azure_dir / "federated-token"
    fd = os.open(federated_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(federated)
    entra = Entra("", TENANT_ID, CLIENT_ID, secrets.token_urlsafe(32), federated)
    control = Control(args.page_size)
    request_log = None if args.no_request_log else azure_dir / "requests.jsonl"
    server = ArmServer(tls_context(tls.server_cert, tls.server_key), world, entra, control, request_log, state_dir)
    endpoint = {
        "pid": os.getpid(),
        "base_url": server.base_url,
        "port": server.server_address[1],
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "client_secret": entra.client_secret,
        "subscriptions": subs,
        "ca_bundle": str(tls.ca_cert),
        "ca_path": str(tls.ca_cert),
        "az_bin_dir": str(write_az(azure_dir)),
        "env_file": str(azure_dir / "env.sh"),
        "inventory_file": str(azure_dir / "fleet.azure_pools.yml"),
        "federated_token_file": str(federated_file),
        "request_log": str(request_log) if request_log else None,
        "page_size": args.page_size,
        "status_only_shape": args.status_only_shape,
        "vm_count": len(vms) + len(instances),
        "scale_set_count": len(scale_sets),
        "host_count": len(hosts),
        "synthetic": args.synthetic,
        "build_seconds": round(time.monotonic() - started, 3),
    }
    write_client_files(state_dir, endpoint, ssh_ports=any(h.port != 22 for h in hosts))
    sys.stderr.write(
        f"arm endpoint {server.base_url} pid {os.getpid()}: {len(vms)} VMs over {len(subs)} "
        f"subscriptions, ready in {endpoint['build_seconds']} s\n"
    )
    sys.stderr.flush()
    run_until_signalled(server)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
