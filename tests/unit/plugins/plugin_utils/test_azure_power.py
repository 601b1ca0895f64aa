"""Waking and returning VMs: planning on inventory vars, and running jobs with bounded concurrency."""

from __future__ import annotations

import threading
import time

import pytest
from azure.core.exceptions import HttpResponseError

from ansible_collections.azlin.fleet.plugins.plugin_utils import azure_power
from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_power import PowerJob, PowerTarget

SUB = "11111111-1111-4111-8111-111111111111"


def vm_id(name: str, rg: str = "rg-ci") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


HOSTVARS = {
    "ci-1": {"azure_id": vm_id("ci-1"), "azure_name": "ci-1", "azure_power_state": "deallocated"},
    "ci-2": {"azure_id": vm_id("ci-2"), "azure_name": "ci-2", "azure_power_state": "stopped"},
    "ci-3": {"azure_id": vm_id("ci-3"), "azure_name": "ci-3", "azure_power_state": "running"},
    "runner_4": {
        "azure_id": f"/subscriptions/{SUB}/resourceGroups/RG-R/providers/Microsoft.Compute/"
        "virtualMachineScaleSets/runner/virtualMachines/4",
        "azure_name": "runner_4",
        "azure_power_state": "deallocated",
    },
    "static-1": {"ansible_host": "10.0.0.1"},
}


@pytest.mark.parametrize(
    ("resource_id", "expected"),
    [
        (vm_id("a"), (SUB, "rg-ci", "a", None, None)),
        (HOSTVARS["runner_4"]["azure_id"], (SUB, "RG-R", None, "runner", "4")),
        ("/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/networkInterfaces/n", None),
        ("", None),
    ],
    ids=["vm", "uniform-instance", "not-a-vm", "empty"],
)
def test_parse_vm_id(resource_id, expected):
    assert azure_power.parse_vm_id(resource_id) == expected


def test_targets_from_hostvars_refuses_hosts_without_an_azure_id():
    targets, refused = azure_power.targets_from_hostvars(list(HOSTVARS), HOSTVARS)
    assert [t.host for t in targets] == ["ci-1", "ci-2", "ci-3", "runner_4"]
    assert refused["static-1"]["status"] == "not_an_azure_vm"
    assert "azure_pools" in refused["static-1"]["error"]
    runner = targets[-1]
    assert (runner.vmss_name, runner.instance_id, runner.resource_group) == ("runner", "4", "RG-R")


def test_plan_wake_starts_sleeping_vms_and_leaves_running_ones_alone():
    targets, _ = azure_power.targets_from_hostvars(list(HOSTVARS), HOSTVARS)
    jobs, done = azure_power.plan_wake(targets)
    assert [(j.target.host, j.action, j.former_state) for j in jobs] == [
        ("ci-1", "start", "deallocated"),
        ("ci-2", "start", "stopped"),
        ("runner_4", "start", "deallocated"),
    ]
    assert done["ci-3"]["status"] == "already_running"


def test_plan_return_puts_back_only_woken_vms_in_their_former_state():
    targets, _ = azure_power.targets_from_hostvars(list(HOSTVARS), HOSTVARS)
    former = {
        "ci-1": {"status": "woken", "former_state": "deallocated"},
        "ci-2": {"status": "woken", "former_state": "stopped"},
        "ci-3": {"status": "already_running", "former_state": "running"},
        "runner_4": {"status": "failed_to_wake", "former_state": "deallocated"},
    }
    jobs, done = azure_power.plan_return(targets, former)
    assert [(j.target.host, j.action) for j in jobs] == [("ci-1", "deallocate"), ("ci-2", "power_off")]
    assert done == {}
    kept_jobs, kept = azure_power.plan_return(targets, former, keep_awake=True)
    assert kept_jobs == [] and sorted(kept) == ["ci-1", "ci-2"]
    assert {r["status"] for r in kept.values()} == {"kept_awake"}


def test_dry_run_results_and_summary():
    targets, refused = azure_power.targets_from_hostvars(list(HOSTVARS), HOSTVARS)
    jobs, done = azure_power.plan_wake(targets)
    results = {**refused, **done, **azure_power.dry_run_results(jobs)}
    assert azure_power.summarize(results) == {
        "already_running": ["ci-3"],
        "not_an_azure_vm": ["static-1"],
        "would_wake": ["ci-1", "ci-2", "runner_4"],
    }


class Poller:
    def __init__(self, outcome, delay: float) -> None:
        self.outcome, self.delay, self.finished = outcome, delay, False

    def result(self, timeout=None):
        time.sleep(min(self.delay, timeout if timeout is not None else self.delay))
        if self.delay > (timeout if timeout is not None else self.delay):
            return None
        self.finished = True
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return None

    def done(self) -> bool:
        return self.finished


