"""The files a sandbox host shows as its own: /proc/stat, /proc/loadavg, /proc/meminfo and /run/utmp.

Pure functions on plain values (the driver does the I/O). Formats follow Linux 6.x and glibc x86_64,
so the same parsers that read a real VM read these.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from azlin_fleet_sandbox.errors import SandboxUsageError

USER_HZ = 100

# How busy jiffies split over the /proc/stat busy columns (per 100 jiffies). Steal and guest stay 0,
# iowait stays constant, so "busy = total - idle - iowait" and "busy = total - idle" give the same delta.
_BUSY_WEIGHTS = (("user", 70), ("nice", 2), ("system", 22), ("irq", 1), ("softirq", 5))
STAT_COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")


@dataclass(frozen=True)
class Load:
    """What a host reports: cpu % (from two /proc/stat samples), load averages, memory used %, users' idle seconds."""

    cpu: float = 5.0
    load: tuple[float, float, float] = (0.05, 0.04, 0.01)
    mem: float = 30.0
    users: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        """Plain JSON-shaped dict (lists, not tuples)."""
        return {"cpu": self.cpu, "load": list(self.load), "mem": self.mem, "users": list(self.users)}

    @classmethod
    def from_dict(cls, raw: dict) -> Load:
        return cls(
            cpu=float(raw["cpu"]),
            load=tuple(float(v) for v in raw["load"]),  # type: ignore[arg-type]
            mem=float(raw["mem"]),
            users=tuple(int(v) for v in raw["users"]),
        )


DEFAULT_LOAD = Load()


def merge_load(
    current: Load,
    *,
    cpu: float | None = None,
    load: Sequence[float] | None = None,
    mem: float | None = None,
    users: Sequence[int] | None = None,
) -> Load:
    """Return ``current`` with the given values replaced, after checking each one."""
    if cpu is not None and not (isinstance(cpu, int | float) and 0 <= cpu <= 100):
        raise SandboxUsageError("CPU load", f"{cpu!r} is not a percentage", "Give a number from 0 to 100.")
    if mem is not None and not (isinstance(mem, int | float) and 0 <= mem <= 100):
        raise SandboxUsageError("Memory load", f"{mem!r} is not a percentage", "Give a number from 0 to 100.")
    if load is not None:
        values = tuple(load)
        if len(values) != 3 or not all(isinstance(v, int | float) and 0 <= v < 10000 for v in values):
            raise SandboxUsageError(
                "Load averages",
                f"{load!r} is not three numbers >= 0",
                "Give (load1, load5, load15), e.g. (0.5, 0.4, 0.3).",
            )
    if users is not None and not all(isinstance(v, int) and v >= 0 for v in users):
        raise SandboxUsageError(
            "Interactive users",
            f"{users!r} is not a list of idle seconds",
            "Give one integer >= 0 per user, e.g. [0, 1200].",
        )
    return Load(
        cpu=current.cpu if cpu is None else float(cpu),
        load=current.load if load is None else tuple(float(v) for v in load),  # type: ignore[arg-type]
        mem=current.mem if mem is None else float(mem),
        users=current.users if users is None else tuple(users),
    )


# ---------------------------------------------------------------------------------------------- /proc/stat


def _busy_pattern() -> list[dict[str, int]]:
    """prefix[k][column] = how many of the first k busy jiffies of each period of 100 go to that column."""
    slots = sorted(((j + 0.5) / weight, name) for name, weight in _BUSY_WEIGHTS for j in range(weight))
    prefix = [{name: 0 for name, _ in _BUSY_WEIGHTS}]
    for _, name in slots:
        row = dict(prefix[-1])
        row[name] += 1
        prefix.append(row)
    return prefix


_PREFIX = _busy_pattern()


def split_busy(busy: int) -> dict[str, int]:
    """Split a busy jiffy count over the busy columns; each column is monotonic in ``busy`` and they sum to it."""
    periods, rest = divmod(busy, 100)
    return {name: periods * weight + _PREFIX[rest][name] for name, weight in _BUSY_WEIGHTS}


def split_over_cpus(value: int, cpus: int) -> list[int]:
    """Share a counter over ``cpus`` lines so that they sum to it and each stays monotonic."""
    base, extra = divmod(value, cpus)
    return [base + (1 if i < extra else 0) for i in range(cpus)]


