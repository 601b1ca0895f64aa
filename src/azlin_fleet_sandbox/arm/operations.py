"""VM power operations of the local endpoint as ARM long-running operations, and the sandbox host hooks behind them.

ARM answers `POST .../virtualMachines/{vm}/start` (or `deallocate`, `powerOff`; the same under a Uniform scale
set's `virtualMachines/{instanceId}`) with 202 Accepted, an `Azure-AsyncOperation` header (the operation status
URL: `{"status": "InProgress" | "Succeeded" | "Failed", "error": {...}}`), a `Location` header (the operation
result: 202 while running, 200 when done) and `Retry-After`. The operation runs in a thread: the VM goes through
its transitional state (`starting`, `deallocating`, `stopping`), the sandbox host behind it gets its sshd started
or stopped (through `Sandbox.fault`, as the CLI would), then the VM reaches its final state.

A start can be made to fail once per VM (admin API `power_failures`): the operation then ends `Failed` with the
ARM error given (default `AllocationFailed`), and the VM keeps its power state.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# action -> (transitional state, final state, whether the host's sshd runs afterwards)
ACTIONS: dict[str, tuple[str, str, bool]] = {
    "start": ("starting", "running", True),
    "deallocate": ("deallocating", "deallocated", False),
    "poweroff": ("stopping", "stopped", False),
}
DEFAULT_FAILURE = {
    "code": "AllocationFailed",
    "message": "Allocation failed. We do not have sufficient capacity for the requested VM size in this region. "
    "Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance",
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0+00:00")


@dataclass(slots=True)
class Operation:
    id: str
    action: str
    vm_id: str
    status: str = "InProgress"
    start_time: str = field(default_factory=_now)
    end_time: str | None = None
    error: dict[str, str] | None = None

    def status_body(self) -> dict[str, Any]:
        """The Azure-AsyncOperation body, as ARM's compute operations return it."""
        body: dict[str, Any] = {"startTime": self.start_time, "status": self.status, "name": self.id}
        if self.end_time:
            body["endTime"] = self.end_time
        if self.error:
            body["error"] = dict(self.error)
        return body


class SandboxPower:
    """Starts and stops the sshd of the sandbox host behind a VM; a no-op when the endpoint serves no sandbox."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def apply(self, host: str | None, running: bool) -> None:
        if host is None or not (self.state_dir / "state.json").exists():
            return
        from ..sandbox import Sandbox  # the sandbox package imports this one: import late

        Sandbox(self.state_dir).fault(host, "start" if running else "stop")

    def loads(self) -> dict[str, dict[str, Any]]:
        """The sandbox hosts' set loads (loads.json of the load driver), {} when there is none."""
        try:
            return dict(json.loads((self.state_dir / "loads.json").read_text())["loads"])
        except (OSError, ValueError, KeyError):
            return {}


class Operations:
    """The endpoint's running and finished power operations (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[str, Operation] = {}
        self._failures: dict[str, dict[str, str]] = {}
        self.generation = 0

    def fail_next_start(self, vm_name: str, error: dict[str, str] | None = None) -> None:
        with self._lock:
            self._failures[vm_name.lower()] = {**DEFAULT_FAILURE, **(error or {})}

    def take_failure(self, action: str, vm_name: str) -> dict[str, str] | None:
        if action != "start":
            return None
        with self._lock:
            return self._failures.pop(vm_name.lower(), None)

    def get(self, op_id: str) -> Operation | None:
        with self._lock:
            return self._ops.get(op_id.lower())

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self.generation += 1

    def begin(
        self,
        action: str,
        vm_id: str,
        run: Callable[[Operation, int], None],
    ) -> Operation:
        """Record a new operation and run `run(operation, generation)` in a thread."""
        op = Operation(str(uuid.uuid4()), action, vm_id)
        with self._lock:
            self._ops[op.id] = op
            generation = self.generation
        threading.Thread(target=run, args=(op, generation), daemon=True, name=f"op-{action}").start()
        return op

    def finish(self, op: Operation, error: dict[str, str] | None = None) -> None:
        with self._lock:
            op.status = "Failed" if error else "Succeeded"
            op.error = error
            op.end_time = _now()


def settle_delay() -> None:
    """A short pause between the transitional and the final state, so pollers can see InProgress."""
    time.sleep(0.2)
