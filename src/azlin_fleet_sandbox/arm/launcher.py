"""Start/stop the endpoint as a detached process, and a small client for its `/_sandbox/` admin API."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .files import ENDPOINT_FILE
from .world import host_record

_SRC_DIR = Path(__file__).resolve().parents[2]


def _endpoint_file(state_dir: Path) -> Path:
    return Path(state_dir) / "azure" / ENDPOINT_FILE


def read_endpoint(state_dir: Path) -> dict[str, Any] | None:
    """endpoint.json of `state_dir`, or None when there is none."""
    try:
        return json.loads(_endpoint_file(state_dir).read_text())
    except (OSError, ValueError):
        return None


def _is_our_server(pid: int, state_dir: Path) -> bool:
    # A pid can be reused after the endpoint died: only ever signal a process that is this endpoint.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in cmdline]
    return "azlin_fleet_sandbox.arm" in args and "serve" in args and str(Path(state_dir).resolve()) in args


def _reap(pid: int) -> bool:
    """True when `pid` is gone (reaping it if it is our child)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = ""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    if state == "Z":
        # It died between the waitpid above and now: reap it if it is our child, so it is gone for good.
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return True
    return False


def stop(state_dir: Path, timeout: float = 10.0) -> bool:
    """Stop the endpoint of `state_dir` by its pid. Idempotent; True if a running endpoint was stopped."""
    endpoint = read_endpoint(state_dir)
    if not endpoint:
        return False
    pid = int(endpoint.get("pid") or 0)
    if pid <= 0 or not _is_our_server(pid, state_dir) or _reap(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reap(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    while not _reap(pid):
        time.sleep(0.05)
    return True


def is_running(state_dir: Path) -> bool:
    """True while the endpoint recorded in `state_dir` is alive."""
    endpoint = read_endpoint(state_dir)
    if not endpoint or not endpoint.get("pid"):
        return False
    pid = int(endpoint["pid"])
    return _is_our_server(pid, state_dir) and not _reap(pid)


def launch(
    state_dir: Path,
    hosts: Iterable[Any],
    *,
    synthetic: int = 0,
    synthetic_scale_sets: int = 0,
    scale_set_size: int = 100,
    subscriptions: int = 2,
    page_size: int = 1000,
    status_only_shape: str = "minimal",
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Start the endpoint for `hosts` (HostSpec-like) as a detached process; return endpoint.json once it answers.

    Any endpoint already running for `state_dir` is stopped first.
    """
    state_dir = Path(state_dir).resolve()
    azure_dir = state_dir / "azure"
    azure_dir.mkdir(parents=True, exist_ok=True)
    stop(state_dir)
    _endpoint_file(state_dir).unlink(missing_ok=True)
    records = [host_record(h) for h in hosts]
    hosts_file = azure_dir / "hosts.json"
    hosts_file.write_text(
        json.dumps(
            [
                {
                    "name": r.name,
                    "address": r.address,
                    "port": r.port,
                    "pools": list(r.pools),
                    "tags": dict(r.tags),
                    "cpus": r.cpus,
                    "user": r.user,
                }
                for r in records
            ],
            indent=2,
        )
        + "\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "azlin_fleet_sandbox.arm",
        "serve",
        "--state-dir",
        str(state_dir),
        "--hosts-file",
        str(hosts_file),
        "--synthetic",
        str(synthetic),
        "--synthetic-scale-sets",
        str(synthetic_scale_sets),
        "--scale-set-size",
        str(scale_set_size),
        "--subscriptions",
        str(subscriptions),
        "--page-size",
        str(page_size),
        "--status-only-shape",
        status_only_shape,
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SRC_DIR), env.get("PYTHONPATH", "")) if p)
    log_path = azure_dir / "server.log"
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            cmd,
            stdin=devnull,
            stdout=log,
            stderr=log,
            env=env,
            cwd=str(state_dir),
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"the local Azure endpoint exited with {proc.returncode} at start; log {log_path}:\n{tail}"
            )
        endpoint = read_endpoint(state_dir)
        if endpoint and endpoint.get("pid") == proc.pid:
            try:
                ArmAdmin(endpoint).get("health")
                return endpoint
            except OSError:
                pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"the local Azure endpoint did not answer within {timeout} s; see {log_path}")


def reset(state_dir: Path) -> bool:
    """Clear faults and request counts, restore page size and power states; False when no endpoint is running."""
    if not is_running(state_dir):
        return False
    ArmAdmin(Path(state_dir)).reset()
    return True


class ArmAdmin:
    """Client of the `/_sandbox/` admin API (faults, request counts, reset, page size, power states)."""

    def __init__(self, endpoint: dict[str, Any] | Path) -> None:
        if isinstance(endpoint, Path | str):
            found = read_endpoint(Path(endpoint))
            if found is None:
                raise FileNotFoundError(f"no endpoint.json under {endpoint}/azure: is the endpoint running?")
            endpoint = found
        self.base_url = endpoint["base_url"]
        self._context = ssl.create_default_context(cafile=endpoint["ca_bundle"])

    def call(self, method: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else (b"{}" if method == "POST" else None)
        request = urllib.request.Request(
            f"{self.base_url}/_sandbox/{action}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=30) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as ex:
            detail = ex.read().decode(errors="replace")
            raise ValueError(f"admin {method} /_sandbox/{action} failed with {ex.code}: {detail}") from ex

    def get(self, action: str) -> dict[str, Any]:
        return self.call("GET", action)

    def requests(self) -> dict[str, Any]:
        """Counts per endpoint kind (token, openid, subscriptions, vms, nics, public_ips, other), total, by_status."""
        return self.get("requests")

    def reset(self, *, tokens: bool = False) -> dict[str, Any]:
        """Clear faults and counts, restore page size and power states (and revoke tokens if asked)."""
        return self.call("POST", "reset", {"tokens": tokens})

    def fault(
        self,
        status: int | None = None,
        *,
        count: int | None | str = "default",
        delay: float = 0.0,
        retry_after: int = 1,
        subscription: str | None = None,
        kind: str | None = None,
    ) -> dict[str, Any]:
        """Add a fault rule (see faults.FaultRule): e.g. fault(429, count=2), fault(403, subscription=sub)."""
        spec: dict[str, Any] = {"retry_after": retry_after}
        if status is not None:
            spec["status"] = status
        if count != "default":
            spec["count"] = count
        if delay:
            spec["delay"] = delay
        if subscription is not None:
            spec["subscription"] = subscription
        if kind is not None:
            spec["kind"] = kind
        return self.call("POST", "faults", spec)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Live settings: page_size=N, status_only_shape='minimal'|'full'."""
        return self.call("POST", "config", settings)

    def set_power(self, name: str, state: str, subscription: str | None = None) -> dict[str, Any]:
        return self.call("POST", "power", {"name": name, "state": state, "subscription": subscription})

    def world(self) -> dict[str, Any]:
        return self.get("world")

    def make_scale_set(
        self, name: str, hosts: list[str], *, orchestration: str = "Uniform", tags: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Turn the VMs of sandbox `hosts` into a scale set (Uniform: instances `<name>_<i>`); undone by reset."""
        return self.call(
            "POST", "scale_sets", {"name": name, "hosts": hosts, "orchestration": orchestration, "tags": tags or {}}
        )

    def fail_next_start(self, name: str, error: dict[str, str] | None = None) -> dict[str, Any]:
        """Make the next start of VM `name` end as a Failed operation with this ARM error (AllocationFailed)."""
        return self.call("POST", "power_failures", {"name": name, "error": error})
