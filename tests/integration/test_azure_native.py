"""Azure-native fleets on the sandbox: scale sets as hosts, the primary NIC's address, waking deallocated VMs
through ARM long-running operations (which really stop and start the hosts' sshd), and CPU from Azure Monitor's
batch metrics API without any SSH connection.

Real ansible-inventory / ansible-playbook, the real Azure SDK, the local ARM endpoint and the sandbox's sshd hosts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient

from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import evaluate_gate, parse_gate
from azlin_fleet_sandbox import Sandbox
from azlin_fleet_sandbox.arm import ArmAdmin, read_endpoint

STAGING = ["stage-1", "stage-2", "stage-3"]


@pytest.fixture
def arm(fleet: Sandbox) -> Iterator[ArmAdmin]:
    admin = ArmAdmin(fleet.state_dir)
    admin.reset()
    yield admin
    admin.reset()


@pytest.fixture
def endpoint(fleet: Sandbox) -> dict:
    found = read_endpoint(fleet.state_dir)
    assert found is not None
    return found


def inventory_file(sandbox: Sandbox, tmp_path: Path, **options) -> Path:
    """The sandbox's azure_pools inventory (client key, known_hosts, private addresses) changed by ``options``."""
    data = yaml.safe_load((sandbox.state_dir / "azure" / "fleet.azure_pools.yml").read_text())
    data.update(options)
    path = tmp_path / f"i{len(list(tmp_path.glob('*.yml')))}.azure_pools.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _plain(obj: dict):
    # ansible-inventory shows values from Azure (never templates) as {"__ansible_unsafe": text}.
    return obj["__ansible_unsafe"] if set(obj) == {"__ansible_unsafe"} else obj


def listing(run_ansible, cfg: Path) -> dict:
    proc = run_ansible(["ansible-inventory", "-i", str(cfg), "--list"])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout, object_hook=_plain)


def members(data: dict, group: str) -> list[str]:
    return sorted(data.get(group, {}).get("hosts", []))


def compute(endpoint: dict, subscription: str) -> ComputeManagementClient:
    base = endpoint["base_url"]
    credential = ClientSecretCredential(
        endpoint["tenant_id"],
        endpoint["client_id"],
        endpoint["client_secret"],
        authority=base,
        disable_instance_discovery=True,
        connection_verify=endpoint["ca_bundle"],
    )
    return ComputeManagementClient(
        credential,
        subscription,
        base_url=base,
        credential_scopes=[f"{base}/.default"],
        connection_verify=endpoint["ca_bundle"],
    )


def vm_row(arm: ArmAdmin, name: str) -> dict:
    (row,) = [v for v in arm.world()["vms"] if v["name"] == name and v.get("host") == name]
    return row


def ssh_open(sandbox: Sandbox, name: str) -> bool:
    spec = next(h for h in sandbox.hosts() if h.name == name)
    try:
        with socket.create_connection((spec.address, spec.port), timeout=1):
            return True
    except OSError:
        return False


def deallocate(endpoint: dict, arm: ArmAdmin, names: list[str]) -> None:
    """Deallocate VMs with the real SDK (not the code under test)."""
    for name in names:
        row = vm_row(arm, name)
        compute(endpoint, row["subscription"]).virtual_machines.begin_deallocate(
            row["resource_group"], name, polling_interval=1
        ).result()


def accepted_logins(sandbox: Sandbox) -> dict[str, int]:
    counts = {}
    for host in sandbox.hosts():
        log = sandbox.host_dir(host.name) / "sshd.log"
        counts[host.name] = log.read_text(errors="replace").count("Accepted publickey") if log.exists() else 0
    return counts


def request_log(endpoint: dict) -> list[dict]:
    return [json.loads(line) for line in Path(endpoint["request_log"]).read_text().splitlines()]


def playbook(tmp_path: Path, name: str, plays: list) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


