"""World generation of the local Azure endpoint: pure functions on plain host records."""

from __future__ import annotations

import json
import time

import pytest

from azlin_fleet_sandbox.arm.world import (
    HOSTILE_TAG_VALUE,
    HostRecord,
    World,
    host_record,
    subscription_ids,
    synthetic_vms,
    world_from_hosts,
)

SUBS = subscription_ids(2)
HOSTS = [
    HostRecord("web-1", "10.1.0.11", pools=("web-servers",), tags=(("env", "dev"),)),
    HostRecord("web-2", "10.1.0.12", pools=("web-servers",), tags=(("env", "dev"),), cpus=4),
    HostRecord("stage-1", "10.1.0.13", pools=("staging",), tags=(("env", "staging"),)),
    HostRecord("ci-1", "10.1.0.14", port=2222, pools=("ci", "builders"), tags=(("env", "dev"),)),
]


def items(world: World, kind: str) -> list[dict]:
    return [json.loads(raw) for sub in world.subscriptions for raw in world.list_items(sub, kind)]  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    return World("tenant", SUBS, world_from_hosts(HOSTS, SUBS))


def test_subscription_ids_are_stable_and_distinct():
    assert subscription_ids(3)[:2] == SUBS
    assert len(set(subscription_ids(4))) == 4


def test_host_record_reads_dicts_and_objects():
    class Spec:
        name, address, port, pools, tags, cpus = "a", "10.0.0.1", 22, ("p",), {"env": "dev", "azlin-pool": "p"}, 2

    from_obj = host_record(Spec())
    from_dict = host_record(
        {"name": "a", "address": "10.0.0.1", "pools": ["p"], "tags": {"azlin-pool": "p", "env": "dev"}}
    )
    assert from_obj == from_dict
    assert from_obj.tags == (("azlin-pool", "p"), ("env", "dev")) and from_obj.user == "root"


def test_every_host_is_one_running_vm_with_its_pools_as_tags(world):
    vms = {(vm["name"], vm["id"].split("/")[4].lower()): vm for vm in items(world, "vms")}
    for host in HOSTS:
        vm = vms[(host.name, f"rg-{host.pools[0]}")]
        assert vm["tags"]["azlin-pool"] == host.pools[0]
        assert vm["tags"]["env"] == dict(host.tags)["env"]
        assert vm["properties"]["osProfile"]["adminUsername"] == "root"
    assert vms[("ci-1", "rg-ci")]["tags"]["pool"] == "builders"  # second pool -> second pool tag key
    assert vms[("ci-1", "rg-ci")]["tags"]["sandbox-ssh-port"] == "2222"
    assert "sandbox-ssh-port" not in vms[("web-1", "rg-web-servers")]["tags"]
    assert vms[("web-1", "rg-web-servers")]["tags"]["note"] == HOSTILE_TAG_VALUE


def test_hosts_spread_over_both_subscriptions_in_several_resource_groups(world):
    vms = items(world, "vms")
    assert {vm["id"].split("/")[2] for vm in vms} == set(SUBS)
    assert len({vm["id"].split("/")[4].lower() for vm in vms}) >= 3


def test_extra_vms_are_never_running(world):
    power = {}
    for vm in items(world, "vms_status"):
        codes = [s["code"] for s in vm["properties"]["instanceView"]["statuses"]]
        power[(vm["name"], vm["id"].split("/")[4].lower())] = [c for c in codes if c.startswith("PowerState/")]
    assert power[("deallocated-1", "rg-extra")] == ["PowerState/deallocated"]
    assert power[("stopped-1", "rg-extra")] == ["PowerState/stopped"]
    assert power[("web-1", "rg-twins")] == ["PowerState/deallocated"]
    assert all(power[(h.name, f"rg-{h.pools[0]}")] == ["PowerState/running"] for h in HOSTS)