class Operations:
    """Stands in for compute.virtual_machines / virtual_machine_scale_set_vms: records calls and concurrency."""

    def __init__(self, outcomes: dict, delay: float = 0.05) -> None:
        self.outcomes, self.delay = outcomes, delay
        self.calls: list[tuple] = []
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def _begin(self, action: str, *args, polling_interval=None):
        with self.lock:
            self.calls.append((action, *args, polling_interval))
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.delay)
        with self.lock:
            self.running -= 1
        return Poller(self.outcomes.get(args[-1]), self.delay)

    def begin_start(self, *args, **kwargs):
        return self._begin("start", *args, **kwargs)

    def begin_deallocate(self, *args, **kwargs):
        return self._begin("deallocate", *args, **kwargs)

    def begin_power_off(self, *args, **kwargs):
        return self._begin("power_off", *args, **kwargs)


class Compute:
    def __init__(self, outcomes: dict, delay: float = 0.05) -> None:
        self.virtual_machines = Operations(outcomes, delay)
        self.virtual_machine_scale_set_vms = self.virtual_machines


def arm_error(code: str, message: str) -> HttpResponseError:
    error = HttpResponseError(message=f"({code}) {message}")
    error.error = type("E", (), {"code": code, "message": message})()
    return error


def test_execute_power_jobs_bounds_concurrency_and_reports_each_vm():
    targets, _ = azure_power.targets_from_hostvars(list(HOSTVARS), HOSTVARS)
    jobs, _ = azure_power.plan_wake(targets)
    compute = Compute({"ci-2": arm_error("AllocationFailed", "Allocation failed. No capacity.")})
    results = azure_power.execute_power_jobs(lambda sub: compute, jobs, max_concurrency=2, polling_interval=1)
    assert compute.virtual_machines.peak <= 2
    assert sorted(c[:4] for c in compute.virtual_machines.calls) == [
        ("start", "RG-R", "runner", "4"),
        ("start", "rg-ci", "ci-1", 1),
        ("start", "rg-ci", "ci-2", 1),
    ]
    assert results["ci-1"]["status"] == "woken" and results["ci-1"]["power_state"] == "running"
    assert results["runner_4"]["status"] == "woken"
    failed = results["ci-2"]
    assert (failed["status"], failed["error_code"], failed["power_state"]) == (
        "failed_to_wake",
        "AllocationFailed",
        "stopped",
    )
    assert failed["error"] == "Failed to start VM 'ci-2': AllocationFailed: Allocation failed. No capacity."


def test_execute_power_jobs_reports_an_operation_that_outlives_its_timeout():
    target = PowerTarget("ci-1", vm_id("ci-1"), SUB, "rg-ci", "ci-1", "running")
    compute = Compute({}, delay=0.3)
    results = azure_power.execute_power_jobs(
        lambda sub: compute, [PowerJob(target, "deallocate", "deallocated")], timeout=0.05
    )
    assert results["ci-1"]["status"] == "failed_to_return"
    assert results["ci-1"]["error_code"] == "Timeout"


def test_power_state_file_keeps_woken_hosts_until_they_are_returned(tmp_path):
    path = str(tmp_path / "state" / "woken.json")
    assert azure_power.read_power_state(path) == {"version": 1, "woken": {}}
    woken = {
        "ci-1": azure_power.result("ci-1", "woken", former_state="deallocated"),
        "ci-2": azure_power.result("ci-2", "failed_to_wake", former_state="deallocated"),
        "ci-3": azure_power.result("ci-3", "already_running", former_state="running"),
        "ci-4": azure_power.result("ci-4", "woken", former_state="stopped"),
    }
    azure_power.write_power_state(path, azure_power.merge_power_state({}, woken))
    saved = azure_power.read_power_state(path)
    assert sorted(saved["woken"]) == ["ci-1", "ci-4"]
    assert (tmp_path / "state" / "woken.json").stat().st_mode & 0o777 == 0o600
    returned = {
        "ci-1": azure_power.result("ci-1", "returned_to_sleep"),
        "ci-4": azure_power.result("ci-4", "failed_to_return"),
    }
    after = azure_power.merge_power_state(saved, returned)
    assert sorted(after["woken"]) == ["ci-4"]  # still awake: a later return tries again


def test_a_foreign_state_file_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('["not", "ours"]')
    with pytest.raises(ValueError, match="not a vm_power state file"):
        azure_power.read_power_state(str(path))
