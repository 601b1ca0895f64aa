"""Step one sandbox host's wall clock, as an NTP step or an operator's `date -s` would on a real VM.

The kernel's clock is shared by every host on this machine, so the step is made with libfaketime (Debian package
``libfaketime``) inside the host's own mount namespace: :func:`fake_clock` gives root on that host a login shell
that starts every session with libfaketime preloaded (a bind mount over the host's ``/etc/passwd``), reading its
offset from a file of the host's state dir. :func:`step_clock` rewrites that offset, and every process of the host's
sessions sees it at once: ``date``, Python's ``time.time()``, file times it sets. The monotonic clocks are left
alone, as a real clock step leaves them. sshd itself is not preloaded (its sandbox forbids what libfaketime does).

SSH connections opened before :func:`fake_clock` keep their old shell: open new ones (another ControlPath dir).
"""

from __future__ import annotations

import glob
import subprocess
from pathlib import Path

from azlin_fleet_sandbox import sshd
from azlin_fleet_sandbox.errors import SandboxError, SandboxUsageError
from azlin_fleet_sandbox.sandbox import Sandbox

LIBFAKETIME_GLOB = "/usr/lib/*/faketime/libfaketime.so.1"


def libfaketime() -> str | None:
    """Path of libfaketime, or None when the package is not installed."""
    found = sorted(glob.glob(LIBFAKETIME_GLOB))
    return found[0] if found else None


def _host(box: Sandbox, name: str) -> dict:
    host = next((h for h in box.status()["hosts"] if h["name"] == name), None)
    if host is None:
        raise SandboxUsageError(f"Host {name!r}", "is not in the sandbox")
    if not host["sshd_pid"]:
        raise SandboxError(f"Faking the clock of {name!r}", "its sshd is not running", "Start it first.")
    return host


def _in_host(pid: int, script: str, what: str) -> None:
    proc = subprocess.run(
        ["/usr/bin/nsenter", "-t", str(pid), "-m", "/bin/sh", "-c", script], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SandboxError(what, proc.stderr.strip() or f"exit {proc.returncode}")


def _is_faked(pid: int) -> bool:
    with open(f"/proc/{pid}/mountinfo") as handle:
        return any(line.split()[4] == "/etc/passwd" for line in handle)


def fake_clock(box: Sandbox, name: str) -> None:
    """Let host ``name``'s clock be stepped: new SSH sessions there run under libfaketime (offset 0 for now)."""
    lib = libfaketime()
    if lib is None:
        raise SandboxError(
            "Faking a host's clock", "libfaketime is not installed", "Install it: apt-get install libfaketime."
        )
    pid = int(_host(box, name)["sshd_pid"])
    local = box.host_dir(name) / "clock"
    local.mkdir(exist_ok=True)
    alias = f"{sshd.alias_dir(box.prefix, name)}/clock"  # the same directory, as the host sees it
    (local / "offset").write_text("+0\n")
    (local / "shell").write_text(
        "#!/bin/sh\n"
        f"LD_PRELOAD={lib} FAKETIME_TIMESTAMP_FILE={alias}/offset FAKETIME_NO_CACHE=1 "
        "FAKETIME_DONT_FAKE_MONOTONIC=1\n"
        "export LD_PRELOAD FAKETIME_TIMESTAMP_FILE FAKETIME_NO_CACHE FAKETIME_DONT_FAKE_MONOTONIC\n"
        'exec /bin/bash "$@"\n'
    )
    (local / "shell").chmod(0o755)
    lines = Path("/etc/passwd").read_text().splitlines()
    (local / "passwd").write_text(
        "\n".join(f"{line.rsplit(':', 1)[0]}:{alias}/shell" if line.startswith("root:") else line for line in lines)
        + "\n"
    )
    (local / "passwd").chmod(0o644)
    if not _is_faked(pid):
        _in_host(pid, f"mount --bind {alias}/passwd /etc/passwd", f"Faking the clock of {name!r}")


def step_clock(box: Sandbox, name: str, seconds: int) -> None:
    """Shift host ``name``'s wall clock by ``seconds`` from the real time (negative: back); 0 undoes the step."""
    offset = box.host_dir(name) / "clock" / "offset"
    if not offset.exists():
        raise SandboxUsageError(f"Stepping the clock of {name!r}", "its clock is not faked", "Call fake_clock first.")
    offset.write_text(f"{int(seconds):+d}\n")


def restore_clock(box: Sandbox, name: str) -> None:
    """Give host ``name`` the real clock back for new SSH sessions."""
    pid = int(_host(box, name)["sshd_pid"])
    if _is_faked(pid):
        _in_host(pid, "umount /etc/passwd", f"Restoring the clock of {name!r}")
