"""The default sandbox fleet layout (names, pools, tags, addresses) that tests and the ARM endpoint rely on."""

from __future__ import annotations

import dataclasses

import pytest

from azlin_fleet_sandbox.errors import SandboxUsageError
from azlin_fleet_sandbox.spec import HostSpec, default_hosts


def test_eight_default_hosts_in_three_pools() -> None:
    hosts = default_hosts(8)
    assert [h.name for h in hosts] == ["web-1", "web-2", "web-3", "stage-1", "stage-2", "stage-3", "ci-1", "ci-2"]
    assert [h.pools for h in hosts] == [("web-servers",)] * 3 + [("staging",)] * 3 + [("ci",)] * 2
    assert [h.tags["env"] for h in hosts] == ["dev"] * 3 + ["staging"] * 3 + ["dev"] * 2
    assert all(h.tags["azlin-pool"] == h.pools[0] for h in hosts)
    assert [h.address for h in hosts] == [f"10.213.0.{i}" for i in range(11, 19)]
    assert {h.cpus for h in hosts} == {2, 4}
    assert all(h.port == 22 and h.mem_mb == 4096 * h.cpus for h in hosts)


def test_hosts_beyond_eight_are_bench_nodes_on_the_given_subnet() -> None:
    hosts = default_hosts(16, "10.213.7")
    assert [h.name for h in hosts[8:]] == [f"node-{i}" for i in range(9, 17)]
    assert all(h.pools == ("bench",) and h.tags == {"azlin-pool": "bench", "env": "dev"} for h in hosts[8:])
    assert hosts[-1].address == "10.213.7.26" and hosts[-1].index == 16
    assert len({h.address for h in hosts}) == 16


@pytest.mark.parametrize("count", [0, -1, 201])
def test_host_count_out_of_range(count: int) -> None:
    with pytest.raises(SandboxUsageError, match=f"Sandbox host count: {count} is out of range"):
        default_hosts(count)


def test_host_spec_is_a_plain_frozen_dataclass() -> None:
    host = default_hosts(1)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        host.name = "other"  # type: ignore[misc]
    assert dataclasses.asdict(host)["pools"] == ("web-servers",)
    assert hash(host) == hash(HostSpec(**dataclasses.asdict(host)))  # tags are left out of the hash