class CpuCounters:
    """The busy and idle jiffies of one host, advancing at the set CPU % (USER_HZ per CPU per second)."""

    def __init__(self, cpus: int, busy: float, idle: float) -> None:
        self.cpus = cpus
        self.busy = busy
        self.idle = idle

    @classmethod
    def after_uptime(cls, cpus: int, uptime: float, cpu_pct: float = 5.0) -> CpuCounters:
        """Counters as if the host had run ``uptime`` seconds at ``cpu_pct``."""
        counters = cls(cpus, 0.0, 0.0)
        counters.advance(uptime, cpu_pct)
        return counters

    def advance(self, seconds: float, cpu_pct: float) -> None:
        jiffies = USER_HZ * self.cpus * max(seconds, 0.0)
        self.busy += jiffies * cpu_pct / 100.0
        self.idle += jiffies * (100.0 - cpu_pct) / 100.0

    def totals(self) -> tuple[int, int]:
        return math.floor(self.busy), math.floor(self.idle)


def stat_columns(busy: int, idle: int, iowait: int) -> dict[str, int]:
    """All ten columns of an aggregate ``cpu`` line."""
    columns = dict.fromkeys(STAT_COLUMNS, 0)
    columns.update(split_busy(busy))
    columns["idle"] = idle
    columns["iowait"] = iowait
    return columns


