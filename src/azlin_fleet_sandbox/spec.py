"""What a sandbox host is: its name, address, pools, tags and size (shared with the ARM endpoint)."""

from __future__ import annotations

from dataclasses import dataclass, field

from azlin_fleet_sandbox.errors import SandboxUsageError

# The tag key that carries a host's pool (the first of the inventory's default pool keys).
POOL_TAG = "azlin-pool"
MAX_HOSTS = 200
FIRST_HOST_OCTET = 11

# (name prefix, pool, env tag, how many) for the first eight hosts; hosts 9.. are bench nodes.
_LAYOUT = (
    ("web", "web-servers", "dev", 3),
    ("stage", "staging", "staging", 3),
    ("ci", "ci", "dev", 2),
)


@dataclass(frozen=True)
class HostSpec:
    """One sandbox host as an Azure VM would describe it.

    ``index`` is 1-based and fixes the address (``<subnet>.<10 + index>``); ``mem_mb`` is the MemTotal the
    host reports; ``tags`` hold the Azure tags (the pool under ``azlin-pool`` plus ``env``).
    """

    name: str
    address: str
    port: int = 22
    pools: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict, hash=False)
    cpus: int = 2
    mem_mb: int = 8192
    index: int = 1


def default_hosts(count: int, subnet: str = "10.213.0") -> list[HostSpec]:
    """The default fleet: web-1..3, stage-1..3, ci-1..2, then node-9..node-<count> (pool bench)."""
    if not 1 <= count <= MAX_HOSTS:
        raise SandboxUsageError(
            "Sandbox host count", f"{count} is out of range", f"Choose between 1 and {MAX_HOSTS} hosts."
        )
    names: list[tuple[str, str, str]] = []
    for prefix, pool, env, size in _LAYOUT:
        names.extend((f"{prefix}-{i}", pool, env) for i in range(1, size + 1))
    hosts = []
    for index in range(1, count + 1):
        name, pool, env = names[index - 1] if index <= len(names) else (f"node-{index}", "bench", "dev")
        cpus = 4 if index % 2 == 0 else 2
        hosts.append(
            HostSpec(
                name=name,
                address=f"{subnet}.{FIRST_HOST_OCTET - 1 + index}",
                pools=(pool,),
                tags={POOL_TAG: pool, "env": env},
                cpus=cpus,
                mem_mb=4096 * cpus,
                index=index,
            )
        )
    return hosts
