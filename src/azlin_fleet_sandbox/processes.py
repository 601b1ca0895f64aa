"""Processes the sandbox started: liveness, identity (so a recycled PID is never killed), termination."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _reap(pid: int) -> None:
    # Our own children stay zombies until waited for; anyone else's are reaped by init.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def cmdline(pid: int) -> str:
    """The command line of ``pid`` (arguments joined by spaces), or "" if it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def is_alive(pid: int | None, marker: str = "") -> bool:
    """True if ``pid`` runs (not a zombie) and, if given, ``marker`` is part of its command line."""
    if not pid:
        return False
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return False
    return not marker or marker in cmdline(pid)


def terminate(pid: int | None, marker: str = "", timeout: float = 3.0) -> bool:
    """SIGTERM ``pid`` (then SIGKILL after ``timeout``) if it is alive and carries ``marker``; True if it was."""
    if not is_alive(pid, marker):
        return False
    assert pid is not None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    while is_alive(pid):
        time.sleep(0.01)
    return True


def signal_all(pids: list[int], signum: int) -> None:
    """Send ``signum`` to every pid in ``pids`` that still exists."""
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def kill_all(pids: list[int], timeout: float = 3.0) -> None:
    """SIGKILL every pid in ``pids`` and wait until all are gone (used for a host's whole network namespace)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(is_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


def processes_matching(marker: str, *, at_end: bool = False) -> list[int]:
    """Live PIDs (other than ours) whose command line contains ``marker`` (or ends with it, if ``at_end``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        line = cmdline(int(entry.name))
        if (line.endswith(marker) if at_end else marker in line) and is_alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def mounts_matching(markers: list[str]) -> list[str]:
    """Mount points, in any process's mount namespace, whose source or target contains one of ``markers``."""
    found: set[str] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "mountinfo").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if any(marker in line for marker in markers):
                fields = line.split()
                found.add(f"{fields[4]} (root {fields[3]}, pid {entry.name})")
    return sorted(found)