# -- inventory ---------------------------------------------------------------------------------------------------------
def test_uniform_and_flexible_scale_sets_become_hosts_and_answer_ssh(fleet, arm, run_ansible, run_playbook, tmp_path):
    arm.make_scale_set("web-vmss", ["web-1", "web-2", "web-3"], tags={"azlin-pool": "runners", "env": "ci"})
    arm.make_scale_set("ci-flex", ["ci-1", "ci-2"], orchestration="Flexible", tags={"azlin-pool": "flex-pool"})
    arm.configure(page_size=1)  # every list one item per page
    arm.fault(429, kind="vmss_vms", count=1, retry_after=1)
    before = arm.requests()
    cfg = inventory_file(fleet, tmp_path)
    data = listing(run_ansible, cfg)
    hostvars = data["_meta"]["hostvars"]
    uniform = ["web-vmss_0", "web-vmss_1", "web-vmss_2"]
    assert members(data, "vmss_web_vmss") == uniform
    assert members(data, "pool_runners") == uniform  # pools from the scale set's tags
    assert members(data, "tag_env_ci") == uniform
    assert "web-1" not in hostvars and "web-2" not in hostvars
    addresses = {h.name: h.address for h in fleet.hosts()}
    for i, name in enumerate(uniform):
        hv = hostvars[name]
        assert (hv["azure_vmss_name"], hv["azure_vmss_instance_id"], hv["azure_vmss_orchestration"]) == (
            "web-vmss",
            str(i),
            "Uniform",
        )
        assert hv["ansible_host"] == addresses[f"web-{i + 1}"]
        assert hv["azure_power_state"] == "running"
        assert hv["azure_id"].endswith(f"/virtualMachineScaleSets/web-vmss/virtualMachines/{i}")
    assert members(data, "vmss_ci_flex") == ["ci-1", "ci-2"]
    assert {hostvars[h]["azure_vmss_orchestration"] for h in ("ci-1", "ci-2")} == {"Flexible"}
    assert hostvars["ci-1"]["azure_vmss_instance_id"] is None
    assert members(data, "pool_ci") == ["ci-1", "ci-2"] and members(data, "pool_flex_pool") == []
    # The 429 was retried and paging lost nothing; requests: per scale set, never per instance.
    counts = arm.requests()
    assert counts["by_status"].get("429", 0) - before["by_status"].get("429", 0) == 1
    assert counts["vmss_vms"] == 3 + 1  # 3 pages of one instance + the throttled attempt
    assert counts["vmss_nics"] == 3 and counts["vmss_public_ips"] == 3
    world = arm.world()
    per_sub = [sum(ss["subscription"] == sub for ss in world["scale_sets"]) for sub in world["subscriptions"]]
    assert counts["scale_sets"] == sum(max(1, n) for n in per_sub)  # one item per page, an empty list is one page
    # The instances are real hosts: Ansible reaches them over SSH by the inventory's addresses.
    play = playbook(
        tmp_path,
        "ping.yml",
        [
            {
                "name": "Ping the scale set",
                "hosts": "vmss_web_vmss:vmss_ci_flex",
                "gather_facts": False,
                "tasks": [
                    {
                        "name": "Read the hostname",
                        "ansible.builtin.command": "hostname",
                        "register": "name",
                        "changed_when": False,
                    },
                    {"name": "Check it", "ansible.builtin.assert": {"that": ["name.stdout | length > 0"]}},
                ],
            }
        ],
    )
    proc = run_playbook(play, inventory=cfg)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for i in range(3):
        assert f"ok: [web-vmss_{i}]" in proc.stdout
    assert "ok: [ci-1]" in proc.stdout and "ok: [ci-2]" in proc.stdout


def test_two_nic_vm_gets_its_primary_nic_address(fleet, arm, run_ansible, tmp_path):
    second = fleet.hosts()[1]
    default = listing(run_ansible, inventory_file(fleet, tmp_path, hostname_source=["public_ip", "private_ip"]))
    hv = default["_meta"]["hostvars"][second.name]
    # Its only public IP sits on the secondary NIC: not the VM's address, not its azure_public_ip.
    assert hv["azure_public_ip"] is None
    assert hv["azure_private_ip"] == second.address
    assert hv["ansible_host"] == second.address
    assert len(hv["azure_public_ips"]) == 1 and hv["azure_public_ips"][0].startswith("203.0.113.")
    assert hv["azure_private_ips"][0] == second.address and len(hv["azure_private_ips"]) == 2
    opted = listing(run_ansible, inventory_file(fleet, tmp_path, hostname_source=["any_public_ip", "private_ip"]))
    assert opted["_meta"]["hostvars"][second.name]["ansible_host"] == hv["azure_public_ips"][0]


