"""The client side of the sandbox: static inventory (hosts.yml), ssh_config and known_hosts."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path

import yaml

from azlin_fleet_sandbox.spec import HostSpec

HOST_PYTHON = "/usr/bin/python3"


def safe_group_name(name: str) -> str:
    """Ansible's default group-name sanitising: anything but letters, digits and ``_`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def groups_for(host: HostSpec) -> list[str]:
    """The groups the Azure inventory would put this host in: ``pool_<v>`` per pool, ``tag_<k>_<v>`` per tag."""
    groups = [safe_group_name(f"pool_{pool}") for pool in host.pools]
    groups += [safe_group_name(f"tag_{key}_{value}") for key, value in sorted(host.tags.items())]
    return groups


def ssh_common_args(known_hosts: Path) -> str:
    # Keep-alives make a cut host fail within ~10 s even on a persisted (ControlPersist) connection.
    return (
        f"-o UserKnownHostsFile={shlex.quote(str(known_hosts))} -o StrictHostKeyChecking=yes "
        "-o ServerAliveInterval=5 -o ServerAliveCountMax=2"
    )


def render_hosts_yml(hosts: Sequence[HostSpec], *, key_file: Path, known_hosts: Path) -> str:
    """A static YAML inventory that plain ``ansible-playbook -i hosts.yml`` can use."""
    children: dict[str, dict] = {}
    for host in hosts:
        for group in groups_for(host):
            children.setdefault(group, {"hosts": {}})["hosts"][host.name] = None
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key_file),
                "ansible_ssh_common_args": ssh_common_args(known_hosts),
                "ansible_python_interpreter": HOST_PYTHON,
            },
            "hosts": {
                host.name: {"ansible_host": host.address, "ansible_port": host.port, "sandbox_cpus": host.cpus}
                for host in hosts
            },
            "children": dict(sorted(children.items())),
        }
    }
    header = "# Written by azlin-fleet-sandbox up; regenerated on every start.\n"
    return header + yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False)


def _quote_ssh(value: str) -> str:
    return f'"{value}"' if " " in value else value


def render_ssh_config(hosts: Sequence[HostSpec], *, key_file: Path, known_hosts: Path) -> str:
    """``ssh -F ssh_config <host>`` reaches each host by name, with strict host-key checking."""
    lines = ["# Written by azlin-fleet-sandbox up.", ""]
    for host in hosts:
        lines += [f"Host {host.name} {host.address}", f"    HostName {host.address}", f"    Port {host.port}", ""]
    lines += [
        "Host *",
        "    User root",
        f"    IdentityFile {_quote_ssh(str(key_file))}",
        "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {_quote_ssh(str(known_hosts))}",
        "    GlobalKnownHostsFile /dev/null",
        "    StrictHostKeyChecking yes",
        "    BatchMode yes",
        "    ServerAliveInterval 5",
        "    ServerAliveCountMax 2",
        "    LogLevel ERROR",
        "",
    ]
    return "\n".join(lines)


def render_known_hosts(entries: Sequence[tuple[HostSpec, str]]) -> str:
    """known_hosts lines ``name,address keytype key`` from (host, public key line) pairs."""
    lines = []
    for host, public_key in entries:
        keytype, key = public_key.split()[:2]
        names = (
            [host.name, host.address]
            if host.port == 22
            else [f"[{host.name}]:{host.port}", f"[{host.address}]:{host.port}"]
        )
        lines.append(f"{','.join(names)} {keytype} {key}")
    return "\n".join(lines) + "\n"
