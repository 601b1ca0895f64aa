# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parsers for the Linux files fleet_probe reads: /proc/loadavg, /proc/stat, /proc/meminfo, /proc/uptime, utmp.

Runs on the target, so it must stay Python 3.8 compatible and import nothing outside the standard library.
Every parser takes the file's text (or bytes for utmp) and raises ValueError naming what is wrong.
"""

from __future__ import annotations

import struct

# glibc struct utmp on x86_64 and aarch64 (384 bytes): ut_type, pad, ut_pid, ut_line[32], ut_id[4], ut_user[32],
# ut_host[256], ut_exit (2 shorts), ut_session, ut_tv (2 x int32), ut_addr_v6[4], reserved[20].
UTMP_FORMAT = "<hhi32s4s32s256shhiii4i20s"
UTMP_RECORD_SIZE = struct.calcsize(UTMP_FORMAT)
USER_PROCESS = 7


def parse_loadavg(text):
    # type: (str) -> tuple[float, float, float]
    """Return the 1, 5 and 15 minute load averages from /proc/loadavg."""
    fields = text.split()
    if len(fields) < 3:
        raise ValueError("expected at least 3 fields in /proc/loadavg, got %r" % text[:80])
    try:
        return float(fields[0]), float(fields[1]), float(fields[2])
    except ValueError:
        raise ValueError("load averages in /proc/loadavg are not numbers: %r" % text[:80]) from None


def parse_stat(text):
    # type: (str) -> tuple[int, int, int]
    """Return (busy_ticks, total_ticks, cpu_count) from /proc/stat.

    Idle time is ``idle + iowait`` (columns 4 and 5); guest columns are already counted in user/nice,
    so only the first eight columns are summed, as top and procps do.
    """
    busy = total = None
    cpus = 0
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = line.split()[1:9]
            if len(fields) < 4:
                raise ValueError("the 'cpu' line of /proc/stat has too few columns: %r" % line[:80])
            try:
                ticks = [int(f) for f in fields]
            except ValueError:
                raise ValueError("the 'cpu' line of /proc/stat holds a non-number: %r" % line[:80]) from None
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            total = sum(ticks)
            busy = total - idle
        elif line.startswith("cpu") and line[3:4].isdigit():
            cpus += 1
    if total is None or busy is None:
        raise ValueError("no aggregate 'cpu' line in /proc/stat")
    if cpus == 0:
        raise ValueError("no per-CPU 'cpuN' lines in /proc/stat")
    return busy, total, cpus


def cpu_percent(first, second):
    # type: (tuple[int, int, int], tuple[int, int, int]) -> float
    """Return CPU utilisation in percent between two parse_stat samples (0 when no ticks passed)."""
    d_busy = second[0] - first[0]
    d_total = second[1] - first[1]
    if d_total <= 0:
        return 0.0
    return round(max(0.0, min(100.0, 100.0 * d_busy / d_total)), 1)


def parse_meminfo(text):
    # type: (str) -> float
    """Return memory used in percent, ``100 * (MemTotal - MemAvailable) / MemTotal``, from /proc/meminfo."""
    values = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if sep:
            parts = rest.split()
            if parts:
                try:
                    values[key.strip()] = int(parts[0])
                except ValueError:
                    raise ValueError("/proc/meminfo field %r is not a number: %r" % (key, rest.strip())) from None
    if "MemTotal" not in values:
        raise ValueError("no MemTotal in /proc/meminfo")
    if "MemAvailable" not in values:
        raise ValueError("no MemAvailable in /proc/meminfo (the kernel is older than 3.14)")
    total = values["MemTotal"]
    if total <= 0:
        raise ValueError("MemTotal in /proc/meminfo is %d" % total)
    used = 100.0 * (total - values["MemAvailable"]) / total
    return round(max(0.0, min(100.0, used)), 1)


def parse_uptime(text):
    # type: (str) -> float
    """Return the seconds since boot from /proc/uptime."""
    fields = text.split()
    try:
        return float(fields[0])
    except (IndexError, ValueError):
        raise ValueError("/proc/uptime does not start with a number: %r" % text[:80]) from None


def _cstring(raw):
    # type: (bytes) -> str
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def parse_utmp(data):
    # type: (bytes) -> list[dict]
    """Return the interactive sessions (USER_PROCESS records) of a glibc utmp image.

    Each session is ``{"user", "line", "host", "login"}`` with ``login`` in epoch seconds.
    """
    if len(data) % UTMP_RECORD_SIZE:
        raise ValueError("utmp size %d is not a multiple of the %d-byte record" % (len(data), UTMP_RECORD_SIZE))
    sessions = []
    for offset in range(0, len(data), UTMP_RECORD_SIZE):
        fields = struct.unpack_from(UTMP_FORMAT, data, offset)
        if fields[0] != USER_PROCESS:
            continue
        sessions.append(
            {
                "user": _cstring(fields[5]),
                "line": _cstring(fields[3]),
                "host": _cstring(fields[6]),
                "login": fields[10] + fields[11] / 1e6,
            }
        )
    return sessions


def session_idle(now, login, tty_atime=None):
    # type: (float, float, float | None) -> int
    """Return a session's idle seconds: since the tty was last read when it exists, else since login."""
    last_active = tty_atime if tty_atime is not None else login
    return max(0, int(now - last_active))


def meets_limits(limits, metrics):
    # type: (list[dict], dict) -> bool
    """Return True when metrics satisfy every limit compiled by the controller's gates.compile_gate."""
    for limit in limits:
        name = limit["metric"]
        if name == "load_per_cpu":
            value = float(metrics["load1"]) / max(1, int(metrics["cpus"]))
        elif name == "user_idle":
            if any(int(s["idle"]) < limit["at_least"] for s in metrics.get("sessions") or []):
                return False
            continue
        else:
            value = float(metrics[name])
        if "below" in limit and not value < limit["below"]:
            return False
        if "equals" in limit and value != limit["equals"]:
            return False
    return True


def metrics_from(load, first, second, mem, uptime, sessions, interval):
    """The metrics dict every probe path returns (the module on the VM and the one-exec probe on the controller),
    from the parsed /proc/loadavg triple, two /proc/stat samples, memory used %, uptime and sessions."""
    return {
        "load1": load[0],
        "load5": load[1],
        "load15": load[2],
        "cpus": second[2],
        "cpu": cpu_percent(first, second),
        "mem": mem,
        "users": len(sessions),
        "sessions": sessions,
        "uptime": uptime,
        "interval": interval,
    }