def render_stat(busy: int, idle: int, *, cpus: int, iowait: int, btime: int, procs_running: int) -> str:
    """A /proc/stat text: aggregate and per-CPU lines, then intr, ctxt, btime, processes, procs_*, softirq."""
    columns = stat_columns(busy, idle, iowait)
    per_cpu = {name: split_over_cpus(value, cpus) for name, value in columns.items()}
    lines = ["cpu  " + " ".join(str(columns[name]) for name in STAT_COLUMNS)]
    for i in range(cpus):
        lines.append(f"cpu{i} " + " ".join(str(per_cpu[name][i]) for name in STAT_COLUMNS))
    ticks = busy + idle + iowait
    irqs = [ticks // cpus, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, busy // 3, 0, 0, ticks // 7, busy // 11, 0, 0, 0]
    softirqs = [ticks // 50, ticks // cpus, busy // 9, busy // 5, ticks // 90, 0, busy // 40, busy // 2, 0, busy // 4]
    lines += [
        f"intr {sum(irqs)} " + " ".join(map(str, irqs)),
        f"ctxt {ticks * 3 + busy * 17}",
        f"btime {btime}",
        f"processes {2000 + ticks // 40}",
        f"procs_running {procs_running}",
        "procs_blocked 0",
        f"softirq {sum(softirqs)} " + " ".join(map(str, softirqs)),
    ]
    return "\n".join(lines) + "\n"


def parse_stat_totals(text: str) -> tuple[int, int] | None:
    """(busy, idle) jiffies of the aggregate ``cpu`` line as this module writes it, or None if absent/garbled."""
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu" and len(parts) == 11 and all(p.isdigit() for p in parts[1:]):
            values = dict(zip(STAT_COLUMNS, map(int, parts[1:]), strict=True))
            busy = sum(values[name] for name, _ in _BUSY_WEIGHTS)
            return busy, values["idle"]
    return None


# ---------------------------------------------------------------------------------------------- loadavg, meminfo


def render_loadavg(load: Sequence[float], *, running: int, total: int, last_pid: int) -> str:
    """A /proc/loadavg line, e.g. ``0.52 0.58 0.59 2/345 12345``."""
    one, five, fifteen = load
    return f"{one:.2f} {five:.2f} {fifteen:.2f} {running}/{total} {last_pid}\n"


def render_meminfo(total_kb: int, used_pct: float) -> str:
    """A /proc/meminfo text in which ``100 * (1 - MemAvailable / MemTotal)`` is ``used_pct``."""
    available = round(total_kb * (100.0 - used_pct) / 100.0)
    free = available * 45 // 100
    buffers = available * 5 // 100
    cached = available * 40 // 100
    reclaimable = available - free - buffers - cached
    used = total_kb - available
    anon = used * 70 // 100
    shmem = min(used * 2 // 100, cached)
    unreclaimable = used * 5 // 100
    rows: list[tuple[str, int | None]] = [
        ("MemTotal", total_kb),
        ("MemFree", free),
        ("MemAvailable", available),
        ("Buffers", buffers),
        ("Cached", cached),
        ("SwapCached", 0),
        ("Active", anon // 2 + cached // 2),
        ("Inactive", anon - anon // 2 + buffers + cached - cached // 2),
        ("Active(anon)", anon // 2),
        ("Inactive(anon)", anon - anon // 2),
        ("Active(file)", cached // 2),
        ("Inactive(file)", buffers + cached - cached // 2),
        ("Unevictable", 0),
        ("Mlocked", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Zswap", 0),
        ("Zswapped", 0),
        ("Dirty", 120),
        ("Writeback", 0),
        ("AnonPages", anon),
        ("Mapped", cached // 8),
        ("Shmem", shmem),
        ("KReclaimable", reclaimable),
        ("Slab", reclaimable + unreclaimable),
        ("SReclaimable", reclaimable),
        ("SUnreclaim", unreclaimable),
        ("KernelStack", 4096),
        ("PageTables", used // 100),
        ("SecPageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", total_kb // 2),
        ("Committed_AS", used * 2),
        ("VmallocTotal", 34359738367),
        ("VmallocUsed", 24576),
        ("VmallocChunk", 0),
        ("Percpu", 1024),
        ("HardwareCorrupted", 0),
        ("AnonHugePages", 0),
        ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FileHugePages", 0),
        ("FilePmdMapped", 0),
        ("HugePages_Total", None),
        ("HugePages_Free", None),
        ("HugePages_Rsvd", None),
        ("HugePages_Surp", None),
        ("Hugepagesize", 2048),
        ("Hugetlb", 0),
        ("DirectMap4k", 180224),
        ("DirectMap2M", total_kb - 180224 - total_kb % 2048),
        ("DirectMap1G", 0),
    ]
    lines = []
    for name, value in rows:
        if value is None:  # the HugePages_ counts are page counts, printed without a unit
            lines.append(f"{name + ':':<16}{0:>8}")
        else:
            lines.append(f"{name + ':':<16}{value:>8} kB")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- utmp

# glibc struct utmp on x86_64 (384 bytes): ut_type, pad, ut_pid, ut_line[32], ut_id[4], ut_user[32],
# ut_host[256], ut_exit{e_termination, e_exit}, ut_session, ut_tv{int32 sec, int32 usec}, ut_addr_v6[4], reserved[20].
UTMP_RECORD = struct.Struct("<hhi32s4s32s256shhiii4i20s")
RUN_LVL, BOOT_TIME, USER_PROCESS = 1, 2, 7


@dataclass(frozen=True)
class UtmpEntry:
    """One utmp record, decoded."""

    type: int
    pid: int
    line: str
    id: str
    user: str
    host: str
    tv_sec: int


def _pack(entry: UtmpEntry) -> bytes:
    return UTMP_RECORD.pack(
        entry.type,
        0,
        entry.pid,
        entry.line.encode(),
        entry.id.encode(),
        entry.user.encode(),
        entry.host.encode(),
        0,
        0,
        entry.pid if entry.type == USER_PROCESS else 0,
        entry.tv_sec,
        0,
        0,
        0,
        0,
        0,
        b"",
    )


def user_entries(idle_seconds: Sequence[int], *, now: int, pid: int) -> list[UtmpEntry]:
    """Interactive sessions user1..N on pts/90.. whose login time (``ut_tv``) is ``now - idle``."""
    entries = []
    for i, idle in enumerate(idle_seconds):
        line = f"pts/9{i}"
        entries.append(
            UtmpEntry(USER_PROCESS, pid, line, line[-4:], f"user{i + 1}", f"192.0.2.{i + 1}", now - int(idle))
        )
    return entries


def encode_utmp(idle_seconds: Sequence[int], *, now: int, boot_time: int, pid: int) -> bytes:
    """A /run/utmp image: the boot and runlevel records, then one USER_PROCESS per interactive user."""
    records = [
        UtmpEntry(BOOT_TIME, 0, "~", "~~", "reboot", "6.1.0-azure", boot_time),
        UtmpEntry(RUN_LVL, ord("5") | ord("N") << 8, "~", "~~", "runlevel", "6.1.0-azure", boot_time + 5),
        *user_entries(idle_seconds, now=now, pid=pid),
    ]
    return b"".join(_pack(entry) for entry in records)


def decode_utmp(data: bytes) -> list[UtmpEntry]:
    """Records of a utmp image (the inverse of encode_utmp, for checks)."""
    entries = []
    for offset in range(0, len(data) - UTMP_RECORD.size + 1, UTMP_RECORD.size):
        fields = UTMP_RECORD.unpack_from(data, offset)
        text = [f.split(b"\0", 1)[0].decode() for f in fields[3:7]]
        entries.append(UtmpEntry(fields[0], fields[2], text[0], text[1], text[2], text[3], fields[10]))
    return entries
