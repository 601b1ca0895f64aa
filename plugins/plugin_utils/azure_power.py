# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waking deallocated or stopped VMs for a run and returning them to their former power state afterwards.

Pure planning on plain data (hosts' inventory vars in, ``PowerJob`` records and per-host results out), plus one
I/O function, ``execute_power_jobs``, that runs the jobs through azure-mgmt-compute's long-running operations
(``begin_start`` / ``begin_deallocate`` / ``begin_power_off``: the SDK polls Azure-AsyncOperation and honours
Retry-After; its retry policy waits out 429s on the writes) with bounded concurrency.

Per-host statuses (the ``status`` of a result)::

    woken               was deallocated/stopped, now started
    already_running     nothing to do (not woken, so never put back to sleep)
    would_wake          check mode: would be started
    failed_to_wake      the start failed; ``error`` holds the ARM error (code and message)
    returned_to_sleep   woken earlier, now back in its former state (deallocated or stopped)
    would_return        check mode: would be returned to its former state
    failed_to_return    putting it back failed; ``error`` says why
    kept_awake          woken earlier, left running on purpose (keep_awake)
    not_an_azure_vm     the host has no Azure resource id (azure_id): it cannot be woken

A power state file (``read_power_state`` / ``write_power_state``) keeps the woken hosts between the wake and the
return, so a run that was interrupted before its return step can still put them back later.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Literal

PowerAction = Literal["start", "deallocate", "power_off"]
# Power states a VM can be woken from; transitional ones are started too (ARM queues the start behind them).
SLEEPING_STATES = frozenset({"deallocated", "stopped", "deallocating", "stopping"})
# The action that returns a woken VM to its former state.
RETURN_ACTION: dict[str, PowerAction] = {
    "deallocated": "deallocate",
    "deallocating": "deallocate",
    "stopped": "power_off",
    "stopping": "power_off",
}
FAILED_STATUSES = frozenset({"failed_to_wake", "failed_to_return", "not_an_azure_vm"})

_VM_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"(?:virtualMachineScaleSets/(?P<vmss>[^/]+)/virtualMachines/(?P<instance>[^/]+)|virtualMachines/(?P<vm>[^/]+))$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class PowerTarget:
    """One host's VM, as its inventory vars describe it."""

    host: str
    vm_id: str
    subscription_id: str
    resource_group: str
    name: str
    power_state: str
    vmss_name: str | None = None
    instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class PowerJob:
    """One power operation to run: ``action`` on ``target``; ``former_state`` is what the report keeps."""

    target: PowerTarget
    action: PowerAction
    former_state: str


def parse_vm_id(resource_id: str) -> tuple[str, str, str, str | None, str | None] | None:
    """(subscription, resource group, VM name or None, scale set, instance id) of a VM or Uniform instance id."""
    match = _VM_ID.match((resource_id or "").rstrip("/"))
    if not match:
        return None
    return match.group("sub"), match.group("rg"), match.group("vm"), match.group("vmss"), match.group("instance")


def targets_from_hostvars(
    hosts: Sequence[str], hostvars: Mapping[str, Mapping[str, Any]]
) -> tuple[list[PowerTarget], dict[str, dict[str, Any]]]:
    """PowerTargets of ``hosts`` from their azure_pools vars, and results for hosts that are no Azure VM."""
    targets: list[PowerTarget] = []
    refused: dict[str, dict[str, Any]] = {}
    for host in hosts:
        hv = hostvars.get(host) or {}
        parsed = parse_vm_id(str(hv.get("azure_id") or ""))
        if parsed is None:
            refused[host] = result(
                host,
                "not_an_azure_vm",
                error=f"Host {host!r} has no Azure VM id (azure_id): it does not come from the azure_pools "
                "inventory, so it cannot be woken. Use an azlin.fleet.azure_pools inventory.",
            )
            continue
        sub, rg, vm_name, vmss, instance = parsed
        targets.append(
            PowerTarget(
                host=host,
                vm_id=str(hv["azure_id"]),
                subscription_id=sub,
                resource_group=rg,
                name=str(hv.get("azure_name") or vm_name or f"{vmss}_{instance}"),
                power_state=str(hv.get("azure_power_state") or "unknown").lower(),
                vmss_name=vmss,
                instance_id=instance,
            )
        )
    return targets, refused


def result(
    host: str,
    status: str,
    *,
    former_state: str | None = None,
    power_state: str | None = None,
    vm_id: str | None = None,
    error: str | None = None,
    error_code: str | None = None,
    duration: float | None = None,
) -> dict[str, Any]:
    """One host's power result (plain dict, the shape the vm_power action returns)."""
    return {
        "host": host,
        "status": status,
        "former_state": former_state,
        "power_state": power_state,
        "vm_id": vm_id,
        "error": error,
        "error_code": error_code,
        "duration": duration,
    }


def plan_wake(targets: Iterable[PowerTarget]) -> tuple[list[PowerJob], dict[str, dict[str, Any]]]:
    """Start jobs for every sleeping VM; ``already_running`` results for the others (they are never put back)."""
    jobs: list[PowerJob] = []
    done: dict[str, dict[str, Any]] = {}
    for target in targets:
        if target.power_state == "running" or target.power_state == "starting":
            done[target.host] = result(
                target.host,
                "already_running",
                former_state=target.power_state,
                power_state=target.power_state,
                vm_id=target.vm_id,
            )
        else:
            jobs.append(PowerJob(target, "start", target.power_state))
    return jobs, done


def plan_return(
    targets: Iterable[PowerTarget], former: Mapping[str, Mapping[str, Any]], *, keep_awake: bool = False
) -> tuple[list[PowerJob], dict[str, dict[str, Any]]]:
    """Jobs that put every VM woken earlier (``former``: the wake call's per-host results) back to its former
    state: deallocate what was deallocated, power off what was stopped. Hosts that were not woken are left alone
    and get no result; with ``keep_awake`` woken hosts are reported ``kept_awake``."""
    jobs: list[PowerJob] = []
    done: dict[str, dict[str, Any]] = {}
    for target in targets:
        earlier = former.get(target.host) or {}
        if earlier.get("status") != "woken":
            continue
        state = str(earlier.get("former_state") or "deallocated")
        if keep_awake:
            done[target.host] = result(
                target.host, "kept_awake", former_state=state, power_state="running", vm_id=target.vm_id
            )
            continue
        jobs.append(PowerJob(target, RETURN_ACTION.get(state, "deallocate"), state))
    return jobs, done


def dry_run_results(jobs: Iterable[PowerJob]) -> dict[str, dict[str, Any]]:
    """What check mode reports for jobs it does not run."""
    return {
        job.target.host: result(
            job.target.host,
            "would_wake" if job.action == "start" else "would_return",
            former_state=job.former_state,
            power_state=job.target.power_state if job.action == "start" else "running",
            vm_id=job.target.vm_id,
        )
        for job in jobs
    }


def summarize(results: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Host names per status, sorted, for the action's short return keys."""
    by_status: dict[str, list[str]] = {}
    for host in sorted(results):
        by_status.setdefault(str(results[host]["status"]), []).append(host)
    return by_status


def arm_error_of(ex: BaseException) -> tuple[str | None, str]:
    """(ARM error code, one-line message) of an azure-core error or any other exception."""
    error = getattr(ex, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if code and message:
        return str(code), f"{code}: {str(message).splitlines()[0]}"
    text = str(ex).strip().splitlines()
    return (str(code) if code else None), (text[0] if text else type(ex).__name__)


def _begin(compute: Any, job: PowerJob, polling_interval: float) -> Any:
    target = job.target
    if target.vmss_name is not None:
        operations = compute.virtual_machine_scale_set_vms
        args: tuple[str, ...] = (target.resource_group, target.vmss_name, str(target.instance_id))
    else:
        operations = compute.virtual_machines
        args = (target.resource_group, target.name)
    begin = getattr(operations, f"begin_{job.action}")
    return begin(*args, polling_interval=polling_interval)


def _run_job(
    compute_for: Callable[[str], Any], job: PowerJob, *, timeout: float, polling_interval: float
) -> dict[str, Any]:
    target = job.target
    started = time.monotonic()
    ok_status, failed_status = (
        ("woken", "failed_to_wake") if job.action == "start" else ("returned_to_sleep", "failed_to_return")
    )
    final_state = {"start": "running", "deallocate": "deallocated", "power_off": "stopped"}[job.action]
    try:
        poller = _begin(compute_for(target.subscription_id), job, polling_interval)
        poller.result(timeout=timeout)
        if not poller.done():
            return result(
                target.host,
                failed_status,
                former_state=job.former_state,
                power_state=None,
                vm_id=target.vm_id,
                error=f"The {job.action} operation of VM {target.name!r} did not finish within {timeout:g} s.",
                error_code="Timeout",
                duration=round(time.monotonic() - started, 3),
            )
    except Exception as ex:  # noqa: BLE001 - every failure of one VM becomes its result, never the others'
        code, message = arm_error_of(ex)
        return result(
            target.host,
            failed_status,
            former_state=job.former_state,
            power_state=target.power_state if job.action == "start" else "running",
            vm_id=target.vm_id,
            error=f"Failed to {job.action.replace('_', ' ')} VM {target.name!r}: {message}",
            error_code=code,
            duration=round(time.monotonic() - started, 3),
        )
    return result(
        target.host,
        ok_status,
        former_state=job.former_state,
        power_state=final_state,
        vm_id=target.vm_id,
        duration=round(time.monotonic() - started, 3),
    )


def execute_power_jobs(
    compute_for: Callable[[str], Any],
    jobs: Sequence[PowerJob],
    *,
    max_concurrency: int = 4,
    timeout: float = 600.0,
    polling_interval: float = 5.0,
) -> dict[str, dict[str, Any]]:
    """Run the jobs (I/O) with at most ``max_concurrency`` operations in flight; one result per host.

    ``compute_for(subscription_id)`` gives the ComputeManagementClient of a subscription. ``polling_interval`` is
    the SDK's poll delay when ARM sends no Retry-After (ARM's own Retry-After wins).
    """
    if not jobs:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(jobs)))) as pool:
        futures = [
            pool.submit(_run_job, compute_for, job, timeout=timeout, polling_interval=polling_interval) for job in jobs
        ]
        return {r["host"]: r for r in (f.result() for f in futures)}


def target_records(targets: Iterable[PowerTarget]) -> list[dict[str, Any]]:
    """Targets as plain dicts (for check-mode output and debugging)."""
    return [asdict(t) for t in targets]


def merge_power_state(saved: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The power state file's content after a call: woken hosts are recorded (with their former state) until a
    return puts them back; hosts returned to sleep (or kept awake on purpose) leave it."""
    woken = dict(saved.get("woken") or {})
    for host, outcome in results.items():
        if outcome.get("status") == "woken":
            woken[host] = dict(outcome)
        elif outcome.get("status") in ("returned_to_sleep", "kept_awake"):
            woken.pop(host, None)
    return {"version": 1, "woken": dict(sorted(woken.items()))}


def read_power_state(path: str) -> dict[str, Any]:
    """The power state file (I/O): ``{"version": 1, "woken": {host: result}}``; empty when there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {"version": 1, "woken": {}}
    if not isinstance(data, dict) or not isinstance(data.get("woken"), dict):
        raise ValueError(f"{path} is not a vm_power state file")
    return data


def write_power_state(path: str, state: Mapping[str, Any]) -> None:
    """Write the power state file atomically, readable by its owner only (I/O)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".vm_power.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
