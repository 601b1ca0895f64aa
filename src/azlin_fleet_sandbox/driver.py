"""The load driver: one process per sandbox that keeps every host's /proc files and utmp live.

It rewrites the files IN PLACE (pwrite + ftruncate on the same inode), because each host sees them
through bind mounts and a bind mount keeps pointing at the old inode after a rename. /proc/stat counters
advance every tick at the host's set CPU %, so any two samples give that percentage.

Inputs (written by Sandbox): ``driver.json`` (hosts, their files, CPU count, MemTotal) and ``loads.json``
(``{"generation": n, "loads": {host: Load}}``, replaced atomically). After applying a generation the driver
writes it to ``driver.ack``, which is how ``Sandbox.set_load`` knows the change is visible.

Run: ``python -m azlin_fleet_sandbox.driver <state_dir>`` (Sandbox.up starts it; SIGTERM stops it).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from azlin_fleet_sandbox.procfiles import (
    DEFAULT_LOAD,
    CpuCounters,
    Load,
    encode_utmp,
    parse_stat_totals,
    render_loadavg,
    render_meminfo,
    render_stat,
)

TICK_SECONDS = 0.1


def read_boot_time(stat_path: Path = Path("/proc/stat")) -> int:
    """The machine's boot time (``btime``) from its real /proc/stat."""
    for line in stat_path.read_text().splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])
    return int(time.time())


class HostFiles:
    """One host's live files and counters."""

    def __init__(self, spec: dict, boot_time: int) -> None:
        self.name: str = spec["name"]
        self.cpus: int = spec["cpus"]
        self.mem_kb: int = spec["mem_kb"]
        self.index: int = spec["index"]
        base = Path(spec["dir"])
        self.paths = {
            "stat": base / "proc" / "stat",
            "loadavg": base / "proc" / "loadavg",
            "meminfo": base / "proc" / "meminfo",
            "utmp": base / "utmp",
        }
        self.boot_time = boot_time
        self.load: Load = DEFAULT_LOAD
        self.counters = self._recover_counters()
        self.iowait = 150 + 37 * self.index

    def _recover_counters(self) -> CpuCounters:
        # A restarted driver continues from the counters on disk, so they never go backwards.
        try:
            totals = parse_stat_totals(self.paths["stat"].read_text())
        except OSError:
            totals = None
        if totals is not None:
            return CpuCounters(self.cpus, float(totals[0]), float(totals[1]))
        return CpuCounters.after_uptime(self.cpus, max(time.time() - self.boot_time, 1.0))

    def _running(self) -> int:
        return max(1, min(round(self.load.load[0]), 64))

    def write_stat(self) -> None:
        busy, idle = self.counters.totals()
        text = render_stat(
            busy, idle, cpus=self.cpus, iowait=self.iowait, btime=self.boot_time, procs_running=self._running()
        )
        write_in_place(self.paths["stat"], text.encode())

    def write_slow_files(self) -> None:
        busy, idle = self.counters.totals()
        loadavg = render_loadavg(
            self.load.load, running=self._running(), total=140 + 9 * self.index, last_pid=2000 + (busy + idle) // 40
        )
        write_in_place(self.paths["loadavg"], loadavg.encode())
        write_in_place(self.paths["meminfo"], render_meminfo(self.mem_kb, self.load.mem).encode())
        self.write_utmp()

    def write_utmp(self) -> None:
        data = encode_utmp(self.load.users, now=int(time.time()), boot_time=self.boot_time, pid=os.getpid())
        write_in_place(self.paths["utmp"], data)


def write_in_place(path: Path, data: bytes) -> None:
    """Overwrite ``path`` on the same inode: write first, then cut the tail, so readers never see it empty."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def _write_ack(state_dir: Path, generation: int) -> None:
    tmp = state_dir / "driver.ack.tmp"
    tmp.write_text(str(generation))
    os.replace(tmp, state_dir / "driver.ack")


def _read_loads(path: Path) -> tuple[int, dict[str, Load]] | None:
    try:
        raw = json.loads(path.read_text())
        return int(raw["generation"]), {name: Load.from_dict(value) for name, value in raw["loads"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"driver: cannot read {path}: {exc}", file=sys.stderr, flush=True)
        return None


def run(state_dir: Path, tick: float = TICK_SECONDS) -> None:
    """Drive the files of every host in ``state_dir`` until SIGTERM."""
    config = json.loads((state_dir / "driver.json").read_text())
    boot_time = read_boot_time()
    hosts = [HostFiles(spec, boot_time) for spec in config["hosts"]]
    loads_path = state_dir / "loads.json"
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    loads_stamp: tuple[int, int] | None = None
    last = time.monotonic()
    last_second = 0
    first = True
    while not stopping:
        now = time.monotonic()
        for host in hosts:
            # The counters advance at the rate that held since the last tick; a new rate starts now.
            host.counters.advance(now - last, host.load.cpu)
        last = now
        generation = None
        try:
            st = loads_path.stat()
            stamp = (st.st_mtime_ns, st.st_ino)
        except OSError:
            stamp = None
        if stamp is not None and stamp != loads_stamp:
            loaded = _read_loads(loads_path)
            if loaded is not None:
                loads_stamp = stamp
                generation, loads = loaded
                for host in hosts:
                    host.load = loads.get(host.name, host.load)
        second = int(time.time())
        for host in hosts:
            try:
                host.write_stat()
                if generation is not None or first:
                    host.write_slow_files()
                elif second != last_second and host.load.users:
                    host.write_utmp()  # ut_tv = now - idle, so the idle time stays what was set
            except OSError as exc:
                print(f"driver: cannot write files of {host.name}: {exc}", file=sys.stderr, flush=True)
        last_second = second
        first = False
        if generation is not None:
            _write_ack(state_dir, generation)
        time.sleep(max(0.0, tick - (time.monotonic() - now)))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m azlin_fleet_sandbox.driver STATE_DIR", file=sys.stderr)
        return 2
    run(Path(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
