from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ansible_collections.azlin.fleet.plugins.module_utils.proc_metrics import (
    UTMP_RECORD_SIZE,
    cpu_percent,
    parse_loadavg,
    parse_meminfo,
    parse_stat,
    parse_uptime,
    parse_utmp,
    session_idle,
)

PROC = Path(__file__).resolve().parents[2] / "fixtures" / "proc"


def read(name: str) -> str:
    return (PROC / name).read_text()


def test_loadavg_fixture() -> None:
    assert parse_loadavg(read("loadavg")) == (0.52, 0.41, 0.30)


def test_stat_fixture_counts_idle_plus_iowait_and_cpu_lines() -> None:
    # stat.1: user 1000 + system 500 + idle 8000 + iowait 500 = 10000 ticks, of which 8500 idle.
    assert parse_stat(read("stat.1")) == (1500, 10000, 2)


def test_cpu_percent_between_fixture_samples() -> None:
    # 75 busy ticks out of 200 between the samples (hand-computed from the fixture files).
    assert cpu_percent(parse_stat(read("stat.1")), parse_stat(read("stat.2"))) == 37.5


def test_cpu_percent_no_ticks_is_zero() -> None:
    sample = parse_stat(read("stat.1"))
    assert cpu_percent(sample, sample) == 0.0


def test_meminfo_uses_memavailable() -> None:
    # (8000000 - 6000000) / 8000000; MemFree (1000000) would give 87.5.
    assert parse_meminfo(read("meminfo")) == 25.0


def test_uptime_fixture() -> None:
    assert parse_uptime(read("uptime")) == 12345.67


def test_utmp_keeps_only_user_process_records() -> None:
    data = (PROC / "utmp").read_bytes()
    assert len(data) == 5 * UTMP_RECORD_SIZE == 1920
    assert parse_utmp(data) == [
        {"user": "alice", "line": "pts/90", "host": "10.0.0.5", "login": 1764003600.5},
        {"user": "bob", "line": "tty1", "host": "", "login": 1764001200.0},
    ]


def test_utmp_empty_file_has_no_sessions() -> None:
    assert parse_utmp(b"") == []


@pytest.mark.parametrize(
    ("now", "login", "atime", "expected"),
    [
        pytest.param(1000.0, 100.0, None, 900, id="no-tty-uses-login"),
        pytest.param(1000.0, 100.0, 990.0, 10, id="tty-atime-wins"),
        pytest.param(1000.0, 1005.0, None, 0, id="clock-skew-never-negative"),
    ],
)
def test_session_idle(now: float, login: float, atime: float | None, expected: int) -> None:
    assert session_idle(now, login, atime) == expected


@pytest.mark.parametrize(
    ("parser", "text", "match"),
    [
        pytest.param(parse_loadavg, "0.1 0.2", "at least 3 fields", id="loadavg-short"),
        pytest.param(parse_loadavg, "a b c 1/2 3", "not numbers", id="loadavg-text"),
        pytest.param(parse_stat, "cpu0 1 2 3 4\n", "no aggregate 'cpu' line", id="stat-no-aggregate"),
        pytest.param(parse_stat, "cpu  1 2 3 4 5\n", "no per-CPU", id="stat-no-cpuN"),
        pytest.param(parse_stat, "cpu  1 x 3 4\ncpu0 1 2 3 4\n", "non-number", id="stat-garbage"),
        pytest.param(parse_meminfo, "MemTotal: 100 kB\nMemFree: 5 kB\n", "no MemAvailable", id="meminfo-old-kernel"),
        pytest.param(parse_meminfo, "MemAvailable: 5 kB\n", "no MemTotal", id="meminfo-no-total"),
        pytest.param(parse_uptime, "", "does not start with a number", id="uptime-empty"),
    ],
)
def test_parse_errors_name_the_problem(parser, text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parser(text)


def test_utmp_truncated_record_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a multiple of the 384-byte record"):
        parse_utmp(b"\0" * 100)


def test_utmp_format_is_the_glibc_layout() -> None:
    # 2+2+4 + 32 + 4 + 32 + 256 + 2+2 + 4 + 4+4 + 16 + 20 bytes
    assert struct.calcsize("<hhi32s4s32s256shhiii4i20s") == UTMP_RECORD_SIZE == 384
