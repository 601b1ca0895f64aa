"""The local Azure endpoint, driven by the real, unmodified azure-identity and azure-mgmt-* clients.

The endpoint runs as its own process (started by `launch()` in a module fixture) with a few HostSpecs of our own,
so these tests do not need the sshd hosts.
"""

from __future__ import annotations

import json
import math
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.rest import HttpRequest
from azure.identity import (
    AzureCliCredential,
    ClientAssertionCredential,
    ClientSecretCredential,
    EnvironmentCredential,
)
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from azlin_fleet_sandbox.arm import ArmAdmin, is_running, launch, reset, stop
from azlin_fleet_sandbox.spec import HostSpec

pytestmark = pytest.mark.integration

HOSTS = [
    HostSpec(
        name="web-1", address="127.0.10.1", pools=("web-servers",), tags={"azlin-pool": "web-servers", "env": "dev"}
    ),
    HostSpec(
        name="web-2",
        address="127.0.10.2",
        pools=("web-servers",),
        tags={"azlin-pool": "web-servers", "env": "dev"},
        cpus=4,
    ),
    HostSpec(
        name="stage-1", address="127.0.11.1", pools=("staging",), tags={"azlin-pool": "staging", "env": "staging"}
    ),
    HostSpec(name="ci-1", address="127.0.12.1", pools=("ci",), tags={"azlin-pool": "ci", "env": "dev"}),
    HostSpec(name="ci-2", address="127.0.12.2", port=2222, pools=("ci",), tags={"azlin-pool": "ci", "env": "dev"}),
]
# The extra VMs the world documents (azlin_fleet_sandbox/arm/world.py): never running, never reachable.
EXTRA_VMS = {"deallocated-1": "deallocated", "stopped-1": "stopped"}
HOSTILE = "{{ lookup('pipe','touch /tmp/x') }}"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory):
    state_dir = tmp_path_factory.mktemp("arm-state")
    ep = launch(state_dir, HOSTS, subscriptions=2)
    try:
        yield ep
    finally:
        assert stop(state_dir) is True
        assert stop(state_dir) is False  # idempotent
        assert not is_running(state_dir)
        assert not Path(f"/proc/{ep['pid']}").exists()


@pytest.fixture
def admin(endpoint: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> ArmAdmin:
    # The machine exports its own REQUESTS_CA_BUNDLE, which would win over anything else: point it at our CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", endpoint["ca_bundle"])
    client = ArmAdmin(endpoint)
    client.reset()
    yield client
    client.reset()


def secret_credential(ep: dict[str, Any], secret: str | None = None) -> ClientSecretCredential:
    return ClientSecretCredential(
        ep["tenant_id"],
        ep["client_id"],
        secret or ep["client_secret"],
        authority=ep["base_url"],
        disable_instance_discovery=True,
    )


def compute(ep: dict[str, Any], cred: Any, sub: str, **kwargs: Any) -> ComputeManagementClient:
    base = ep["base_url"]
    return ComputeManagementClient(cred, sub, base_url=base, credential_scopes=[base + "/.default"], **kwargs)


def network(ep: dict[str, Any], cred: Any, sub: str) -> NetworkManagementClient:
    base = ep["base_url"]
    return NetworkManagementClient(cred, sub, base_url=base, credential_scopes=[base + "/.default"])


def list_everything(ep: dict[str, Any], cred: Any) -> dict[str, list[Any]]:
    """What an inventory does: per subscription, VMs (model + status), NICs, public IPs."""
    out: dict[str, list[Any]] = {"vms": [], "status": [], "nics": [], "pips": []}
    for sub in ep["subscriptions"]:
        c, n = compute(ep, cred, sub), network(ep, cred, sub)
        out["vms"] += list(c.virtual_machines.list_all())
        out["status"] += list(c.virtual_machines.list_all(status_only="true"))
        out["nics"] += list(n.network_interfaces.list_all())
        out["pips"] += list(n.public_ip_addresses.list_all())
    return out


def raw_get(ep: dict[str, Any], path_or_url: str, token: str | None = None) -> tuple[int, dict[str, Any], Any]:
    url = path_or_url if path_or_url.startswith("https://") else ep["base_url"] + path_or_url
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ctx = ssl.create_default_context(cafile=ep["ca_bundle"])
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=ctx, timeout=30) as r:
            return r.status, dict(r.headers), json.load(r)
    except urllib.error.HTTPError as ex:
        return ex.code, dict(ex.headers), json.load(ex)


