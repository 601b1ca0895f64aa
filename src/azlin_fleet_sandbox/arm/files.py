"""Files the endpoint writes into `state_dir/azure/` for its clients: endpoint.json, env.sh, the inventory config,
the `az` stand-in and the federated token for workload identity."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from . import az_cli

ENDPOINT_FILE = "endpoint.json"
ENV_FILE = "env.sh"
INVENTORY_FILE = "fleet.azure_pools.yml"


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_az(azure_dir: Path) -> Path:
    """Install the `az` stand-in as `azure_dir/bin/az` (shebang: this interpreter)."""
    bin_dir = azure_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    source = Path(az_cli.__file__).read_text(encoding="utf-8")
    write_atomic(bin_dir / "az", f"#!{sys.executable}\n{source}", 0o755)
    return bin_dir


def env_sh(endpoint: dict[str, Any]) -> str:
    """Shell exports for EnvironmentCredential/DefaultAzureCredential and for AzureCliCredential (PATH)."""
    q = shlex.quote
    lines = [
        "# Written by the azlin-fleet sandbox: credentials for the LOCAL Azure endpoint (loopback only).",
        "# Custom authority: credentials also need disable_instance_discovery=True (see DESIGN.md section 4).",
        f"export AZURE_TENANT_ID={q(endpoint['tenant_id'])}",
        f"export AZURE_CLIENT_ID={q(endpoint['client_id'])}",
        f"export AZURE_CLIENT_SECRET={q(endpoint['client_secret'])}",
        f"export AZURE_AUTHORITY_HOST={q(endpoint['base_url'])}",
        f"export AZURE_SUBSCRIPTION_ID={q(endpoint['subscriptions'][0])}",
        f"export AZLIN_FLEET_ARM_ENDPOINT={q(endpoint['base_url'])}",
        f"export REQUESTS_CA_BUNDLE={q(endpoint['ca_bundle'])}",
        f"export AZLIN_FLEET_CA_BUNDLE={q(endpoint['ca_bundle'])}",
        f"export AZLIN_FLEET_METRICS_ENDPOINT={q(endpoint['base_url'] + '/metrics/{region}')}",
        f"export AZLIN_FLEET_METRICS_AUDIENCE={q(endpoint['base_url'])}",
        f'export PATH={q(endpoint["az_bin_dir"])}:"$PATH"',
        "",
    ]
    return "\n".join(lines)


def plugin_options(endpoint: dict[str, Any]) -> dict[str, Any]:
    """The `azlin.fleet.azure_pools` options that point the plugin at this endpoint with its credentials."""
    return {
        "plugin": "azlin.fleet.azure_pools",
        "auth_source": "credential",
        "authority_host": endpoint["base_url"],
        "arm_endpoint": endpoint["base_url"],
        "ca_bundle": endpoint["ca_bundle"],
        "tenant_id": endpoint["tenant_id"],
        "client_id": endpoint["client_id"],
        "client_secret": endpoint["client_secret"],
        # Azure Monitor's regional endpoint is a path of this one; tokens for it have the endpoint's audience.
        "metrics_endpoint": f"{endpoint['base_url']}/metrics/{{region}}",
        "metrics_audience": endpoint["base_url"],
        "hostname_source": ["private_ip"],
    }


def inventory_config(endpoint: dict[str, Any], state_dir: Path, ssh_ports: bool) -> str:
    """The inventory config for `azlin.fleet.azure_pools` against this endpoint, reaching the sandbox's hosts."""
    config = plugin_options(endpoint)
    key, known_hosts = state_dir / "id_ed25519", state_dir / "known_hosts"
    # Reach the VMs the way the sandbox's static hosts.yml does: its client key and known_hosts, checking on.
    compose = {
        "ansible_user": "'root'",
        "ansible_ssh_private_key_file": repr(str(key)),
        "ansible_ssh_common_args": repr(f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"),
    }
    if ssh_ports:
        compose["ansible_port"] = "(azure_tags | default({})).get('sandbox-ssh-port', 22) | int"
    config["compose"] = compose
    header = "# Written by the azlin-fleet sandbox: the azure_pools inventory against the local endpoint.\n"
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def write_client_files(state_dir: Path, endpoint: dict[str, Any], *, ssh_ports: bool) -> None:
    """Write env.sh, the inventory config, then endpoint.json last (its appearance means 'ready')."""
    azure_dir = state_dir / "azure"
    write_atomic(azure_dir / ENV_FILE, env_sh(endpoint), 0o600)
    write_atomic(azure_dir / INVENTORY_FILE, inventory_config(endpoint, state_dir, ssh_ports), 0o600)
    write_atomic(azure_dir / ENDPOINT_FILE, json.dumps(endpoint, indent=2) + "\n", 0o600)
