"""The sandbox's /proc and utmp generators: formats a real reader parses, counters that give the set CPU %."""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess

import pytest

from azlin_fleet_sandbox.errors import SandboxUsageError
from azlin_fleet_sandbox.procfiles import (
    DEFAULT_LOAD,
    UTMP_RECORD,
    CpuCounters,
    Load,
    decode_utmp,
    encode_utmp,
    merge_load,
    parse_stat_totals,
    render_loadavg,
    render_meminfo,
    render_stat,
    split_busy,
    split_over_cpus,
)


def _reader_cpu_percent(first: str, second: str) -> float:
    """CPU % the way a probe computes it: aggregate line, busy = total - idle - iowait (first 8 columns)."""

    def sample(text: str) -> tuple[int, int]:
        values = [int(v) for v in text.splitlines()[0].split()[1:]]
        return sum(values[:8]), values[3] + values[4]

    (t0, i0), (t1, i1) = sample(first), sample(second)
    return 100.0 * (1 - (i1 - i0) / (t1 - t0))


def _stat_at(counters: CpuCounters) -> str:
    busy, idle = counters.totals()
    return render_stat(busy, idle, cpus=counters.cpus, iowait=400, btime=1_700_000_000, procs_running=1)


@pytest.mark.parametrize("cpus", [1, 2, 4, 16])
@pytest.mark.parametrize("cpu_pct", [0.0, 3.0, 37.5, 63.0, 99.0, 100.0])
def test_two_samples_one_second_apart_give_the_set_cpu_percent(cpus: int, cpu_pct: float) -> None:
    rng = random.Random(cpus * 1000 + int(cpu_pct))
    counters = CpuCounters.after_uptime(cpus, 12_345.6, 5.0)
    for _ in range(7):  # the driver's ticks are never exactly 0.1 s
        counters.advance(rng.uniform(0.08, 0.12), 20.0)
    first = _stat_at(counters)
    for _ in range(10):
        counters.advance(rng.uniform(0.08, 0.12), cpu_pct)
    second = _stat_at(counters)
    assert _reader_cpu_percent(first, second) == pytest.approx(cpu_pct, abs=1.0)


def test_a_new_rate_applies_from_the_change_on() -> None:
    counters = CpuCounters(2, 1000.0, 9000.0)
    counters.advance(1.0, 10.0)
    before = _stat_at(counters)
    counters.advance(1.0, 90.0)
    assert _reader_cpu_percent(before, _stat_at(counters)) == pytest.approx(90.0, abs=1.0)


def test_busy_columns_are_monotonic_and_sum_to_the_busy_count() -> None:
    previous = split_busy(0)
    for busy in range(1, 1500):
        columns = split_busy(busy)
        assert sum(columns.values()) == busy
        assert all(columns[name] >= previous[name] for name in columns), busy
        previous = columns
    assert split_busy(100) == {"user": 70, "nice": 2, "system": 22, "irq": 1, "softirq": 5}


def test_per_cpu_shares_sum_to_the_counter_and_never_decrease() -> None:
    previous = split_over_cpus(0, 4)
    for value in range(1, 200):
        shares = split_over_cpus(value, 4)
        assert sum(shares) == value
        assert all(now >= before for now, before in zip(shares, previous, strict=True))
        previous = shares


def test_stat_has_the_lines_a_real_kernel_writes() -> None:
    text = render_stat(12_000, 88_000, cpus=4, iowait=321, btime=1_700_000_123, procs_running=3)
    lines = text.splitlines()
    assert lines[0].startswith("cpu  ")  # the aggregate line has two spaces, as in the kernel
    assert [line.split()[0] for line in lines[1:5]] == ["cpu0", "cpu1", "cpu2", "cpu3"]
    assert [line.split()[0] for line in lines[5:]] == [
        "intr",
        "ctxt",
        "btime",
        "processes",
        "procs_running",
        "procs_blocked",
        "softirq",
    ]
    assert "btime 1700000123" in lines
    assert "procs_running 3" in lines
    aggregate = [int(v) for v in lines[0].split()[1:]]
    assert len(aggregate) == 10
    per_cpu = [[int(v) for v in line.split()[1:]] for line in lines[1:5]]
    assert [sum(column) for column in zip(*per_cpu, strict=True)] == aggregate
    assert aggregate[3] == 88_000 and aggregate[4] == 321
    assert aggregate[7:] == [0, 0, 0]  # no steal, no guest
    intr = [int(v) for v in lines[5].split()[1:]]
    assert intr[0] == sum(intr[1:])


def test_stat_totals_round_trip_and_reject_garbage() -> None:
    text = render_stat(5_432, 98_765, cpus=2, iowait=10, btime=1, procs_running=1)
    assert parse_stat_totals(text) == (5_432, 98_765)
    assert parse_stat_totals("") is None
    assert parse_stat_totals("cpu  1 2 3\n") is None