def power_of(vm: Any) -> str:
    codes = [s.code for s in vm.instance_view.statuses]
    assert "ProvisioningState/succeeded" in codes
    return next(c.split("/", 1)[1] for c in codes if c.startswith("PowerState/"))


def test_client_secret_lists_every_sandbox_host_with_its_address_pool_and_public_ip(endpoint, admin):
    everything = list_everything(endpoint, secret_credential(endpoint))
    vms = everything["vms"]
    names = sorted(vm.name for vm in vms)
    # Every host once, the extras, and the second VM named like the first host (another subscription).
    assert names == sorted([h.name for h in HOSTS] + list(EXTRA_VMS) + [HOSTS[0].name])
    assert len({vm.id.lower() for vm in vms}) == len(vms)
    subs_used = {vm.id.split("/")[2] for vm in vms}
    assert subs_used == set(endpoint["subscriptions"])
    assert len({vm.id.split("/")[4].lower() for vm in vms}) >= 2

    nics_by_vm: dict[str, list[Any]] = {}
    for nic in everything["nics"]:
        if nic.virtual_machine is not None:
            nics_by_vm.setdefault(nic.virtual_machine.id.lower(), []).append(nic)
    pips = {pip.id.lower(): pip for pip in everything["pips"]}
    for host in HOSTS:
        (vm,) = [v for v in vms if v.name == host.name and v.tags.get("azlin-pool") == host.pools[0]]
        assert vm.tags["env"] == host.tags["env"]
        assert vm.os_profile.admin_username == "root"
        nics = nics_by_vm[vm.id.lower()]  # joined case-insensitively: some ids differ in resource-group case
        primary = [n for n in nics if n.primary]
        assert len(primary) == 1
        assert primary[0].ip_configurations[0].private_ip_address == host.address
        ref = primary[0].ip_configurations[0].public_ip_address
        if host is HOSTS[-1]:
            assert ref is None  # the last host has no public IP
        elif host is HOSTS[1]:
            assert ref is None  # the second host's only public IP is on its secondary NIC
            (secondary,) = [n for n in nics if not n.primary]
            secondary_ref = secondary.ip_configurations[0].public_ip_address
            assert pips[secondary_ref.id.lower()].ip_address.startswith("203.0.113.")
        else:
            assert pips[ref.id.lower()].ip_address.startswith("203.0.113.")
    assert len(nics_by_vm[next(v.id.lower() for v in vms if v.name == "web-2")]) == 2
    ci2 = next(v for v in vms if v.name == "ci-2")
    assert ci2.tags["sandbox-ssh-port"] == "2222"


def test_ids_differ_in_resource_group_case_and_join_case_insensitively(endpoint, admin):
    everything = list_everything(endpoint, secret_credential(endpoint))
    vm_ids = {vm.id for vm in everything["vms"]}
    vm_ids_lower = {i.lower() for i in vm_ids}
    nic_refs = [n.virtual_machine.id for n in everything["nics"] if n.virtual_machine is not None]
    assert all(ref.lower() in vm_ids_lower for ref in nic_refs)
    assert [ref for ref in nic_refs if ref not in vm_ids], "no VM id differs in case from its NIC's reference"
    pip_ids = {p.id for p in everything["pips"]}
    pip_refs = [
        c.public_ip_address.id
        for n in everything["nics"]
        for c in n.ip_configurations
        if c.public_ip_address is not None
    ]
    assert all(ref.lower() in {i.lower() for i in pip_ids} for ref in pip_refs)
    assert [ref for ref in pip_refs if ref not in pip_ids], "no public IP reference differs in case"