# -- wake ----------------------------------------------------------------------------------------------------------
def wake_plays(marker: str) -> list:
    return [
        {
            "name": "Wake the pool",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Start the sleeping VMs",
                    "azlin.fleet.vm_power": {
                        "hosts": "{{ groups['pool_staging'] }}",
                        "state": "started",
                        "polling_interval": 1,
                    },
                    "register": "fleet_wake",
                },
            ],
        },
        {
            "name": "Run on the pool",
            "hosts": "pool_staging",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Wait for SSH",
                    "ansible.builtin.wait_for_connection": {"timeout": 60, "sleep": 1},
                    "when": "inventory_hostname in hostvars['localhost'].fleet_wake.vm_power_summary.get('woken', [])",
                },
                {"name": "Write the marker", "ansible.builtin.command": f"touch {marker}", "args": {"creates": marker}},
            ],
        },
        {
            "name": "Put the pool back to sleep",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Return the woken VMs",
                    "azlin.fleet.vm_power": {
                        "hosts": "{{ groups['pool_staging'] }}",
                        "state": "restored",
                        "polling_interval": 1,
                        "former": "{{ fleet_wake.vm_power }}",
                    },
                    "register": "fleet_sleep",
                },
                {
                    "name": "Show the results",
                    "ansible.builtin.copy": {
                        "content": "{{ {'wake': fleet_wake, 'sleep': fleet_sleep} | to_json }}",
                        "dest": "{{ result_file }}",
                    },
                },
            ],
        },
    ]


def test_wake_runs_on_deallocated_vms_and_returns_them_to_sleep(fleet, arm, endpoint, run_playbook, tmp_path):
    deallocate(endpoint, arm, ["stage-1", "stage-2"])
    assert not ssh_open(fleet, "stage-1") and not ssh_open(fleet, "stage-2")  # deallocated = sshd really stopped
    assert ssh_open(fleet, "stage-3")
    log_start = len(request_log(endpoint))
    cfg = inventory_file(fleet, tmp_path, power_states=["running", "deallocated"])
    marker = "/tmp/azure-native-woken"
    result_file = tmp_path / "result.json"
    proc = run_playbook(
        playbook(tmp_path, "wake.yml", wake_plays(marker)), inventory=cfg, extra_vars={"result_file": str(result_file)}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(result_file.read_text())
    wake, sleep = result["wake"], result["sleep"]
    assert wake["vm_power_summary"] == {"woken": ["stage-1", "stage-2"], "already_running": ["stage-3"]}
    assert wake["vm_power"]["stage-1"]["former_state"] == "deallocated"
    assert sleep["vm_power_summary"] == {"returned_to_sleep": ["stage-1", "stage-2"]}
    # Each woken VM ran the command, then went back to sleep: power state and sshd both.
    for name in STAGING:
        assert fleet.host_path(name, marker).exists(), name
    for name in ("stage-1", "stage-2"):
        assert vm_row(arm, name)["power_state"] == "deallocated"
        assert not ssh_open(fleet, name)
    assert vm_row(arm, "stage-3")["power_state"] == "running" and ssh_open(fleet, "stage-3")
    power_calls = [
        (r["method"], r["path"].rsplit("/", 2)[-2:]) for r in request_log(endpoint)[log_start:] if r["kind"] == "power"
    ]
    assert sorted(power_calls) == sorted(
        [("POST", [n, "start"]) for n in ("stage-1", "stage-2")]
        + [("POST", [n, "deallocate"]) for n in ("stage-1", "stage-2")]
    )


def test_a_run_that_dies_before_its_return_step_is_put_back_from_the_state_file(
    fleet, arm, endpoint, run_playbook, tmp_path
):
    deallocate(endpoint, arm, ["stage-1", "stage-2"])
    cfg = inventory_file(fleet, tmp_path, power_states=["running", "deallocated"])
    state_file = tmp_path / "state" / "woken.json"
    dying = [
        {
            "name": "Wake",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Start",
                    "azlin.fleet.vm_power": {
                        "hosts": "{{ groups['pool_staging'] }}",
                        "state_file": str(state_file),
                        "polling_interval": 1,
                    },
                },
                {"name": "Die before the return step", "ansible.builtin.fail": {"msg": "interrupted"}},
            ],
        }
    ]
    proc = run_playbook(playbook(tmp_path, "dying.yml", dying), inventory=cfg)
    assert proc.returncode != 0 and "interrupted" in proc.stdout
    assert vm_row(arm, "stage-1")["power_state"] == "running" and ssh_open(fleet, "stage-1")
    assert sorted(json.loads(state_file.read_text())["woken"]) == ["stage-1", "stage-2"]
    cleanup = [
        {
            "name": "Put back what the broken run woke",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Return",
                    "azlin.fleet.vm_power": {
                        "hosts": "{{ groups['all'] }}",
                        "state": "restored",
                        "state_file": str(state_file),
                        "polling_interval": 1,
                    },
                }
            ],
        }
    ]
    proc = run_playbook(playbook(tmp_path, "cleanup.yml", cleanup), inventory=cfg)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("stage-1", "stage-2"):
        assert vm_row(arm, name)["power_state"] == "deallocated" and not ssh_open(fleet, name)
    assert vm_row(arm, "stage-3")["power_state"] == "running"  # never woken, never put to sleep
    assert json.loads(state_file.read_text())["woken"] == {}