def test_primary_nic_carries_the_host_address_and_the_public_ip_joins(world):
    nics = items(world, "nics")
    pips = {p["id"].lower(): p for p in items(world, "public_ips")}
    by_vm: dict[str, list[dict]] = {}
    for nic in nics:
        if "virtualMachine" in nic["properties"]:
            by_vm.setdefault(nic["properties"]["virtualMachine"]["id"].lower(), []).append(nic)
    vms = {vm["name"]: vm for vm in items(world, "vms") if not vm["id"].lower().count("rg-twins")}
    for host in HOSTS:
        attached = by_vm[vms[host.name]["id"].lower()]
        (primary,) = [n for n in attached if n["properties"]["primary"]]
        conf = primary["properties"]["ipConfigurations"][0]["properties"]
        assert conf["privateIPAddress"] == host.address
        if host is HOSTS[-1]:
            assert "publicIPAddress" not in conf
        elif host is HOSTS[1]:
            # web-2's only public IP is on its secondary NIC.
            assert "publicIPAddress" not in conf
            (secondary,) = [n for n in attached if not n["properties"]["primary"]]
            ref = secondary["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"]["id"]
            assert pips[ref.lower()]["properties"]["ipAddress"].startswith("203.0.113.")
        else:
            assert pips[conf["publicIPAddress"]["id"].lower()]["properties"]["ipAddress"].startswith("203.0.113.")
    # web-2 has two NICs; its networkProfile lists the non-primary one first.
    refs = vms["web-2"]["properties"]["networkProfile"]["networkInterfaces"]
    assert [r["properties"]["primary"] for r in refs] == [False, True]
    # A NIC nobody uses is listed too.
    assert any("virtualMachine" not in n["properties"] for n in nics)


def test_some_ids_differ_in_resource_group_case(world):
    vm_ids = [vm["id"] for vm in items(world, "vms")]
    nic_refs = [
        n["properties"]["virtualMachine"]["id"] for n in items(world, "nics") if "virtualMachine" in n["properties"]
    ]
    assert any(ref not in vm_ids for ref in nic_refs)
    assert {ref.lower() for ref in nic_refs} <= {i.lower() for i in vm_ids}


def test_status_only_shapes(world):
    minimal = items(world, "vms_status")
    assert all(set(vm) == {"name", "id", "type", "location"} | {"properties"} for vm in minimal)
    assert all(set(vm["properties"]) == {"vmId", "instanceView"} for vm in minimal)
    full = World("tenant", SUBS, world.vms, status_shape="full")
    assert all(
        "networkProfile" in vm["properties"] and "instanceView" in vm["properties"] for vm in items(full, "vms_status")
    )


def test_resource_group_filter_is_case_insensitive(world):
    sub = SUBS[0]
    assert world.list_items(sub, "vms", "RG-WEB-SERVERS") == world.list_items(sub, "vms", "rg-web-servers") != []


def test_set_power_rerenders_and_rejects_unknown_states(world):
    assert world.set_power("web-2", "deallocated") == 1
    status = {vm["name"]: vm for vm in items(world, "vms_status") if "twins" not in vm["id"].lower()}
    assert status["web-2"]["properties"]["instanceView"]["statuses"][1]["code"] == "PowerState/deallocated"
    assert world.set_power("web-1", "running") == 2  # the host and its deallocated twin
    with pytest.raises(ValueError, match="unknown power state 'asleep'"):
        world.set_power("web-1", "asleep")
    assert world.set_power("nobody", "running") == 0


def test_synthetic_world_is_big_fast_and_uniform():
    subs = subscription_ids(4)
    started = time.monotonic()
    world = World("tenant", subs, synthetic_vms(10_000, subs), noise=False)
    assert time.monotonic() - started < 10
    per_sub = [len(world.list_items(s, "vms")) for s in subs]
    assert per_sub == [2500] * 4
    assert sum(len(world.list_items(s, "nics")) for s in subs) == 10_000
    pips = [json.loads(raw)["properties"]["ipAddress"] for s in subs for raw in world.list_items(s, "public_ips")]
    assert len(set(pips)) == 10_000 and all(p.startswith("198.1") for p in pips)