def test_hostile_tag_value_comes_back_as_literal_text(endpoint, admin):
    vms = list_everything(endpoint, secret_credential(endpoint))["vms"]
    tagged = {(vm.name, vm.id.split("/")[4].lower()) for vm in vms if vm.tags.get("note") == HOSTILE}
    assert tagged == {(HOSTS[0].name, f"rg-{HOSTS[0].pools[0]}"), ("stopped-1", "rg-extra")}


def test_status_only_gives_power_states(endpoint, admin):
    status = list_everything(endpoint, secret_credential(endpoint))["status"]
    power = {(vm.name, vm.id.split("/")[4].lower()): power_of(vm) for vm in status}
    for host in HOSTS:
        assert power[(host.name, f"rg-{host.pools[0]}")] == "running"
    assert power[("deallocated-1", "rg-extra")] == "deallocated"
    assert power[("stopped-1", "rg-extra")] == "stopped"
    assert power[(HOSTS[0].name, "rg-twins")] == "deallocated"
    # The documented default shape: status only, no model (the consumer joins with the full list by id).
    assert all(vm.network_profile is None and not vm.tags for vm in status)


def test_power_state_change_is_visible_live_and_reset_restores_it(endpoint, admin):
    sub = endpoint["subscriptions"][1]  # web-2 is host index 1 -> subscription 1
    c = compute(endpoint, secret_credential(endpoint), sub)
    admin.set_power("web-2", "deallocated")
    assert {vm.name: power_of(vm) for vm in c.virtual_machines.list_all(status_only="true")}["web-2"] == "deallocated"
    admin.reset()
    assert {vm.name: power_of(vm) for vm in c.virtual_machines.list_all(status_only="true")}["web-2"] == "running"


def test_full_status_shape_carries_the_model_too(endpoint, admin):
    admin.configure(status_only_shape="full")
    c = compute(endpoint, secret_credential(endpoint), endpoint["subscriptions"][0])
    status = list(c.virtual_machines.list_all(status_only="true"))
    assert status and all(vm.network_profile.network_interfaces and power_of(vm) for vm in status)


def test_azure_cli_credential_through_the_az_stand_in(endpoint, admin, monkeypatch):
    monkeypatch.setenv("PATH", endpoint["az_bin_dir"] + os.pathsep + os.environ["PATH"])
    sub = endpoint["subscriptions"][0]
    via_cli = sorted(vm.id for vm in compute(endpoint, AzureCliCredential(), sub).virtual_machines.list_all())
    via_secret = sorted(vm.id for vm in compute(endpoint, secret_credential(endpoint), sub).virtual_machines.list_all())
    assert via_cli == via_secret and len(via_cli) >= 3
    assert admin.requests()["token"] == 2  # one from `az`, one from the secret credential


