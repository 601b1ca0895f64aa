"""The local sandbox fleet: real sshd hosts with settable loads and faults, plus a local Azure ARM endpoint."""

from __future__ import annotations

from azlin_fleet_sandbox.errors import SandboxError, SandboxUsageError
from azlin_fleet_sandbox.sandbox import DEFAULT_STATE_DIR, FAULT_KINDS, Sandbox
from azlin_fleet_sandbox.spec import HostSpec

__all__ = ["DEFAULT_STATE_DIR", "FAULT_KINDS", "HostSpec", "Sandbox", "SandboxError", "SandboxUsageError"]
