"""The per-host sshd config and namespace start script."""

from __future__ import annotations

from pathlib import Path

from azlin_fleet_sandbox.sshd import alias_dir, render_sshd_config, render_start_script


def test_sshd_config_root_by_key_only_and_room_for_parallel_forks() -> None:
    lines = render_sshd_config(alias="/run/azlin-fleet/azf-web-1", address="10.213.0.11", port=22).splitlines()
    for expected in [
        "ListenAddress 10.213.0.11",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "UsePAM no",
        "AuthorizedKeysFile /run/azlin-fleet/azf-web-1/authorized_keys",
    ]:
        assert expected in lines
    max_startups = int(next(line for line in lines if line.startswith("MaxStartups")).split()[1])
    max_sessions = int(next(line for line in lines if line.startswith("MaxSessions")).split()[1])
    assert max_startups >= 32 and max_sessions >= 32


def test_start_script_mounts_probe_files_then_private_dirs_then_execs_sshd() -> None:
    alias = alias_dir("azt", "web-1")
    script = render_start_script(
        host_dir=Path("/tmp/state/hosts/web-1"), alias=alias, hostname="web-1", unreadable=False
    )
    lines = script.splitlines()
    assert "hostname web-1" in lines
    for name in ("loadavg", "stat", "meminfo"):
        assert f"mount --bind {alias}/proc/{name} /proc/{name}" in lines
    assert f"mount --bind {alias}/utmp /run/utmp" in lines
    # /tmp is bound last: the state dir may itself live under /tmp, so sources come from the alias.
    assert lines.index(f"mount --bind {alias}/tmp /tmp") == len(lines) - 2
    assert lines[-1] == f"exec /usr/sbin/sshd -D -E {alias}/sshd.log -f {alias}/sshd_config"
    assert "route/flush" not in script


def test_unreadable_start_script_covers_each_probe_file() -> None:
    script = render_start_script(host_dir=Path("/s/h"), alias="/run/azlin-fleet/azt-x", hostname="x", unreadable=True)
    for path in ("/proc/loadavg", "/proc/stat", "/proc/meminfo"):
        assert f"mount --bind /proc/sys/net/ipv4/route/flush {path}" in script.splitlines()
