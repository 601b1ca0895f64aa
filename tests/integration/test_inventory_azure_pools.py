"""azlin.fleet.azure_pools through real ansible-inventory / ansible-playbook, the real Azure SDK and the local
ARM endpoint.

Most tests use an endpoint of their own (started with ``launch()`` for this module, no sshd needed) so that faults
and page sizes never disturb other tests; the last one runs a playbook over the shared sandbox's real hosts.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from azlin_fleet_sandbox.arm import ArmAdmin, launch, stop
from azlin_fleet_sandbox.spec import default_hosts

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(__file__).parent / "targets" / "inventory_azure_pools"
HOSTS = default_hosts(8)
RUNNING = sorted(h.name for h in HOSTS)
HOSTILE_PATH = Path("/tmp/x")  # what the sandbox world's hostile tag tries to touch


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    state = tmp_path_factory.mktemp("azure-pools-endpoint")
    found = launch(state, HOSTS, subscriptions=2)
    try:
        yield found
    finally:
        stop(state)


@pytest.fixture
def admin(endpoint: dict) -> Iterator[ArmAdmin]:
    arm = ArmAdmin(endpoint)
    arm.reset()
    yield arm
    arm.reset()


@pytest.fixture(scope="module")
def env(endpoint: dict) -> dict[str, str]:
    venv = Path(os.environ.get("FLEET_ANSIBLE_VENV", ".venv"))
    bin_dir = (venv if venv.is_absolute() else REPO / venv) / "bin"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "AZURE_", "AZLIN_FLEET_"))}
    return clean | {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{bin_dir}{os.pathsep}{clean.get('PATH', '')}",
        # The machine exports its own bundle; the endpoint's CA must win (DESIGN.md section 4).
        "REQUESTS_CA_BUNDLE": endpoint["ca_bundle"],
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def config(tmp_path: Path, endpoint: dict, drop: tuple[str, ...] = (), **options) -> Path:
    """The endpoint's generated inventory config without its sandbox-ssh compose, changed by ``options``."""
    data = yaml.safe_load(Path(endpoint["inventory_file"]).read_text())
    data.pop("compose", None)
    for key in drop:
        data.pop(key, None)
    data.update(options)
    path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.azure_pools.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def inventory(env: dict, cfg: Path, *args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-inventory", "-i", str(cfg), *args],
        env=env | (extra_env or {}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _plain(obj: dict):
    # ansible-inventory marks strings that are not trusted templates as {"__ansible_unsafe": "..."}.
    return obj["__ansible_unsafe"] if set(obj) == {"__ansible_unsafe"} else obj


def listing(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout, object_hook=_plain)


def hosts_of(data: dict, group: str = "all") -> list[str]:
    if group == "all":
        return sorted(data["_meta"]["hostvars"])
    return sorted(data.get(group, {}).get("hosts", []))


def world_vms(admin: ArmAdmin) -> list[dict]:
    return admin.world()["vms"]


def test_lists_every_subscription_and_follows_pages(tmp_path, endpoint, admin, env):
    admin.configure(page_size=2)
    data = listing(inventory(env, config(tmp_path, endpoint), "--list"))
    assert hosts_of(data) == RUNNING
    subs = {v["azure_subscription_id"] for v in data["_meta"]["hostvars"].values()}
    assert subs == set(endpoint["subscriptions"])
    per_sub = [sum(1 for vm in world_vms(admin) if vm["subscription"] == sub) for sub in endpoint["subscriptions"]]
    counts = admin.requests()
    # statusOnly list + model list (the minimal statusOnly shape has no networkProfile), each paged by 2.
    assert counts["vms"] == 2 * sum(math.ceil(n / 2) for n in per_sub)
    assert counts["nics"] > len(per_sub) and counts["public_ips"] >= len(per_sub)
    assert counts["total"] < 3 * sum(per_sub)  # no per-VM calls
    assert counts["by_status"] == {"200": counts["total"]}


def test_full_status_only_shape_needs_no_model_list(tmp_path, endpoint, admin, env):
    admin.configure(status_only_shape="full")
    data = listing(inventory(env, config(tmp_path, endpoint), "--list"))
    assert hosts_of(data) == RUNNING
    assert admin.requests()["vms"] == len(endpoint["subscriptions"])


def test_deallocated_vms_are_excluded_by_default_and_grouped_when_asked(tmp_path, endpoint, admin, env):
    default = listing(inventory(env, config(tmp_path, endpoint), "--list"))
    assert "deallocated-1" not in hosts_of(default) and "stopped-1" not in hosts_of(default)
    assert hosts_of(default, "powerstate_running") == RUNNING

    data = listing(
        inventory(env, config(tmp_path, endpoint, power_states=["running", "deallocated", "stopped"]), "--list")
    )
    # The world's second "web-1" (another subscription and resource group, deallocated): both appear, renamed.
    assert hosts_of(data, "powerstate_deallocated") == ["deallocated-1", "web-1_rg-twins"]
    assert hosts_of(data, "powerstate_stopped") == ["stopped-1"]
    assert "web-1_rg-web-servers" in hosts_of(data, "powerstate_running")
    assert "web-1" not in hosts_of(data)
    assert hosts_of(data, "pool_archive") == ["deallocated-1", "stopped-1", "web-1_rg-twins"]
    twins = [data["_meta"]["hostvars"][h]["azure_subscription_id"] for h in ("web-1_rg-web-servers", "web-1_rg-twins")]
    assert twins[0] != twins[1]


def test_several_nics_and_no_public_ip(tmp_path, endpoint, admin, env):
    cfg = config(tmp_path, endpoint, hostname_source=["public_ip", "private_ip"])
    hostvars = listing(inventory(env, cfg, "--list"))["_meta"]["hostvars"]
    second, last = HOSTS[1], HOSTS[-1]
    # The second host's extra NIC is listed first in its networkProfile but is not primary.
    assert hostvars[second.name]["azure_private_ip"] == second.address
    assert hostvars[second.name]["azure_private_ips"] == [second.address, "10.99.0.11"]
    assert hostvars[last.name]["azure_public_ips"] == []
    assert hostvars[last.name]["azure_public_ip"] is None
    assert hostvars[last.name]["ansible_host"] == last.address  # falls back to the private address
    assert hostvars[HOSTS[0].name]["ansible_host"] == hostvars[HOSTS[0].name]["azure_public_ip"]


def test_hostile_tag_is_shown_verbatim_and_never_executed(tmp_path, endpoint, admin, env):
    before = HOSTILE_PATH.stat().st_mtime_ns if HOSTILE_PATH.exists() else None
    hostile = next(vm["tags"]["note"] for vm in world_vms(admin) if "note" in vm["tags"])
    cfg = config(
        tmp_path,
        endpoint,
        compose={"fleet_note_copy": "azure_tags['note'] | default('')"},
        keyed_groups=[{"key": "azure_tags['note'] | default('')", "prefix": "note"}],
    )
    data = listing(inventory(env, cfg, "--list"))
    hostvars = data["_meta"]["hostvars"][HOSTS[0].name]
    assert hostvars["azure_tags"]["note"] == hostile
    assert hostvars["fleet_note_copy"] == hostile
    play = subprocess.run(
        ["ansible-playbook", "-i", str(cfg), str(TARGET / "playbooks" / "hostile_tag.yml"), "-v"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert play.returncode == 0, play.stdout + play.stderr
    assert hostile in play.stdout
    after = HOSTILE_PATH.stat().st_mtime_ns if HOSTILE_PATH.exists() else None
    assert after == before, f"{HOSTILE_PATH} was touched: the tag value was executed"


def test_429_then_success_honours_retry_after(tmp_path, endpoint, admin, env):
    admin.fault(429, count=2, retry_after=1, kind="vms")
    out = tmp_path / "list.json"
    proc = inventory(env, config(tmp_path, endpoint), "--list", "-vvvv", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert hosts_of(json.loads(out.read_text(), object_hook=_plain)) == RUNNING
    assert admin.requests()["by_status"].get("429") == 2
    assert "[WARNING]" not in proc.stderr
    assert "2 retries" in proc.stdout + proc.stderr


@pytest.mark.parametrize("status", [500, 403])
def test_failing_subscription_is_a_warning_naming_it(tmp_path, endpoint, admin, env, status):
    bad, good = endpoint["subscriptions"][1], endpoint["subscriptions"][0]
    admin.fault(status, count=None, subscription=bad)
    cfg = config(tmp_path, endpoint, max_retries=1)
    proc = inventory(env, cfg, "--list")
    data = listing(proc)
    assert {v["azure_subscription_id"] for v in data["_meta"]["hostvars"].values()} == {good}
    expected = sorted(
        vm["name"] for vm in world_vms(admin) if vm["subscription"] == good and vm["power_state"] == "running"
    )
    assert hosts_of(data) == expected
    warning = " ".join(proc.stderr.split())
    assert f"Skipped subscription '{bad}'" in warning
    assert f"{status}" in warning and "fail_on_partial" in warning

    strict = inventory(
        env,
        config(tmp_path, endpoint, max_retries=1, fail_on_partial=True),
        "--list",
        extra_env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"},
    )
    assert strict.returncode != 0
    assert f"in subscription '{bad}'" in strict.stderr and "fail_on_partial is true" in strict.stderr


def test_every_subscription_failing_is_an_error(tmp_path, endpoint, admin, env):
    admin.fault(403, count=None, kind="vms")
    proc = inventory(env, config(tmp_path, endpoint), "--list", extra_env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert proc.returncode != 0
    assert "no subscription could be listed" in proc.stderr


def test_azure_cli_credential_through_the_az_stand_in(tmp_path, endpoint, admin, env):
    cfg = config(tmp_path, endpoint, drop=("client_id", "client_secret", "tenant_id"), auth_source="cli")
    proc = inventory(env, cfg, "--list", extra_env={"PATH": f"{endpoint['az_bin_dir']}{os.pathsep}{env['PATH']}"})
    assert hosts_of(listing(proc)) == RUNNING


def test_awx_environment_names(tmp_path, endpoint, admin, env):
    cfg = config(tmp_path, endpoint, drop=("client_id", "client_secret", "tenant_id"), auth_source="env")
    awx = {
        "AZURE_CLIENT_ID": endpoint["client_id"],
        "AZURE_SECRET": endpoint["client_secret"],
        "AZURE_TENANT": endpoint["tenant_id"],
        "AZURE_SUBSCRIPTION_ID": endpoint["subscriptions"][0],
    }
    data = listing(inventory(env, cfg, "--list", extra_env=awx))
    assert {v["azure_subscription_id"] for v in data["_meta"]["hostvars"].values()} == {endpoint["subscriptions"][0]}
    assert admin.requests()["subscriptions"] == 0  # AZURE_SUBSCRIPTION_ID set: no subscription listing


def test_workload_identity(tmp_path, endpoint, admin, env):
    cfg = config(
        tmp_path,
        endpoint,
        drop=("client_secret",),
        auth_source="workload_identity",
        federated_token_file=endpoint["federated_token_file"],
    )
    assert hosts_of(listing(inventory(env, cfg, "--list"))) == RUNNING


@pytest.mark.parametrize(
    ("options", "drop", "message"),
    [
        (
            {"subscription": "x"},
            (),
            "unknown option(s) 'subscription'. Did you mean 'subscriptions' instead of 'subscription'?",
        ),
        ({"auth_source": "magic"}, (), "Invalid value 'magic' for config 'auth_source'"),
        (
            {},
            ("client_secret",),
            "Missing Azure credential for auth_source 'credential': client_secret (or AZURE_SECRET",
        ),
        ({"hostname_source": ["dns"]}, (), "Invalid value"),
    ],
    ids=["unknown-option", "bad-auth-source", "missing-credential", "bad-hostname-source"],
)
def test_bad_config_is_one_clear_error_before_any_request(tmp_path, endpoint, admin, env, options, drop, message):
    cfg = config(tmp_path, endpoint, drop=drop, **options)
    strict_env = {"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true", "ANSIBLE_INVENTORY_ENABLED": "azlin.fleet.azure_pools"}
    proc = inventory(env, cfg, "--list", extra_env=strict_env)
    assert proc.returncode != 0
    text = " ".join(proc.stderr.split())
    assert text.count(message) == 2, proc.stderr  # the plugin's failure and its cause, shown once each
    assert "Traceback" not in proc.stderr
    assert admin.requests()["total"] == 0


def test_verbose_prints_counts(tmp_path, endpoint, admin, env):
    proc = inventory(env, config(tmp_path, endpoint), "--list", "-v")
    vms = world_vms(admin)
    filtered = len(vms) - len(RUNNING)
    assert (
        f"azure_pools: 2 subscription(s) listed, {len(vms)} VMs seen, {len(RUNNING)} hosts added, "
        f"{filtered} filtered out (power state deallocated: 2, power state stopped: 1)"
    ) in proc.stdout


def test_cache_holds_fetched_data_but_no_credentials(tmp_path, endpoint, admin, env):
    cache_dir = tmp_path / "cache"
    cfg = config(
        tmp_path,
        endpoint,
        cache=True,
        cache_plugin="ansible.builtin.jsonfile",
        cache_connection=str(cache_dir),
        cache_timeout=600,
    )
    first = listing(inventory(env, cfg, "--list"))
    requests_first = admin.requests()["total"]
    second = listing(inventory(env, cfg, "--list"))
    assert second == first
    assert admin.requests()["total"] == requests_first  # served from the cache
    cached = "".join(p.read_text() for p in cache_dir.iterdir())
    assert "10.213.0.11" in cached
    for secret in (endpoint["client_secret"], "access_token", "Bearer", "accessToken"):
        assert secret not in cached
    flushed = listing(inventory(env, cfg, "--list", "--flush-cache"))
    assert flushed == first and admin.requests()["total"] > requests_first


def test_playbook_targets_a_pool_of_sandbox_hosts(sandbox, run_playbook):
    azure_inventory = Path(sandbox.state_dir) / "azure" / "fleet.azure_pools.yml"
    assert azure_inventory.exists(), "the session sandbox was started without its Azure endpoint"
    proc = run_playbook(
        TARGET / "playbooks" / "pool.yml", inventory=azure_inventory, extra_vars={"fleet_targets": "pool_web_servers"}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recap = proc.stdout.split("PLAY RECAP", 1)[1]
    web = sorted(h.name for h in sandbox.hosts() if "web-servers" in h.pools)
    assert sorted(line.split()[0] for line in recap.strip().splitlines() if ":" in line) == web
    for name in web:
        assert f"{name} answered as {name}" in proc.stdout
