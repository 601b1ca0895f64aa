"""normalize -> filter -> build for Azure VMs, from ARM list pages (official examples + hand-made fleet pages)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils import azure_vms
from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_vms import VmFilter, VmRecord
from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError

ARM = Path(__file__).resolve().parents[2] / "fixtures" / "arm"
S1 = "11111111-1111-4111-8111-111111111111"
S2 = "22222222-2222-4222-8222-222222222222"
HOSTILE = "{{ lookup('pipe','touch /tmp/azlin-fleet-unit-hostile') }}"


def example_body(name: str) -> dict:
    return json.loads((ARM / name).read_text())["responses"]["200"]["body"]


def fleet_fetched() -> dict:
    """The hand-made pages as fetch_fleet would return them (pages concatenated)."""
    doc = json.loads((ARM / "fleet_pages.json").read_text())

    def items(pages):
        return None if pages is None else [item for page in pages for item in page["value"]]

    return {
        "subscriptions": {
            sub: {
                "vms": items(data["vms_status_pages"]),
                "vm_models": items(data["vm_model_pages"]),
                "nics": items(data["nic_pages"]),
                "public_ips": items(data["pip_pages"]),
            }
            for sub, data in doc["subscriptions"].items()
        },
        "failures": {},
        "pages": 0,
        "skipped": [],
    }


@pytest.fixture(scope="module")
def records() -> dict[tuple[str, str], VmRecord]:
    return {(r.subscription_id, r.name): r for r in azure_vms.normalize_fleet(fleet_fetched())}


# ---- normalize ---------------------------------------------------------------------------------------------------


def test_records_are_sorted_by_name_then_id():
    names = [(r.name, r.subscription_id) for r in azure_vms.normalize_fleet(fleet_fetched())]
    assert names == [("app-1", S2), ("db-1", S1), ("old-1", S1), ("web-1", S1), ("web-1", S2)]


def test_status_only_items_without_model_are_joined_to_models_case_insensitively(records):
    web = records[(S1, "web-1")]
    # The VM id spells RG-WEB, the NICs and the public IP rg-web / Rg-Web: all joined.
    assert web == VmRecord(
        id=f"/subscriptions/{S1}/resourceGroups/RG-WEB/providers/Microsoft.Compute/virtualMachines/web-1",
        name="web-1",
        subscription_id=S1,
        resource_group="RG-WEB",
        location="eastus",
        size="Standard_D2s_v5",
        os_type="Linux",
        tags={"azlin-pool": "web-servers", "env": "dev", "note": HOSTILE},
        power_state="running",
        provisioning_state="Succeeded",
        private_ips=("10.0.0.4", "10.99.0.12"),
        public_ips=("203.0.113.10",),
        public_fqdns=("web-1.eastus.cloudapp.azure.com",),
        admin_user="azureuser",
        computer_name="web-1",
        zone="1",
        vm_id="vmid-web-1-rg-web",
        primary_private_ip="10.0.0.4",
        primary_public_ip="203.0.113.10",
        primary_public_fqdn="web-1.eastus.cloudapp.azure.com",
    )


def test_primary_nic_and_primary_ipconfig_come_first_and_prefixes_are_stripped(records):
    assert records[(S1, "web-1")].private_ip == "10.0.0.4"  # primary NIC is listed second in networkProfile
    assert records[(S1, "db-1")].private_ips == ("10.0.1.5", "10.0.1.6")  # "10.0.1.6/28", non-primary, listed first


def test_vm_without_public_ip_and_unallocated_public_ip(records):
    assert records[(S1, "db-1")].public_ips == ()
    assert records[(S2, "app-1")].public_ips == ()  # Dynamic public IP with no ipAddress yet
    assert records[(S2, "app-1")].public_ip is None


def test_full_shape_status_items_need_no_model_list(records):
    app = records[(S2, "app-1")]
    assert (app.power_state, app.admin_user, app.zone, app.private_ips) == ("running", "ops", "3", ("10.1.0.4",))
    assert records[(S2, "web-1")].power_state == "deallocated"


def test_status_items_alone_fall_back_to_nic_back_references():
    fetched = fleet_fetched()["subscriptions"][S1]
    records = azure_vms.normalize_vms(fetched["vms"], fetched["nics"], fetched["public_ips"])
    web = next(r for r in records if r.name == "web-1")
    # No networkProfile: the NICs' virtualMachine ids (rg-web) still match the VM id (RG-WEB); primary first.
    assert (web.private_ips, web.public_ips, web.power_state) == (
        ("10.0.0.4", "10.99.0.12"),
        ("203.0.113.10",),
        "running",
    )
    assert web.size == ""  # the status-only shape carries no model


def test_official_examples_nic_and_public_ip_shapes():
    nics = example_body("2026-03-01_NetworkInterfaceListAll.json")["value"]
    pips = example_body("2026-03-01_PublicIpAddressListAll.json")["value"]
    vm = {
        "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1"
        "/providers/Microsoft.Compute/virtualMachines/vm1",
        "name": "vm1",
        "location": "eastus",
        "properties": {"instanceView": example_body("2026-04-01_VirtualMachine_Get_InstanceView.json")},
    }
    [record] = azure_vms.normalize_vms([vm], nics, pips)
    # test-nic points at public IP test-ip, which the public IP list does not contain: no public address.
    assert (record.private_ips, record.public_ips, record.power_state) == (("172.20.2.4",), (), "running")
    assert (record.subscription_id, record.resource_group) == ("00000000-0000-0000-0000-000000000000", "rg1")


def test_official_maximum_set_vm_model_fields():
    vm = example_body("2026-04-01_VirtualMachine_ListAll_MaximumSet_Gen.json")["value"][0]
    [record] = azure_vms.normalize_vms([vm], [], [])
    assert (record.size, record.os_type, record.admin_user, record.computer_name) == (
        "Standard_A0",
        "Windows",
        "Foo12",
        "Test",
    )
    assert record.power_state == "unknown"  # the model carries no instance view
    assert azure_vms.has_vm_model([vm])


def test_official_minimum_set_items_have_no_model():
    items = example_body("2026-04-01_VirtualMachine_ListAll_MinimumSet_Gen.json")["value"]
    assert not azure_vms.has_vm_model(items)
    assert [r.location for r in azure_vms.normalize_vms(items, [], [])] == ["eastus", "eastus"]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([{"code": "ProvisioningState/succeeded"}, {"code": "PowerState/running"}], "running"),
        ([{"code": "PowerState/Deallocated"}], "deallocated"),
        ([{"code": "ProvisioningState/updating"}], "unknown"),
        (None, "unknown"),
    ],
    ids=["running-after-provisioning", "case-folded", "no-power-entry", "no-instance-view"],
)
def test_power_state_of(statuses, expected):
    vm = {"properties": {"instanceView": {"statuses": statuses}}} if statuses is not None else {"properties": {}}
    assert azure_vms.power_state_of(vm) == expected


def test_records_serialise_to_json(records):
    assert json.loads(json.dumps(dataclasses.asdict(records[(S1, "web-1")])))["private_ips"] == [
        "10.0.0.4",
        "10.99.0.12",
    ]


# ---- filter ------------------------------------------------------------------------------------------------------


def test_default_filter_keeps_running_vms_and_counts_the_rest():
    kept, dropped = azure_vms.filter_vms(azure_vms.normalize_fleet(fleet_fetched()), VmFilter())
    assert [r.name for r in kept] == ["app-1", "db-1", "web-1"]
    assert dropped == {"power state deallocated": 2}


@pytest.mark.parametrize(
    ("vm_filter", "kept", "why"),
    [
        (VmFilter(power_states=("running", "deallocated")), ["app-1", "db-1", "old-1", "web-1", "web-1"], "all states"),
        (VmFilter(power_states=()), ["app-1", "db-1", "old-1", "web-1", "web-1"], "empty list keeps all"),
        (VmFilter(resource_groups=("rg-w*",)), ["web-1"], "rg glob is case-insensitive (id says RG-WEB)"),
        (VmFilter(names=("*-1",), exclude_tags=("env=dev",)), ["app-1"], "exclude by tag value"),
        (VmFilter(include_tags=("ENV",)), ["app-1", "db-1", "web-1"], "tag key is case-insensitive"),
        (VmFilter(include_tags=("env=d*", "pool")), ["db-1"], "include entries are ANDed, values are globs"),
        (VmFilter(include_tags=("env=Prod",)), [], "values are case-sensitive"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_filters(vm_filter, kept, why):
    result, _ = azure_vms.filter_vms(azure_vms.normalize_fleet(fleet_fetched()), vm_filter)
    assert [r.name for r in result] == kept, why


def test_rejection_reasons_name_the_filter():
    _, dropped = azure_vms.filter_vms(
        azure_vms.normalize_fleet(fleet_fetched()),
        VmFilter(power_states=(), resource_groups=("rg-web",), include_tags=("env",)),
    )
    assert dropped == {"include_tags": 1, "resource group": 3}


def test_tag_filter_with_empty_key_is_a_config_error():
    with pytest.raises(FleetConfigError, match=r"Invalid exclude_tags entry '=x': the tag key is empty"):
        azure_vms.validate_vm_filter(VmFilter(exclude_tags=("=x",)))


# ---- build -------------------------------------------------------------------------------------------------------


def test_groups_for_hostile_tag_is_only_sanitized(records):
    assert azure_vms.groups_for(records[(S1, "web-1")], azure_vms.DEFAULT_POOL_KEYS) == [
        "location_eastus",
        "pool_web_servers",
        "powerstate_running",
        "rg_rg_web",
        "tag_azlin_pool_web_servers",
        "tag_env_dev",
        "tag_note____lookup__pipe___touch__tmp_azlin_fleet_unit_hostile_____",
    ]


def test_groups_for_session_pool_and_empty_tag_value(records):
    assert azure_vms.groups_for(records[(S2, "app-1")], azure_vms.DEFAULT_POOL_KEYS) == [
        "location_eastus",
        "pool_s1",
        "powerstate_running",
        "rg_rg_app",
        "tag_Env_prod",
        "tag_azlin_session_s1",
        "tag_empty",
    ]


def test_pool_keys_are_configurable_and_case_insensitive(records):
    groups = azure_vms.groups_for(records[(S1, "db-1")], ["POOL"])
    assert "pool_db" in groups
    assert azure_vms.groups_for(records[(S1, "db-1")], ["azlin-pool"]).count("pool_db") == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [("web-servers", "web_servers"), ("a.b c/d", "a_b_c_d"), ("ünï", "_n_"), ("ok_1", "ok_1")],
    ids=["dash", "punctuation", "non-ascii", "unchanged"],
)
def test_sanitize_group_name(name, expected):
    assert azure_vms.sanitize_group_name(name) == expected


def test_hostvars_for(records):
    assert azure_vms.hostvars_for(records[(S1, "web-1")]) == {
        "ansible_host": "203.0.113.10",
        "ansible_user": "azureuser",
        "azure_name": "web-1",
        "azure_id": f"/subscriptions/{S1}/resourceGroups/RG-WEB/providers/Microsoft.Compute/virtualMachines/web-1",
        "azure_vm_id": "vmid-web-1-rg-web",
        "azure_subscription_id": S1,
        "azure_resource_group": "RG-WEB",
        "azure_location": "eastus",
        "azure_size": "Standard_D2s_v5",
        "azure_os_type": "Linux",
        "azure_tags": {"azlin-pool": "web-servers", "env": "dev", "note": HOSTILE},
        "azure_pools": ["web-servers"],
        "azure_power_state": "running",
        "azure_provisioning_state": "Succeeded",
        "azure_private_ip": "10.0.0.4",
        "azure_private_ips": ["10.0.0.4", "10.99.0.12"],
        "azure_public_ip": "203.0.113.10",
        "azure_public_ips": ["203.0.113.10"],
        "azure_public_fqdns": ["web-1.eastus.cloudapp.azure.com"],
        "azure_computer_name": "web-1",
        "azure_zone": "1",
        "azure_admin_user": "azureuser",
        "azure_vmss_name": None,
        "azure_vmss_id": None,
        "azure_vmss_instance_id": None,
        "azure_vmss_orchestration": None,
    }


def test_hostvars_never_use_play_keywords(records):
    reserved = {"name", "tags", "vars", "hosts", "become", "environment", "connection", "port", "remote_user"}
    for record in records.values():
        names = set(azure_vms.hostvars_for(record, jump_host="bastion"))
        assert not names & reserved
        assert all(n.startswith(("azure_", "ansible_")) for n in names)


@pytest.mark.parametrize(
    ("key", "preference", "expected"),
    [
        ((S1, "web-1"), ["public_ip", "private_ip", "name"], ("203.0.113.10", "public_ip")),
        ((S1, "db-1"), ["public_ip", "private_ip", "name"], ("10.0.1.5", "private_ip")),
        ((S1, "web-1"), ["private_ip"], ("10.0.0.4", "private_ip")),
        ((S1, "web-1"), ["public_fqdn", "public_ip"], ("web-1.eastus.cloudapp.azure.com", "public_fqdn")),
        ((S2, "app-1"), ["public_ip", "public_fqdn"], ("app-1", "name")),
    ],
    ids=["public-first", "no-public-falls-back", "private-only", "fqdn", "nothing-matches-uses-name"],
)
def test_ansible_host_for(records, key, preference, expected):
    assert azure_vms.ansible_host_for(records[key], preference) == expected


def test_jump_host_only_for_vms_without_public_ip(records):
    assert "ansible_ssh_common_args" not in azure_vms.hostvars_for(records[(S1, "web-1")], jump_host="ops@bastion")
    db = azure_vms.hostvars_for(records[(S1, "db-1")], jump_host="ops@bastion")
    assert db["ansible_ssh_common_args"] == "-o ProxyJump=ops@bastion"
    assert "ansible_ssh_common_args" not in azure_vms.hostvars_for(records[(S1, "db-1")])


def test_hostname_source_validation():
    azure_vms.validate_hostname_source(["private_ip", "name"])
    with pytest.raises(FleetConfigError, match=r"Invalid hostname_source: unknown entries \['dns'\]"):
        azure_vms.validate_hostname_source(["dns"])


def test_host_names_distinct_for_duplicates():
    records = azure_vms.normalize_fleet(fleet_fetched())
    assert azure_vms.host_names(records) == ["app-1", "db-1", "old-1", "web-1_rg-web", "web-1_rg-twins"]


def test_host_names_add_subscription_when_group_is_shared():
    base = VmRecord(id="", name="vm", subscription_id="", resource_group="rg", location="eastus")
    records = [dataclasses.replace(base, subscription_id=s, id=f"/subscriptions/{s}/x") for s in ("AAA", "bbb")]
    records.append(dataclasses.replace(base, resource_group="other", subscription_id="aaa"))
    assert azure_vms.host_names(records) == ["vm_rg_aaa", "vm_rg_bbb", "vm_other"]


def test_host_names_are_deterministic_whatever_the_input_order():
    records = azure_vms.normalize_fleet(fleet_fetched())
    shuffled = list(reversed(records))
    assert dict(zip(azure_vms.host_names(shuffled), shuffled, strict=True)) == dict(
        zip(azure_vms.host_names(records), records, strict=True)
    )


def test_unknown_options_are_named_with_a_suggestion():
    known = ["plugin", "subscriptions", "auth_source"]
    azure_vms.check_known_options(["plugin", "auth_source"], known)
    with pytest.raises(
        FleetConfigError,
        match=r"unknown option\(s\) 'subscription'.*Did you mean 'subscriptions' instead of 'subscription'",
    ):
        azure_vms.check_known_options(["plugin", "subscription"], known)


def test_summarize_listing():
    records = azure_vms.normalize_fleet(fleet_fetched())
    kept, dropped = azure_vms.filter_vms(records, VmFilter())
    assert azure_vms.summarize_listing(2, records, kept, dropped) == (
        "2 subscription(s) listed, 5 VMs seen, 3 hosts added, 2 filtered out (power state deallocated: 2)"
    )
    assert (
        azure_vms.summarize_listing(1, [], [], {})
        == "1 subscription(s) listed, 0 VMs seen, 0 hosts added, 0 filtered out (none)"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("pool", "web-servers"), "pool_web_servers"),
        (("tag", "env", "dev"), "tag_env_dev"),
        (("tag", "Env", ""), "tag_Env"),
        (("rg", "RG-Web"), "rg_rg_web"),
        (("location", "EastUS"), "location_eastus"),
        (("powerstate", "running"), "powerstate_running"),
    ],
    ids=["pool", "tag", "tag-without-value", "rg-lower-cased", "location-lower-cased", "powerstate"],
)
def test_group_name(args, expected):
    assert azure_vms.group_name(*args) == expected


# -- scale sets and the primary NIC ------------------------------------------------------------------------------------
VMSS = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "arm" / "vmss_pages.json").read_text())


@pytest.fixture
def vmss_records() -> dict[str, VmRecord]:
    fetched = {
        "subscriptions": {VMSS["subscription"]: {k: VMSS[k] for k in VMSS if k not in ("_comment", "subscription")}}
    }
    return {r.name: r for r in azure_vms.normalize_fleet(fetched)}


def test_uniform_instances_become_records_with_their_scale_set(vmss_records):
    assert sorted(vmss_records) == ["ci-runners_0", "ci-runners_1", "ci-runners_2", "web-flex-a1"]
    first = vmss_records["ci-runners_0"]
    assert (first.vmss_name, first.vmss_instance_id, first.vmss_orchestration) == ("ci-runners", "0", "Uniform")
    assert first.vmss_id.endswith("/virtualMachineScaleSets/ci-runners")
    assert (first.private_ip, first.public_ip, first.size, first.power_state) == (
        "10.5.0.4",
        "198.51.100.20",
        "Standard_D4s_v5",  # from the instance's sku: Uniform instances have no hardwareProfile.vmSize
        "running",
    )
    assert vmss_records["ci-runners_2"].power_state == "deallocated"
    assert vmss_records["ci-runners_2"].public_ip is None


def test_instances_take_the_scale_set_tags_overlaid_with_their_own(vmss_records):
    assert vmss_records["ci-runners_0"].tags == {"azlin-pool": "ci-runners", "env": "ci"}
    assert vmss_records["ci-runners_1"].tags == {"azlin-pool": "ci-runners", "env": "ci", "role": "builder"}
    assert azure_vms.pools_of(vmss_records["ci-runners_1"]) == ["ci-runners"]


def test_flexible_members_are_marked_and_keep_their_own_tags(vmss_records):
    flex = vmss_records["web-flex-a1"]
    assert (flex.vmss_name, flex.vmss_instance_id, flex.vmss_orchestration) == ("Web-Flex", None, "Flexible")
    # The scale set's tags apply to its members too (pool from the scale set).
    assert flex.tags == {"azlin-pool": "web-flex", "env": "prod"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ci-runners_1", "vmss_ci_runners"),
        ("web-flex-a1", "vmss_web_flex"),  # lower-cased, like rg_ and location_
    ],
    ids=["uniform", "flexible"],
)
def test_scale_set_group(vmss_records, name, expected):
    groups = azure_vms.groups_for(vmss_records[name])
    assert expected in groups
    assert [g for g in groups if g.startswith("vmss_")] == [expected]


def test_scale_set_hostvars(vmss_records):
    hv = azure_vms.hostvars_for(vmss_records["ci-runners_1"])
    assert (hv["azure_vmss_name"], hv["azure_vmss_instance_id"], hv["azure_vmss_orchestration"]) == (
        "ci-runners",
        "1",
        "Uniform",
    )
    assert hv["ansible_host"] == "198.51.100.21" and hv["ansible_user"] == "runner"
    assert azure_vms.hostvars_for(vmss_records["web-flex-a1"])["azure_vmss_id"].endswith("/Web-Flex")


def _two_nics(primary_public: str | None, secondary_public: str | None) -> VmRecord:
    vm = {
        "name": "multi",
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/multi",
        "properties": {
            "networkProfile": {
                "networkInterfaces": [
                    {"id": "/x/nic-b", "properties": {"primary": False}},
                    {"id": "/x/nic-a", "properties": {"primary": True}},
                ]
            }
        },
    }

    def nic(name: str, configs: list[tuple[str, str | None, bool]]) -> dict:
        return {
            "id": f"/x/{name}",
            "properties": {
                "ipConfigurations": [
                    {
                        "properties": {
                            "primary": primary,
                            "privateIPAddress": private,
                            **({"publicIPAddress": {"id": f"/pip/{public}"}} if public else {}),
                        }
                    }
                    for private, public, primary in configs
                ]
            },
        }

    pips = [{"id": f"/pip/{a}", "properties": {"ipAddress": a}} for a in (primary_public, secondary_public) if a]
    nics = [
        nic("nic-a", [("10.0.0.5", None, False), ("10.0.0.4", primary_public, True)]),
        nic("nic-b", [("10.9.0.4", secondary_public, True)]),
    ]
    (record,) = azure_vms.normalize_vms([vm], nics, pips)
    return record


@pytest.mark.parametrize(
    ("primary_public", "secondary_public", "preference", "expected"),
    [
        (None, "203.0.113.9", ["public_ip", "private_ip"], "10.0.0.4"),
        ("203.0.113.8", "203.0.113.9", ["public_ip", "private_ip"], "203.0.113.8"),
        (None, "203.0.113.9", ["public_ip", "any_public_ip", "private_ip"], "203.0.113.9"),
        (None, None, ["any_public_ip", "private_ip"], "10.0.0.4"),
    ],
    ids=["secondary-public-ip-is-not-the-address", "primary-public-ip", "opt-in-secondary", "no-public-ip-at-all"],
)
def test_ansible_host_is_the_primary_nic_primary_ipconfig(primary_public, secondary_public, preference, expected):
    record = _two_nics(primary_public, secondary_public)
    assert azure_vms.ansible_host_for(record, preference)[0] == expected
    assert record.private_ip == "10.0.0.4"  # the primary ipconfig of the primary NIC, not the first listed
    assert record.public_ip == primary_public
    assert record.private_ips == ("10.0.0.4", "10.0.0.5", "10.9.0.4")  # every address, primary NIC first
    assert record.public_ips == tuple(a for a in (primary_public, secondary_public) if a)