def test_loadavg_line() -> None:
    assert render_loadavg((1.5, 0.25, 0.125), running=2, total=345, last_pid=12345) == "1.50 0.25 0.12 2/345 12345\n"


@pytest.mark.parametrize("used", [0.0, 12.5, 30.0, 71.5, 99.0, 100.0])
def test_meminfo_used_percent_from_memavailable(used: float) -> None:
    values = {}
    for line in render_meminfo(8_136_949, used).splitlines():
        assert re.fullmatch(r"[A-Za-z_0-9()]+:\s+\d+( kB)?", line), line
        name, rest = line.split(":", 1)
        values[name] = int(rest.split()[0])
    assert 100 * (1 - values["MemAvailable"] / values["MemTotal"]) == pytest.approx(used, abs=0.001)
    assert values["MemFree"] + values["Buffers"] + values["Cached"] + values["SReclaimable"] == values["MemAvailable"]
    assert values["MemFree"] <= values["MemAvailable"] <= values["MemTotal"]


def test_meminfo_columns_match_the_kernel_layout() -> None:
    lines = render_meminfo(16_273_899, 30.0).splitlines()
    # Copied from a real /proc/meminfo: 16-character label column, 8-character right-aligned number.
    assert lines[0] == "MemTotal:       16273899 kB"
    assert "HugePages_Total:       0" in lines
    assert lines[2].startswith("MemAvailable:   ")


def test_utmp_records_follow_the_glibc_x86_64_layout() -> None:
    assert UTMP_RECORD.size == 384
    data = encode_utmp([0, 1200], now=1_700_000_000, boot_time=1_699_990_000, pid=4242)
    assert len(data) == 4 * 384
    user = data[2 * 384 : 3 * 384]
    # Offsets from <bits/utmp.h>: ut_type 0, ut_pid 4, ut_line 8, ut_id 40, ut_user 44, ut_host 76, ut_tv 340.
    assert struct.unpack_from("<h", user, 0)[0] == 7  # USER_PROCESS
    assert struct.unpack_from("<i", user, 4)[0] == 4242
    assert user[8:14] == b"pts/90" and user[14] == 0
    assert user[40:44] == b"s/90"
    assert user[44:50] == b"user1\0"
    assert user[76:86] == b"192.0.2.1\0"
    assert struct.unpack_from("<i", user, 340)[0] == 1_700_000_000
    second = decode_utmp(data)[3]
    assert (second.user, second.line, second.tv_sec) == ("user2", "pts/91", 1_700_000_000 - 1200)
    assert [e.type for e in decode_utmp(data)] == [2, 1, 7, 7]


def test_utmp_without_users_has_only_boot_records() -> None:
    assert [e.user for e in decode_utmp(encode_utmp([], now=10, boot_time=5, pid=1))] == ["reboot", "runlevel"]


@pytest.mark.skipif(shutil.which("utmpdump") is None, reason="utmpdump (util-linux) not installed")
def test_utmpdump_reads_the_records(tmp_path) -> None:
    path = tmp_path / "utmp"
    path.write_bytes(encode_utmp([60], now=1_700_000_000, boot_time=1_699_990_000, pid=4242))
    out = subprocess.run(["utmpdump", str(path)], capture_output=True, text=True, check=True).stdout
    user_line = out.splitlines()[2]
    assert user_line.startswith("[7] [04242] [s/90] [user1   ] [pts/90      ] [192.0.2.1")
    assert "2023-11-14T22:12:20" in user_line  # 1_700_000_000 - 60 s


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cpu": 101}, "CPU load: 101 is not a percentage"),
        ({"cpu": -1}, "CPU load"),
        ({"mem": 150}, "Memory load: 150 is not a percentage"),
        ({"load": (1.0, 2.0)}, "Load averages"),
        ({"load": (1.0, -2.0, 0.0)}, "Load averages"),
        ({"users": [10, -5]}, "Interactive users"),
        ({"users": ["x"]}, "Interactive users"),
    ],
    ids=[
        "cpu-over-100",
        "cpu-negative",
        "mem-over-100",
        "load-two-values",
        "load-negative",
        "users-negative",
        "users-text",
    ],
)
def test_merge_load_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(SandboxUsageError, match=match):
        merge_load(DEFAULT_LOAD, **kwargs)


def test_merge_load_keeps_what_is_not_given() -> None:
    merged = merge_load(DEFAULT_LOAD, cpu=40, users=[0])
    assert merged == Load(cpu=40.0, load=DEFAULT_LOAD.load, mem=DEFAULT_LOAD.mem, users=(0,))
    assert Load.from_dict(merged.to_dict()) == merged
