"""Adapter wiring of azlin.fleet.azure_pools: a real plugin (through Ansible's loader) fills a real InventoryData.

The fetched data comes from the hand-made ARM fixture pages, placed in the plugin's inventory cache, so ``parse``
runs its real cache-hit path: normalize -> filter -> build, constructed features included. The ARM endpoint in the
config is a closed port: a cache miss would fail the test instead of reaching any network.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.inventory import get_cache_plugin
from ansible.plugins.loader import inventory_loader
from ansible.template import is_trusted_as_template

ROOT = Path(__file__).resolve().parents[4]
ARM = ROOT / "tests" / "unit" / "fixtures" / "arm"
S1 = "11111111-1111-4111-8111-111111111111"
HOSTILE_PATH = Path("/tmp/azlin-fleet-unit-hostile")  # what the fixture's hostile tag tries to touch


def fleet_fetched() -> dict:
    doc = json.loads((ARM / "fleet_pages.json").read_text())

    def items(pages):
        return None if pages is None else [item for page in pages for item in page["value"]]

    return {
        "subscriptions": {
            sub: {
                "vms": items(d["vms_status_pages"]),
                "vm_models": items(d["vm_model_pages"]),
                "nics": items(d["nic_pages"]),
                "public_ips": items(d["pip_pages"]),
            }
            for sub, d in doc["subscriptions"].items()
        },
        "failures": {},
        "pages": 10,
        "skipped": [],
    }


@pytest.fixture(scope="module")
def plugin_class():
    # tests/conftest.py installed Ansible's collection loader, so the plugin loader finds the working tree.
    return type(inventory_loader.get("azlin.fleet.azure_pools"))


def run_plugin(plugin_class, tmp_path: Path, fetched: dict | None = None, **options) -> InventoryData:
    """parse() a config with ``options`` after caching the fixture's fetched data under the plugin's own key."""
    cache_dir = tmp_path / "cache"
    config = {
        "plugin": "azlin.fleet.azure_pools",
        "auth_source": "credential",
        "client_id": "app",
        "tenant_id": "tenant",
        "client_secret": "unit-secret",
        "authority_host": "https://127.0.0.1:9",
        "arm_endpoint": "https://127.0.0.1:9",
        "max_retries": 0,
        "cache": True,
        "cache_plugin": "ansible.builtin.jsonfile",
        "cache_connection": str(cache_dir),
        **options,
    }
    path = tmp_path / "fleet.azure_pools.yml"
    path.write_text(yaml.safe_dump(config))
    plugin = inventory_loader.get("azlin.fleet.azure_pools")
    cache = get_cache_plugin(
        "ansible.builtin.jsonfile", _uri=str(cache_dir), _prefix="ansible_inventory_", _timeout=3600
    )
    cache[plugin.get_cache_key(str(path))] = fetched or fleet_fetched()
    cache.set_cache()
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=True)
    inventory.reconcile_inventory()
    return inventory


def members(inventory: InventoryData, group: str) -> list[str]:
    return sorted(h.name for h in inventory.groups[group].get_hosts()) if group in inventory.groups else []


def test_verify_file_accepts_only_its_own_file_names(plugin_class, tmp_path):
    plugin = plugin_class()
    for name, expected in (("fleet.azure_pools.yml", True), ("x.azure_pools.yaml", True), ("hosts.yml", False)):
        (tmp_path / name).write_text("plugin: azlin.fleet.azure_pools\n")
        assert plugin.verify_file(str(tmp_path / name)) is expected, name


def test_hosts_groups_and_hostvars(plugin_class, tmp_path):
    inventory = run_plugin(plugin_class, tmp_path)
    assert sorted(inventory.hosts) == ["app-1", "db-1", "web-1"]
    assert members(inventory, "pool_web_servers") == ["web-1"]
    assert members(inventory, "pool_db") == ["db-1"]
    assert members(inventory, "pool_s1") == ["app-1"]
    assert members(inventory, "tag_env_dev") == ["db-1", "web-1"]
    assert members(inventory, "rg_rg_web") == ["web-1"]
    assert members(inventory, "location_eastus") == ["app-1", "db-1", "web-1"]
    assert members(inventory, "powerstate_running") == ["app-1", "db-1", "web-1"]
    web = inventory.get_host("web-1").vars
    assert (web["ansible_host"], web["ansible_user"], web["azure_subscription_id"]) == ("203.0.113.10", "azureuser", S1)
    assert web["azure_private_ips"] == ["10.0.0.4", "10.99.0.12"]


def test_deallocated_and_duplicate_names_with_power_states(plugin_class, tmp_path):
    inventory = run_plugin(plugin_class, tmp_path, power_states=["running", "deallocated"])
    assert sorted(inventory.hosts) == ["app-1", "db-1", "old-1", "web-1_rg-twins", "web-1_rg-web"]
    assert members(inventory, "powerstate_deallocated") == ["old-1", "web-1_rg-twins"]


def test_tag_values_stay_untrusted_and_are_never_evaluated(plugin_class, tmp_path):
    existed = HOSTILE_PATH.exists()
    inventory = run_plugin(
        plugin_class,
        tmp_path,
        compose={"fleet_note": "azure_tags['note'] | default('')"},
        keyed_groups=[{"key": "azure_tags['note'] | default('none')", "prefix": "note"}],
    )
    web = inventory.get_host("web-1").vars
    expected = "{{ lookup('pipe','touch /tmp/azlin-fleet-unit-hostile') }}"
    assert web["azure_tags"]["note"] == expected
    assert web["fleet_note"] == expected
    assert not is_trusted_as_template(web["azure_tags"]["note"])
    assert "note____lookup__pipe___touch__tmp_azlin_fleet_unit_hostile_____" in inventory.groups
    assert HOSTILE_PATH.exists() == existed


def test_constructed_features(plugin_class, tmp_path):
    inventory = run_plugin(
        plugin_class,
        tmp_path,
        keyed_groups=[{"key": "azure_size", "prefix": "size"}],
        groups={"zonal": "azure_zone is not none"},
        compose={"ansible_port": "2222"},
    )
    assert members(inventory, "size_Standard_D2s_v5") == ["app-1", "web-1"]
    assert members(inventory, "size_Standard_D4s_v5") == ["db-1"]
    assert members(inventory, "zonal") == ["app-1", "web-1"]
    assert inventory.get_host("db-1").vars["ansible_port"] == 2222


def test_filters_and_hostname_source(plugin_class, tmp_path):
    inventory = run_plugin(
        plugin_class, tmp_path, include_tags=["env"], hostname_source=["private_ip"], jump_host="ops@bastion"
    )
    assert sorted(inventory.hosts) == ["app-1", "db-1", "web-1"]
    assert inventory.get_host("web-1").vars["ansible_host"] == "10.0.0.4"
    assert inventory.get_host("db-1").vars["ansible_ssh_common_args"] == "-o ProxyJump=ops@bastion"
    assert "ansible_ssh_common_args" not in inventory.get_host("web-1").vars


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"subscription": ["x"]}, r"unknown option\(s\) 'subscription'"),
        ({"include_tags": ["=dev"]}, r"Invalid include_tags entry '=dev'"),
        ({"auth_source": "credential", "client_secret": ""}, r"Missing Azure credential for auth_source 'credential'"),
    ],
    ids=["unknown-option", "empty-tag-key", "missing-secret"],
)
def test_config_errors(plugin_class, tmp_path, options, message):
    with pytest.raises(AnsibleError, match=message):
        run_plugin(plugin_class, tmp_path, **options)


def test_scale_set_instances_get_vmss_groups_and_vars(plugin_class, tmp_path):
    doc = json.loads((ARM / "vmss_pages.json").read_text())
    data = {k: doc[k] for k in ("scale_sets", "vmss_vms", "vmss_nics", "vmss_public_ips", "vms", "nics", "public_ips")}
    fetched = {"subscriptions": {doc["subscription"]: data}, "failures": {}, "pages": 8, "skipped": []}
    inventory = run_plugin(plugin_class, tmp_path, fetched=fetched, power_states=["running", "deallocated"])
    assert members(inventory, "vmss_ci_runners") == ["ci-runners_0", "ci-runners_1", "ci-runners_2"]
    assert members(inventory, "pool_ci_runners") == ["ci-runners_0", "ci-runners_1", "ci-runners_2"]
    assert members(inventory, "vmss_web_flex") == ["web-flex-a1"]
    assert members(inventory, "powerstate_deallocated") == ["ci-runners_2"]
    one = inventory.get_host("ci-runners_1").vars
    assert (one["azure_vmss_name"], one["azure_vmss_instance_id"], one["ansible_host"]) == (
        "ci-runners",
        "1",
        "198.51.100.21",
    )
    assert inventory.get_host("ci-runners_2").vars["ansible_host"] == "10.5.0.6"  # no public IP: private
