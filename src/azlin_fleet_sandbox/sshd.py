"""One host's sshd: its config, the namespace set-up script, and starting it.

A host's sshd runs inside the host's network namespace, in its own UTS namespace (hostname = host name)
and a private mount namespace (``unshare -m -u --propagation private``) in which:

- ``/run`` is a fresh tmpfs (the host's own /run, with /run/sshd for privilege separation);
- the host's state directory is bound at ``/run/azlin-fleet/<prefix>-<name>`` (the *alias*), so later
  mounts can take their sources from it even when it lies under /tmp or /root;
- ``/proc/loadavg``, ``/proc/stat``, ``/proc/meminfo`` and ``/run/utmp`` are bind mounts of files the
  load driver rewrites in place; ``/tmp`` and ``/root`` are the host's own directories.

Unreadable probe files (fault ``unreadable``): ``/proc/sys/net/ipv4/route/flush`` is bound over the three
/proc files. That sysctl is write-only (mode 0200) and the kernel refuses to open it for reading even for
root (EACCES, "Permission denied"), unlike a chmod 000 file which root reads anyway. Writing it only
flushes the route cache of the host's own network namespace, so an accidental write is harmless.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
ALIAS_ROOT = "/run/azlin-fleet"
PROBE_FILES = ("/proc/loadavg", "/proc/stat", "/proc/meminfo")
UNREADABLE_SOURCE = "/proc/sys/net/ipv4/route/flush"


def alias_dir(prefix: str, name: str) -> str:
    """Where a host sees its own state directory (also the marker that identifies its sshd)."""
    return f"{ALIAS_ROOT}/{prefix}-{name}"


def render_sshd_config(*, alias: str, address: str, port: int) -> str:
    """sshd_config: root by key only, no PAM, enough start-ups and sessions for 16+ parallel Ansible forks."""
    return "\n".join(
        [
            f"ListenAddress {address}",
            f"Port {port}",
            f"HostKey {alias}/ssh_host_ed25519_key",
            f"AuthorizedKeysFile {alias}/authorized_keys",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # The state directory may sit in a group-writable tree; the keys are ours either way.
            "StrictModes no",
            "PidFile none",
            "MaxStartups 200",
            "MaxSessions 200",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "AcceptEnv LANG LC_*",
            "ClientAliveInterval 15",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "",
        ]
    )


def render_start_script(*, host_dir: Path, alias: str, hostname: str, unreadable: bool) -> str:
    """The /bin/sh script run under ``unshare``: mounts, hostname, then exec sshd (so its PID is sshd's)."""
    q = shlex.quote
    lines = [
        "set -eu",
        f"hostname {q(hostname)}",
        "mount -t tmpfs -o mode=0755,size=16m tmpfs /run",
        f"mkdir -p /run/sshd {q(alias)}",
        f"mount --bind {q(str(host_dir))} {q(alias)}",
        ": > /run/utmp",
        f"mount --bind {q(alias + '/utmp')} /run/utmp",
    ]
    lines += [f"mount --bind {q(alias + '/proc/' + Path(f).name)} {f}" for f in PROBE_FILES]
    if unreadable:
        lines += [f"mount --bind {UNREADABLE_SOURCE} {f}" for f in PROBE_FILES]
    lines += [
        f"mount --bind {q(alias + '/root')} /root",
        f"mount --bind {q(alias + '/tmp')} /tmp",
        f"exec {SSHD} -D -E {q(alias + '/sshd.log')} -f {q(alias + '/sshd_config')}",
        "",
    ]
    return "\n".join(lines)


def launch_sshd(*, netns: str, host_dir: Path) -> subprocess.Popen:
    """Start the host's sshd in its namespaces.

    ``ip netns exec``, ``unshare`` and ``sh`` all exec, so the returned PID ends up being sshd's.
    """
    with open(host_dir / "start.log", "ab") as log:
        return subprocess.Popen(
            [
                "/usr/sbin/ip",
                "netns",
                "exec",
                netns,
                "/usr/bin/unshare",
                "-m",
                "-u",
                "--propagation",
                "private",
                "/bin/sh",
                str(host_dir / "start.sh"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def is_port_open(address: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_ports(targets: list[tuple[str, int, subprocess.Popen | None]], timeout: float = 10.0) -> list[str]:
    """Wait until every (address, port) accepts connections; return those that did not or whose process died."""
    pending = list(targets)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        still = []
        for address, port, proc in pending:
            if proc is not None and proc.poll() is not None:
                still.append((address, port, None))
                deadline = min(deadline, time.monotonic())
                continue
            if not is_port_open(address, port):
                still.append((address, port, proc))
        pending = still
        if pending:
            time.sleep(0.02)
    return [address for address, _, _ in pending]