def test_a_failed_start_is_reported_with_the_arm_error(fleet, arm, endpoint, run_playbook, tmp_path):
    deallocate(endpoint, arm, ["stage-1", "stage-2"])
    arm.fail_next_start("stage-1")
    cfg = inventory_file(fleet, tmp_path, power_states=["running", "deallocated"])
    result_file = tmp_path / "wake.json"
    plays = [
        {
            "name": "Wake",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Start",
                    "azlin.fleet.vm_power": {"hosts": "{{ groups['pool_staging'] }}", "polling_interval": 1},
                    "register": "fleet_wake",
                },
                {
                    "name": "Save",
                    "ansible.builtin.copy": {"content": "{{ fleet_wake | to_json }}", "dest": "{{ result_file }}"},
                },
                {
                    "name": "Return",
                    "azlin.fleet.vm_power": {
                        "hosts": "{{ groups['pool_staging'] }}",
                        "state": "restored",
                        "former": "{{ fleet_wake.vm_power }}",
                        "polling_interval": 1,
                    },
                },
            ],
        }
    ]
    proc = run_playbook(
        playbook(tmp_path, "fail.yml", plays), inventory=cfg, extra_vars={"result_file": str(result_file)}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wake = json.loads(result_file.read_text())
    failed = wake["vm_power"]["stage-1"]
    assert failed["status"] == "failed_to_wake"
    assert failed["error_code"] == "AllocationFailed"
    assert "Allocation failed" in failed["error"] and "stage-1" in failed["error"]
    assert wake["vm_power"]["stage-2"]["status"] == "woken"
    assert vm_row(arm, "stage-1")["power_state"] == "deallocated" and not ssh_open(fleet, "stage-1")
    assert vm_row(arm, "stage-2")["power_state"] == "deallocated"  # returned by the last task


def test_check_mode_shows_the_vms_that_would_be_woken(fleet, arm, endpoint, run_playbook, tmp_path):
    deallocate(endpoint, arm, ["stage-2"])
    log_start = len(request_log(endpoint))
    cfg = inventory_file(fleet, tmp_path, power_states=["running", "deallocated"])
    result_file = tmp_path / "plan.json"
    plays = [
        {
            "name": "Plan",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Plan the wake",
                    "azlin.fleet.vm_power": {"hosts": "{{ groups['pool_staging'] }}"},
                    "register": "fleet_wake",
                    "check_mode": True,
                },
                {
                    "name": "Save",
                    "ansible.builtin.copy": {"content": "{{ fleet_wake | to_json }}", "dest": "{{ result_file }}"},
                    "check_mode": False,
                },
            ],
        }
    ]
    proc = run_playbook(
        playbook(tmp_path, "plan.yml", plays), inventory=cfg, extra_vars={"result_file": str(result_file)}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = json.loads(result_file.read_text())
    assert plan["vm_power_summary"] == {"would_wake": ["stage-2"], "already_running": ["stage-1", "stage-3"]}
    assert not [r for r in request_log(endpoint)[log_start:] if r["kind"] == "power"]
    assert vm_row(arm, "stage-2")["power_state"] == "deallocated"


# -- Azure Monitor ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("client", ["auto", "pipeline"])
def test_cpu_gate_from_azure_monitor_opens_no_ssh(fleet, arm, endpoint, run_playbook, tmp_path, client):
    loads = {"web-1": 72.0, "web-2": 18.0, "web-3": 49.5}
    for name, cpu in loads.items():
        fleet.set_load(name, cpu=cpu, mem=40.0)
    deallocate(endpoint, arm, ["web-3"])
    # Deallocated VMs listed too; the resource group keeps the deallocated twin named web-1 out.
    cfg = inventory_file(fleet, tmp_path, power_states=["running", "deallocated"], resource_groups=["rg-web-servers"])
    logins = accepted_logins(fleet)
    log_start = len(request_log(endpoint))
    result_file = tmp_path / "metrics.json"
    plays = [
        {
            "name": "Measure",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Read CPU and memory",
                    "azlin.fleet.azure_metrics": {
                        "hosts": "{{ groups['pool_web_servers'] }}",
                        "metrics": ["cpu", "mem"],
                        "gate": "cpu<50 and load<1",
                        "client": client,
                    },
                    "register": "fleet_azure",
                },
                {
                    "name": "Save",
                    "ansible.builtin.copy": {"content": "{{ fleet_azure | to_json }}", "dest": "{{ result_file }}"},
                },
            ],
        }
    ]
    proc = run_playbook(
        playbook(tmp_path, "metrics.yml", plays), inventory=cfg, extra_vars={"result_file": str(result_file)}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads(result_file.read_text())
    metrics = got["fleet_metrics"]
    assert sorted(metrics) == ["web-1", "web-2"]
    assert (metrics["web-1"]["cpu"], metrics["web-2"]["cpu"]) == (72.0, 18.0)
    assert metrics["web-1"]["mem"] == 40.0
    assert metrics["web-1"]["granularity"] == "PT1M" and metrics["web-1"]["source"] == "azure"
    assert 0 <= metrics["web-1"]["age"] <= 120
    assert "not running" in got["fleet_unmeasurable"]["web-3"]  # deallocated: no data, not made-up numbers
    assert got["gate_problems"] == ["Gate term 'load' needs SSH: load average is not an Azure Monitor metric."]
    # Gating on those metrics: web-1 is gated, web-2 passes.
    gate = parse_gate("cpu<50")
    assert not evaluate_gate(gate, metrics["web-1"]).passed and evaluate_gate(gate, metrics["web-2"]).passed
    # One getBatch call per subscription and region of the three VMs.
    calls = [r for r in request_log(endpoint)[log_start:] if r["kind"] == "metrics"]
    groups = {(v["subscription"], v["location"]) for v in arm.world()["vms"] if v.get("host") in loads}
    assert len(calls) == got["azure_metrics_calls"] == len(groups)
    assert got["azure_metrics_client"] == {"auto": "querymetrics", "pipeline": "pipeline"}[client]
    assert accepted_logins(fleet) == logins  # no SSH connection to any host


def test_wake_and_return_a_uniform_scale_set_instance(fleet, arm, endpoint, run_playbook, tmp_path):
    made = arm.make_scale_set("stage-vmss", ["stage-1", "stage-2"], tags={"azlin-pool": "stage-vmss"})
    vmss = compute(endpoint, made["subscription"]).virtual_machine_scale_set_vms
    vmss.begin_deallocate(made["resource_group"], "stage-vmss", "1", polling_interval=1).result()
    assert not ssh_open(fleet, "stage-2") and ssh_open(fleet, "stage-1")
    cfg = inventory_file(fleet, tmp_path, power_states=["running", "deallocated"])
    result_file = tmp_path / "vmss.json"
    plays = [
        {
            "name": "Wake and return the scale set",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Start",
                    "azlin.fleet.vm_power": {"hosts": "{{ groups['vmss_stage_vmss'] }}", "polling_interval": 1},
                    "register": "fleet_wake",
                },
                {
                    "name": "Check SSH on the woken instance",
                    "ansible.builtin.wait_for": {
                        "host": "{{ hostvars['stage-vmss_1'].ansible_host }}",
                        "port": 22,
                        "timeout": 30,
                    },
                },
                {
                    "name": "Return",
                    "azlin.fleet.vm_power": {
                        "hosts": "{{ groups['vmss_stage_vmss'] }}",
                        "state": "restored",
                        "former": "{{ fleet_wake.vm_power }}",
                        "polling_interval": 1,
                    },
                    "register": "fleet_sleep",
                },
                {
                    "name": "Save",
                    "ansible.builtin.copy": {
                        "content": "{{ {'wake': fleet_wake.vm_power_summary, 'sleep': fleet_sleep.vm_power_summary} "
                        "| to_json }}",
                        "dest": "{{ result_file }}",
                    },
                },
            ],
        }
    ]
    proc = run_playbook(
        playbook(tmp_path, "vmss.yml", plays), inventory=cfg, extra_vars={"result_file": str(result_file)}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(result_file.read_text())
    assert summary == {
        "wake": {"woken": ["stage-vmss_1"], "already_running": ["stage-vmss_0"]},
        "sleep": {"returned_to_sleep": ["stage-vmss_1"]},
    }
    assert not ssh_open(fleet, "stage-2") and ssh_open(fleet, "stage-1")
    instance = next(v for v in arm.world()["vms"] if v["name"] == "stage-vmss_1")
    assert instance["power_state"] == "deallocated" and instance["host"] == "stage-2"


# -- --wake through the fleet pipeline (ansible-playbook) and the CLI -------------------------------------------------


def power_calls_since(endpoint: dict, start: int) -> list[tuple[str, list[str]]]:
    return sorted(
        (r["method"], r["path"].rsplit("/", 2)[-2:]) for r in request_log(endpoint)[start:] if r["kind"] == "power"
    )


def test_the_pipeline_wakes_runs_and_returns_with_fleet_wake(fleet, arm, endpoint, run_playbook, tmp_path):
    deallocate(endpoint, arm, ["stage-1", "stage-2"])
    cfg = inventory_file(fleet, tmp_path, power_states=["running", "deallocated"])
    marker = "/tmp/azure-native-pipeline"
    for name in STAGING:
        fleet.host_path(name, marker).unlink(missing_ok=True)
    dry = run_playbook(
        "azlin.fleet.run",
        inventory=cfg,
        extra_vars={
            "fleet_command": f"touch {marker}",
            "fleet_targets": "pool_staging",
            "fleet_wake": True,
            "fleet_dry_run": True,
            "fleet_wake_state_file": str(tmp_path / "wake.json"),
        },
    )
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert "wake: 2 VM(s) not running would be started for the run" in dry.stdout and "stage-1, stage-2" in dry.stdout
    assert vm_row(arm, "stage-1")["power_state"] == "deallocated"  # a dry run wakes nothing
    start = len(request_log(endpoint))
    report_dir = tmp_path / "report"
    proc = run_playbook(
        "azlin.fleet.run",
        inventory=cfg,
        extra_vars={
            "fleet_command": f"touch {marker}",
            "fleet_targets": "pool_staging",
            "fleet_wake": True,
            "fleet_wake_state_file": str(tmp_path / "wake.json"),
        },
        env={
            "ANSIBLE_CALLBACKS_ENABLED": "azlin.fleet.fleet_report",
            "AZLIN_FLEET_REPORT_DIR": str(report_dir),
            "AZLIN_FLEET_REPORT_NAME": "report",
            "AZLIN_FLEET_REPORT_FORMATS": "json",
        },
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert all(fleet.host_path(name, marker).exists() for name in STAGING)
    report = json.loads((report_dir / "report.json").read_text())
    assert {h["host"]: h["status"] for h in report["hosts"] if h["host"] in STAGING} == dict.fromkeys(STAGING, "ok")
    for name in ("stage-1", "stage-2"):
        assert vm_row(arm, name)["power_state"] == "deallocated" and not ssh_open(fleet, name)
    assert power_calls_since(endpoint, start) == sorted(
        [("POST", [n, "start"]) for n in ("stage-1", "stage-2")]
        + [("POST", [n, "deallocate"]) for n in ("stage-1", "stage-2")]
    )
    assert json.loads((tmp_path / "wake.json").read_text())["woken"] == {}  # nothing left to return


def test_a_vm_that_cannot_be_woken_is_reported_with_the_arm_error(fleet, arm, endpoint, run_playbook, tmp_path):
    deallocate(endpoint, arm, ["stage-1"])
    arm.fail_next_start("stage-1", {"code": "AllocationFailed", "message": "no capacity in this region"})
    cfg = inventory_file(fleet, tmp_path, power_states=["running", "deallocated"])
    report_dir = tmp_path / "report"
    proc = run_playbook(
        "azlin.fleet.run",
        inventory=cfg,
        extra_vars={
            "fleet_command": "true",
            "fleet_targets": "pool_staging",
            "fleet_wake": True,
            "fleet_wake_state_file": str(tmp_path / "wake.json"),
        },
        env={
            "ANSIBLE_CALLBACKS_ENABLED": "azlin.fleet.fleet_report",
            "AZLIN_FLEET_REPORT_DIR": str(report_dir),
            "AZLIN_FLEET_REPORT_NAME": "report",
            "AZLIN_FLEET_REPORT_FORMATS": "json",
        },
    )
    assert proc.returncode == 2, proc.stdout[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    hosts = {h["host"]: h for h in report["hosts"]}
    assert hosts["stage-1"]["status"] == "unreachable"
    assert any("could not be woken" in r and "AllocationFailed" in r for r in hosts["stage-1"]["reasons"])
    assert hosts["stage-2"]["status"] == hosts["stage-3"]["status"] == "ok"


def test_a_cancelled_wake_run_from_the_cli_still_returns_the_vms(fleet, arm, endpoint, ansible_env, tmp_path):
    deallocate(endpoint, arm, ["stage-1", "stage-2"])
    cfg = inventory_file(fleet, tmp_path, power_states=["running", "deallocated"])
    marker = "/tmp/azure-native-cancel"
    for name in STAGING:
        fleet.host_path(name, marker).unlink(missing_ok=True)
    env = {k: v for k, v in ansible_env.items() if k != "ANSIBLE_CONFIG"}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    cli = str(Path(sys.executable).parent / "azlin-fleet")
    child = subprocess.Popen(
        [
            cli,
            "run",
            f"touch {marker}; sleep 30",
            "--pool",
            "staging",
            "--wake",
            "-i",
            str(cfg),
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not all(fleet.host_path(n, marker).exists() for n in STAGING):
        assert time.monotonic() < deadline and child.poll() is None, "the woken hosts never started the command"
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGTERM)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 143, err
    assert "returning the VMs this run woke" in err
    for name in ("stage-1", "stage-2"):
        assert vm_row(arm, name)["power_state"] == "deallocated" and not ssh_open(fleet, name)
    assert list((tmp_path / "state" / "azlin-fleet" / "wake").glob("*.json")) == []


def test_the_pipeline_gates_on_azure_monitor_without_ssh_to_gated_hosts(fleet, arm, endpoint, run_playbook, tmp_path):
    for name, cpu in {"web-1": 72.0, "web-2": 18.0, "web-3": 31.0}.items():
        fleet.set_load(name, cpu=cpu, mem=40.0)
    cfg = inventory_file(fleet, tmp_path, resource_groups=["rg-web-servers"])
    marker = "/tmp/azure-native-monitor"
    for name in ("web-1", "web-2", "web-3"):
        fleet.host_path(name, marker).unlink(missing_ok=True)
    logins = accepted_logins(fleet)
    report_dir = tmp_path / "report"
    proc = run_playbook(
        "azlin.fleet.run",
        inventory=cfg,
        extra_vars={
            "fleet_command": f"touch {marker}",
            "fleet_targets": "pool_web_servers",
            "fleet_gate": "cpu<50",
            "fleet_probe_source": "azure",
        },
        env={
            "ANSIBLE_CALLBACKS_ENABLED": "azlin.fleet.fleet_report",
            "AZLIN_FLEET_REPORT_DIR": str(report_dir),
            "AZLIN_FLEET_REPORT_NAME": "report",
            "AZLIN_FLEET_REPORT_FORMATS": "json",
        },
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "metrics: CPU from Azure Monitor" in proc.stdout
    report = json.loads((report_dir / "report.json").read_text())
    plan = {h["host"]: h for h in report["plans"][-1]["hosts"]}
    assert plan["web-1"]["status"] == "gated" and plan["web-1"]["metrics"]["source"] == "azure"
    assert [h for h in ("web-1", "web-2", "web-3") if fleet.host_path(h, marker).exists()] == ["web-2", "web-3"]
    # web-2 ran first: the least loaded by Azure Monitor's CPU
    assert plan["web-2"]["order"] < plan["web-3"]["order"]
    now = accepted_logins(fleet)
    assert now["web-1"] == logins["web-1"]  # the gated host was never contacted over SSH
    assert now["web-2"] > logins["web-2"] and now["web-3"] > logins["web-3"]


def test_ssh_only_gate_terms_are_refused_with_azure_monitor(fleet, run_playbook, tmp_path):
    cfg = inventory_file(fleet, tmp_path, resource_groups=["rg-web-servers"])
    proc = run_playbook(
        "azlin.fleet.run",
        inventory=cfg,
        extra_vars={
            "fleet_command": "true",
            "fleet_targets": "pool_web_servers",
            "fleet_gate": "idle",
            "fleet_probe_source": "azure",
        },
    )
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "needs SSH" in proc.stdout and "idle" in proc.stdout