def test_make_scale_set_moves_hosts_into_uniform_lists_and_flexible_refs(world):
    uniform = world.make_scale_set("web-vmss", "Uniform", ["web-1", "web-2"], [("azlin-pool", "runners")])
    world.make_scale_set("ci-flex", "Flexible", ["ci-1"])
    sub, rg = uniform.subscription, uniform.resource_group
    names = [vm["name"] for vm in items(world, "vms")]
    assert names.count("web-1") == 1  # only the deallocated twin in rg-twins is left in the VM list
    assert "web-2" not in names and "ci-1" in names
    instances = [json.loads(raw) for raw in world.list_scale_set_items(sub, rg.upper(), "WEB-VMSS", "vmss_vms_view")]
    assert [(i["name"], i["instanceId"]) for i in instances] == [("web-vmss_0", "0"), ("web-vmss_1", "1")]
    assert instances[0]["properties"]["instanceView"]["statuses"][-1]["code"] == "PowerState/running"
    assert (
        "instanceView" not in json.loads(world.list_scale_set_items(sub, rg, "web-vmss", "vmss_vms")[0])["properties"]
    )
    nics = [json.loads(raw) for raw in world.list_scale_set_items(sub, rg, "web-vmss", "vmss_nics")]
    assert [n["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] for n in nics] == [
        HOSTS[0].address,
        HOSTS[1].address,
    ]
    assert nics[0]["id"].startswith(instances[0]["id"] + "/networkInterfaces/")
    pips = world.list_scale_set_items(sub, rg, "web-vmss", "vmss_public_ips")
    assert len(pips) == 2
    sets = {s["name"]: s for s in items(world, "scale_sets")}
    assert sets["web-vmss"]["properties"]["orchestrationMode"] == "Uniform" and sets["web-vmss"]["sku"]["capacity"] == 2
    assert sets["web-vmss"]["tags"] == {"azlin-pool": "runners"}
    flex = next(vm for vm in items(world, "vms") if vm["name"] == "ci-1")
    assert flex["properties"]["virtualMachineScaleSet"]["id"] == sets["ci-flex"]["id"]
    assert world.list_scale_set_items(sub, rg, "nope", "vmss_vms") is None


def test_find_vm_and_set_power_at_reach_uniform_instances(world):
    made = world.make_scale_set("web-vmss", "Uniform", ["web-1"])
    instance_id = (
        f"/subscriptions/{made.subscription}/resourceGroups/{made.resource_group.upper()}/providers/"
        "Microsoft.Compute/virtualMachineScaleSets/web-vmss/virtualMachines/0"
    )
    index = world.find_vm(instance_id)
    assert index is not None and world.vms[index].host == "web-1"
    world.set_power_at(index, "deallocated")
    view = json.loads(
        world.list_scale_set_items(made.subscription, made.resource_group, "web-vmss", "vmss_vms_view")[0]
    )
    assert view["properties"]["instanceView"]["statuses"][-1]["code"] == "PowerState/deallocated"


def test_synthetic_scale_sets():
    from azlin_fleet_sandbox.arm.world import synthetic_scale_sets

    sets, vms = synthetic_scale_sets(3, 10, SUBS)
    assert [s.name for s in sets] == ["vmss-01", "vmss-02", "vmss-03"]
    assert len(vms) == 30 and len({v.nics[0].public_ip for v in vms}) == 30
    world = World("t", SUBS, vms, scale_sets=sets, noise=False)
    assert items(world, "vms") == []  # Uniform instances only in their scale sets' lists
    assert (
        sum(len(world.list_scale_set_items(s.subscription, s.resource_group, s.name, "vmss_vms")) for s in sets) == 30
    )