def test_az_stand_in_account_show_and_refusal(endpoint, admin):
    az = Path(endpoint["az_bin_dir"]) / "az"
    shown = json.loads(
        subprocess.run([az, "account", "show", "--output", "json"], check=True, capture_output=True, text=True).stdout
    )
    assert (shown["id"], shown["tenantId"]) == (endpoint["subscriptions"][0], endpoint["tenant_id"])
    refused = subprocess.run([az, "vm", "list"], capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.startswith("ERROR: ")
    bad_tenant = subprocess.run([az, "account", "get-access-token", "--tenant", "nope"], capture_output=True, text=True)
    assert bad_tenant.returncode == 1 and "AADSTS90002" in bad_tenant.stderr


def test_module_reset_clears_faults_and_counts(endpoint, admin):
    state_dir = Path(endpoint["env_file"]).parents[1]
    admin.fault(403, subscription=endpoint["subscriptions"][0])
    assert admin.get("faults")["faults"]
    assert reset(state_dir) is True
    assert admin.get("faults")["faults"] == [] and admin.requests()["total"] == 0


def test_environment_credential_from_env_sh(endpoint, admin, monkeypatch):
    exports = {}
    for line in Path(endpoint["env_file"]).read_text().splitlines():
        if line.startswith("export ") and not line.startswith("export PATH="):
            key, _, value = line[len("export ") :].partition("=")
            exports[key] = value.strip("'")
    for key, value in exports.items():
        monkeypatch.setenv(key, value)
    cred = EnvironmentCredential(disable_instance_discovery=True)
    vms = list(compute(endpoint, cred, exports["AZURE_SUBSCRIPTION_ID"]).virtual_machines.list_all())
    assert vms


def test_workload_identity_client_assertion(endpoint, admin):
    token = Path(endpoint["federated_token_file"]).read_text()
    cred = ClientAssertionCredential(
        endpoint["tenant_id"], endpoint["client_id"], lambda: token, authority=endpoint["base_url"]
    )
    assert list(compute(endpoint, cred, endpoint["subscriptions"][0]).virtual_machines.list_all())
    wrong = ClientAssertionCredential(
        endpoint["tenant_id"], endpoint["client_id"], lambda: "not-it", authority=endpoint["base_url"]
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS700213"):
        list(compute(endpoint, wrong, endpoint["subscriptions"][0]).virtual_machines.list_all())


def test_wrong_secret_raises_client_authentication_error(endpoint, admin):
    c = compute(endpoint, secret_credential(endpoint, "not-the-secret"), endpoint["subscriptions"][0])
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        list(c.virtual_machines.list_all())
    counts = admin.requests()
    assert counts["vms"] == 0 and counts["by_status"] == {"200": 1, "401": 1}  # openid 200, token 401


def test_arm_without_or_with_unknown_token_is_401(endpoint, admin):
    sub = endpoint["subscriptions"][0]
    path = f"/subscriptions/{sub}/providers/Microsoft.Compute/virtualMachines?api-version=2026-04-01"
    status, headers, body = raw_get(endpoint, path)
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed"
    assert headers["WWW-Authenticate"].startswith("Bearer ")
    status, _, body = raw_get(endpoint, path, token="made-up")
    assert status == 401 and body["error"]["code"] == "InvalidAuthenticationToken"


def test_subscriptions_list_through_the_sdk_pipeline(endpoint, admin):
    c = compute(endpoint, secret_credential(endpoint), endpoint["subscriptions"][0])
    response = c.send_request(HttpRequest("GET", f"{endpoint['base_url']}/subscriptions?api-version=2022-12-01"))
    response.raise_for_status()
    body = response.json()
    assert [s["subscriptionId"] for s in body["value"]] == endpoint["subscriptions"]
    assert all(s["tenantId"] == endpoint["tenant_id"] and s["state"] == "Enabled" for s in body["value"])
    assert "nextLink" not in body


def test_paging_returns_every_vm_exactly_once(endpoint, admin):
    cred = secret_credential(endpoint)
    full = {
        sub: sorted(vm.id for vm in compute(endpoint, cred, sub).virtual_machines.list_all())
        for sub in endpoint["subscriptions"]
    }
    admin.configure(page_size=2)
    admin.reset()  # reset restores the launch page size...
    admin.configure(page_size=2)  # ...so set it again after clearing the counts
    total_pages = 0
    for sub in endpoint["subscriptions"]:
        paged = [vm.id for vm in compute(endpoint, cred, sub).virtual_machines.list_all()]
        assert len(paged) == len(set(paged))
        assert sorted(paged) == full[sub]
        total_pages += math.ceil(len(paged) / 2)
    assert admin.requests()["vms"] == total_pages > len(endpoint["subscriptions"])


def test_next_link_keeps_api_version_and_status_only(endpoint, admin):
    admin.configure(page_size=1)
    token = secret_credential(endpoint).get_token(endpoint["base_url"] + "/.default").token
    sub = endpoint["subscriptions"][0]
    status, _, body = raw_get(
        endpoint,
        f"/subscriptions/{sub}/providers/Microsoft.Compute/virtualMachines?api-version=2026-04-01&statusOnly=true",
        token,
    )
    assert status == 200 and len(body["value"]) == 1
    link = body["nextLink"]
    assert link.startswith(endpoint["base_url"] + f"/subscriptions/{sub}/") and "api-version=2026-04-01" in link
    assert "statusOnly=true" in link
    status, _, second = raw_get(endpoint, link, token)
    assert status == 200 and second["value"][0]["id"] != body["value"][0]["id"]


def test_missing_api_version_is_400(endpoint, admin):
    token = secret_credential(endpoint).get_token(endpoint["base_url"] + "/.default").token
    status, _, body = raw_get(
        endpoint, f"/subscriptions/{endpoint['subscriptions'][0]}/providers/Microsoft.Network/networkInterfaces", token
    )
    assert status == 400 and body["error"]["code"] == "MissingApiVersionParameter"


def test_resource_group_list_matches_case_insensitively(endpoint, admin):
    c = compute(endpoint, secret_credential(endpoint), endpoint["subscriptions"][0])
    lower = sorted(vm.name for vm in c.virtual_machines.list("rg-web-servers"))
    upper = sorted(vm.name for vm in c.virtual_machines.list("RG-Web-Servers"))
    assert lower == upper == ["web-1"]  # web-2 went to the other subscription


def test_429_with_retry_after_is_retried_by_the_sdk(endpoint, admin):
    admin.fault(429, count=2, retry_after=1, kind="vms")
    c = compute(endpoint, secret_credential(endpoint), endpoint["subscriptions"][0])
    started = time.monotonic()
    vms = list(c.virtual_machines.list_all())
    elapsed = time.monotonic() - started
    assert vms
    counts = admin.requests()
    assert counts["by_status"]["429"] == 2 and counts["vms"] == 3
    assert elapsed >= 2.0  # the SDK slept Retry-After (1 s) twice


def test_429_only_for_one_subscription(endpoint, admin):
    sub0, sub1 = endpoint["subscriptions"]
    admin.fault(429, count=1, retry_after=1, subscription=sub1)
    cred = secret_credential(endpoint)
    list(compute(endpoint, cred, sub0).virtual_machines.list_all())
    assert "429" not in admin.requests()["by_status"]
    list(compute(endpoint, cred, sub1).virtual_machines.list_all())
    counts = admin.requests()
    assert counts["by_status"]["429"] == 1
    assert counts["by_subscription"] == {sub0: 1, sub1: 2}


def test_500_is_retried_by_the_sdk(endpoint, admin):
    admin.fault(500, count=1, kind="nics")
    nics = list(
        network(endpoint, secret_credential(endpoint), endpoint["subscriptions"][0]).network_interfaces.list_all()
    )
    assert nics and admin.requests()["by_status"]["500"] == 1


def test_403_for_one_subscription_persists_until_reset(endpoint, admin):
    sub0, sub1 = endpoint["subscriptions"]
    admin.fault(403, subscription=sub1)
    cred = secret_credential(endpoint)
    assert list(compute(endpoint, cred, sub0).virtual_machines.list_all())
    for _ in range(2):
        with pytest.raises(HttpResponseError) as info:
            list(compute(endpoint, cred, sub1).virtual_machines.list_all())
        assert info.value.status_code == 403
        assert info.value.error.code == "AuthorizationFailed"
    admin.reset()
    assert list(compute(endpoint, cred, sub1).virtual_machines.list_all())


def test_slow_pages(endpoint, admin):
    admin.fault(delay=0.6, count=1, kind="public_ips")
    n = network(endpoint, secret_credential(endpoint), endpoint["subscriptions"][0])
    started = time.monotonic()
    assert list(n.public_ip_addresses.list_all())
    assert time.monotonic() - started >= 0.6


def test_request_counts_for_one_inventory_pass(endpoint, admin):
    list_everything(endpoint, secret_credential(endpoint))
    counts = admin.requests()
    subs = len(endpoint["subscriptions"])
    assert counts["token"] == 1 and counts["openid"] == 1
    assert (counts["vms"], counts["nics"], counts["public_ips"]) == (2 * subs, subs, subs)
    assert counts["total"] == 2 + 4 * subs and counts["by_status"] == {"200": 2 + 4 * subs}
    # The JSON-lines log holds the same requests, last ones last.
    log = [json.loads(line) for line in Path(endpoint["request_log"]).read_text().splitlines()][-counts["total"] :]
    assert [r["kind"] for r in log].count("vms") == 2 * subs
    assert {r["status"] for r in log} == {200}


@pytest.fixture
def synthetic_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ep = launch(tmp_path, [], synthetic=300, subscriptions=3, page_size=40)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ep["ca_bundle"])
    yield ep
    assert stop(tmp_path) is True and not is_running(tmp_path)


def test_synthetic_scale_mode(synthetic_endpoint):
    ep = synthetic_endpoint
    everything = list_everything(ep, secret_credential(ep))
    names = [vm.name for vm in everything["vms"]]
    assert sorted(names) == [f"vm-{n:05d}" for n in range(1, 301)]
    assert len(everything["nics"]) == 300 and len(everything["pips"]) == 300
    assert all(power_of(vm) == "running" for vm in everything["status"])
    counts = ArmAdmin(ep).requests()
    # 100 VMs per subscription at 40 per page: 3 pages per list kind per subscription, 4 list kinds.
    assert counts["vms"] + counts["nics"] + counts["public_ips"] == 3 * 3 * 4


# -- scale sets, power operations, Azure Monitor ---------------------------------------------------------------------
def _scale_set(admin: ArmAdmin) -> tuple[str, str]:
    made = admin.make_scale_set("web-vmss", ["web-1", "web-2"], tags={"azlin-pool": "runners"})
    return made["subscription"], made["resource_group"]


def test_uniform_scale_set_lists_page_and_survive_429_and_500(endpoint, admin):
    sub, rg = _scale_set(admin)
    admin.configure(page_size=1)
    admin.fault(429, kind="vmss_nics", count=1, retry_after=1)
    admin.fault(500, kind="vmss_vms", count=1)
    cred = secret_credential(endpoint)
    c, n = compute(endpoint, cred, sub), network(endpoint, cred, sub)
    (ss,) = [s for s in c.virtual_machine_scale_sets.list_all() if s.name == "web-vmss"]
    assert ss.orchestration_mode == "Uniform" and ss.tags == {"azlin-pool": "runners"} and ss.sku.capacity == 2
    vms = list(c.virtual_machine_scale_set_vms.list(rg, "web-vmss", expand="instanceView"))
    assert [(v.name, v.instance_id) for v in vms] == [("web-vmss_0", "0"), ("web-vmss_1", "1")]
    assert [s.code for s in vms[0].instance_view.statuses][-1] == "PowerState/running"
    nics = list(n.network_interfaces.list_virtual_machine_scale_set_network_interfaces(rg, "web-vmss"))
    assert [nic.ip_configurations[0].private_ip_address for nic in nics] == [HOSTS[0].address, HOSTS[1].address]
    assert {nic.virtual_machine.id.lower() for nic in nics} == {v.id.lower() for v in vms}
    pips = list(n.public_ip_addresses.list_virtual_machine_scale_set_public_ip_addresses(rg, "web-vmss"))
    refs = {nic.ip_configurations[0].public_ip_address.id.lower() for nic in nics}
    assert {p.id.lower() for p in pips} == refs and all(p.ip_address for p in pips)
    # Uniform instances are not in the subscription's VM list; a plain list without expand has no instance view.
    assert not [v for v in c.virtual_machines.list_all() if v.name.startswith("web-vmss")]
    assert list(c.virtual_machine_scale_set_vms.list(rg, "web-vmss"))[0].instance_view is None
    counts = admin.requests()
    assert counts["by_status"].get("429") == 1 and counts["by_status"].get("500") == 1
    assert counts["vmss_nics"] == 2 + 1 and counts["vmss_vms"] == 2 + 1 + 2


def test_flexible_members_refer_to_their_scale_set(endpoint, admin):
    made = admin.make_scale_set("ci-flex", ["ci-1", "ci-2"], orchestration="Flexible")
    vms = list(compute(endpoint, secret_credential(endpoint), made["subscription"]).virtual_machines.list_all())
    flex = {v.name: v for v in vms if v.virtual_machine_scale_set is not None}
    assert sorted(flex) == ["ci-1", "ci-2"]
    assert all(v.virtual_machine_scale_set.id.endswith("/virtualMachineScaleSets/ci-flex") for v in flex.values())


def test_power_operations_are_long_running_and_honour_a_throttled_write(endpoint, admin):
    cred = secret_credential(endpoint)
    row = next(v for v in admin.world()["vms"] if v["name"] == "stage-1")
    c = compute(endpoint, cred, row["subscription"])
    admin.fault(429, kind="power", count=1, retry_after=1)
    started = time.monotonic()
    c.virtual_machines.begin_deallocate(row["resource_group"], "stage-1", polling_interval=1).result()
    assert time.monotonic() - started >= 1  # waited out the Retry-After of the 429
    assert next(v for v in admin.world()["vms"] if v["name"] == "stage-1")["power_state"] == "deallocated"
    log = [json.loads(line) for line in Path(endpoint["request_log"]).read_text().splitlines()]
    power = [r for r in log if r["kind"] in ("power", "operations")]
    assert [r["status"] for r in power if r["kind"] == "power"][-2:] == [429, 202]
    assert any(r["kind"] == "operations" and "/operations/" in r["path"] for r in power)
    # A refused write surfaces as the ARM error.
    admin.fault(403, kind="power", count=1)
    with pytest.raises(HttpResponseError, match="AuthorizationFailed"):
        c.virtual_machines.begin_start(row["resource_group"], "stage-1", polling_interval=1).result()
    # A failed operation carries its ARM error; the VM keeps its state.
    admin.fail_next_start("stage-1", {"code": "OverconstrainedAllocationRequest", "message": "No capacity here."})
    with pytest.raises(HttpResponseError, match="OverconstrainedAllocationRequest"):
        c.virtual_machines.begin_start(row["resource_group"], "stage-1", polling_interval=1).result()
    assert next(v for v in admin.world()["vms"] if v["name"] == "stage-1")["power_state"] == "deallocated"
    c.virtual_machines.begin_start(row["resource_group"], "stage-1", polling_interval=1).result()
    assert next(v for v in admin.world()["vms"] if v["name"] == "stage-1")["power_state"] == "running"


def test_batch_metrics_answers_up_to_50_resources_of_one_region(endpoint, admin):
    import datetime as dt

    from azure.monitor.querymetrics import MetricsClient

    base = endpoint["base_url"]
    world = admin.world()["vms"]
    # A subscription with VMs in two regions (the world's extra VMs live in eastus).
    sub = next(
        s for s in endpoint["subscriptions"] if len({v["location"] for v in world if v["subscription"] == s}) > 1
    )
    rows = [v for v in world if v["subscription"] == sub]
    region = rows[0]["location"]
    ids = [v["id"] for v in rows if v["location"] == region]
    client = MetricsClient(f"{base}/metrics/{region}", secret_credential(endpoint), audience=base)
    admin.fault(429, kind="metrics", count=1, retry_after=1)
    results = client.query_resources(
        resource_ids=ids,
        metric_namespace="Microsoft.Compute/virtualMachines",
        metric_names=["Percentage CPU"],
        timespan=dt.timedelta(minutes=5),
        granularity=dt.timedelta(minutes=1),
        aggregations=["Average"],
    )
    assert len(results) == len(ids)
    running = {v["id"] for v in rows if v["power_state"] == "running"}
    for resource_id, result in zip(ids, results, strict=True):
        (metric,) = result.metrics
        assert metric.name == "Percentage CPU" and result.granularity == dt.timedelta(minutes=1)
        points = [p.average for p in metric.timeseries[0].data]
        assert bool(points) == (resource_id in running)
        assert all(0 <= p <= 100 for p in points)
    assert admin.requests()["metrics"] == 2  # the 429, then the answer
    with pytest.raises(HttpResponseError, match="exceeds the maximum of 50"):
        client.query_resources(
            resource_ids=[f"{ids[0]}x{i}" for i in range(51)],
            metric_namespace="Microsoft.Compute/virtualMachines",
            metric_names=["Percentage CPU"],
        )
    other = next(v for v in rows if v["location"] != region)
    with pytest.raises(HttpResponseError, match="not " + region):
        client.query_resources(
            resource_ids=[other["id"]],
            metric_namespace="Microsoft.Compute/virtualMachines",
            metric_names=["Percentage CPU"],
        )
