"""The sandbox network: one bridge in the root namespace, one network namespace + veth pair per host.

Addresses are private to these namespaces (no default route, no forwarding), so nothing leaves them.
Every host has a permanent neighbour entry on the bridge: a cut (host-side veth down) then drops packets
silently, so connections time out as they do to an unreachable VM, instead of failing fast on ARP. A cut
also closes the controller's open connections to the host, so a persisted SSH connection (ControlPersist)
cannot hide it.
"""

from __future__ import annotations

import json
import re
import subprocess

from azlin_fleet_sandbox.errors import SandboxError

IP = "/usr/sbin/ip"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``ip <args>``; raise SandboxError with ip's message if it fails and ``check``."""
    proc = subprocess.run([IP, *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise SandboxError(f"Network command 'ip {' '.join(args)}'", proc.stderr.strip() or f"exit {proc.returncode}")
    return proc


def host_mac(net: int, index: int) -> str:
    """A locally administered MAC for host ``index`` of sandbox network ``net``."""
    return f"02:af:{net & 0xFF:02x}:00:{index >> 8 & 0xFF:02x}:{index & 0xFF:02x}"


def create_bridge(bridge: str, gateway_cidr: str) -> None:
    if link_exists(bridge):
        raise SandboxError(
            f"Sandbox bridge {bridge!r}",
            "already exists",
            "Run 'azlin-fleet-sandbox down' for the sandbox that owns it.",
        )
    ip("link", "add", bridge, "type", "bridge")
    ip("addr", "add", gateway_cidr, "dev", bridge)
    ip("link", "set", bridge, "up")


def create_host_link(*, netns: str, veth: str, bridge: str, address_cidr: str, mac: str) -> None:
    """Namespace ``netns`` with ``eth0`` (``address_cidr``) whose peer ``veth`` is a port of ``bridge``."""
    if netns in list_netns():
        raise SandboxError(f"Network namespace {netns!r}", "already exists", "Run 'azlin-fleet-sandbox down' first.")
    ip("netns", "add", netns)
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", mac, "netns", netns)
    ip("-n", netns, "addr", "add", address_cidr, "dev", "eth0")
    ip("-n", netns, "link", "set", "lo", "up")
    ip("-n", netns, "link", "set", "eth0", "up")
    ip("link", "set", veth, "master", bridge, "up")
    ip("neigh", "replace", address_cidr.split("/")[0], "lladdr", mac, "dev", bridge, "nud", "permanent")


def set_link(veth: str, up: bool) -> None:
    ip("link", "set", veth, "up" if up else "down")


def close_connections(address: str) -> None:
    """Close the root namespace's TCP connections to ``address`` (``ss -K``), e.g. persisted SSH masters."""
    proc = subprocess.run(["/usr/bin/ss", "-K", "-tnH", "dst", address], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SandboxError(f"Closing connections to {address}", proc.stderr.strip() or f"exit {proc.returncode}")


def is_link_up(veth: str) -> bool:
    proc = ip("-j", "link", "show", veth, check=False)
    if proc.returncode != 0:
        return False
    return "UP" in json.loads(proc.stdout)[0].get("flags", [])


def link_exists(name: str) -> bool:
    return ip("link", "show", name, check=False).returncode == 0


def list_netns() -> list[str]:
    proc = ip("netns", "list", check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def sandbox_links(prefix: str) -> list[str]:
    """The links of sandbox ``prefix`` in the root namespace: its bridge ``<prefix>br0`` and veths ``<prefix>h<N>``."""
    proc = ip("-j", "link", "show", check=False)
    if proc.returncode != 0:
        return []
    pattern = re.compile(rf"{re.escape(prefix)}(br0|h\d+)")
    return sorted(link["ifname"] for link in json.loads(proc.stdout) if pattern.fullmatch(link["ifname"]))


def subnet_users(address_prefix: str) -> list[str]:
    """Interfaces of the root namespace with an IPv4 address starting with ``address_prefix`` (e.g. "10.213.4.")."""
    proc = ip("-j", "-4", "addr", "show", check=False)
    if proc.returncode != 0:
        return []
    return sorted(
        link["ifname"]
        for link in json.loads(proc.stdout)
        if any(a.get("local", "").startswith(address_prefix) for a in link.get("addr_info", []))
    )


def netns_pids(netns: str) -> list[int]:
    proc = ip("netns", "pids", netns, check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def delete_netns(netns: str) -> None:
    if netns in list_netns():
        ip("netns", "delete", netns)


def delete_link(name: str) -> None:
    if not link_exists(name):
        return
    proc = ip("link", "delete", name, check=False)
    # A veth end goes away by itself once its peer's namespace is deleted, which can happen between the check
    # and the delete: only a link that is still there is a failure.
    if proc.returncode != 0 and link_exists(name):
        raise SandboxError(f"Network command 'ip link delete {name}'", proc.stderr.strip() or f"exit {proc.returncode}")
