"""The one-exec probe: its sh command (run for real on this machine) and the controller-side parser."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.azlin.fleet.plugins.modules import fleet_probe
from ansible_collections.azlin.fleet.plugins.plugin_utils.probe import (
    METRIC_TYPES,
    ProbeOutputError,
    check_metrics,
    measure_with,
    parse_probe_output,
    probe_command,
    probe_result,
    wait_until,
)

PROC = Path(__file__).resolve().parents[2] / "fixtures" / "proc"


def section(kind: str, arg: str, body: str) -> str:
    return f"@@{kind} {arg}\n{body.rstrip()}\n"


def utmp_hex() -> str:
    data = (PROC / "utmp").read_bytes()
    # as od -An -v -tx1 prints it: 16 bytes a line, each as " xx"
    return "\n".join("".join(f" {b:02x}" for b in data[i : i + 16]) for i in range(0, len(data), 16))


def fixture_output(**override: str) -> str:
    parts = {
        "head": "@@probe 1\n",
        "stat1": section("file", "/proc/stat", (PROC / "stat.1").read_text()),
        "stat2": section("file", "/proc/stat", (PROC / "stat.2").read_text()),
        "loadavg": section("file", "/proc/loadavg", (PROC / "loadavg").read_text()),
        "meminfo": section("file", "/proc/meminfo", (PROC / "meminfo").read_text()),
        "uptime": section("file", "/proc/uptime", (PROC / "uptime").read_text()),
        "now": "@@now 1764004200.9\n",
        "utmp": section("utmp", "/run/utmp", utmp_hex()),
        "ttys": "@@ttys\n/dev/pts/90 1764004000\n/dev/pts/1 1764004100\n",
        "end": "@@end\n",
    }
    parts.update(override)
    return "".join(parts.values())


def test_fixture_output_gives_the_hand_computed_metrics() -> None:
    assert parse_probe_output(fixture_output(), 0.5) == {
        "load1": 0.52,
        "load5": 0.41,
        "load15": 0.30,
        "cpus": 2,
        "cpu": 37.5,  # 75 busy of 200 ticks between stat.1 and stat.2
        "mem": 25.0,  # 6,000,000 of 8,000,000 kB available
        "users": 2,
        # alice's tty was read 200 s before the probe; bob's tty1 has no atime, so his login time counts
        "sessions": [
            {"user": "alice", "line": "pts/90", "host": "10.0.0.5", "idle": 200},
            {"user": "bob", "line": "tty1", "host": "", "idle": 3000},
        ],
        "uptime": 12345.67,
        "interval": 0.5,
    }


def test_host_without_utmp_has_no_sessions() -> None:
    metrics = parse_probe_output(fixture_output(utmp=""), 0.5)
    assert metrics["users"] == 0 and metrics["sessions"] == []


def test_date_without_nanoseconds_is_whole_seconds() -> None:
    metrics = parse_probe_output(fixture_output(now="@@now 1764004200.N\n"), 0.5)
    assert [s["idle"] for s in metrics["sessions"]] == [200, 3000]


@pytest.mark.parametrize(
    ("override", "match"),
    [
        pytest.param(
            {"stat1": "@@error /proc/stat\ncat: /proc/stat: Permission denied\n"},
            r"^Cannot read /proc/stat: Permission denied\. The host is unmeasurable",
            id="unreadable-file",
        ),
        pytest.param({"head": ""}, "no '@@probe' header", id="no-header"),
        pytest.param({"end": ""}, "stops before its end marker", id="cut-short"),
        pytest.param({"stat2": ""}, "expected two samples of /proc/stat, got 1", id="one-stat-sample"),
        pytest.param({"meminfo": ""}, "no /proc/meminfo section", id="missing-file"),
        pytest.param(
            {"loadavg": section("file", "/proc/loadavg", "abc def ghi 1/2 3")},
            "Cannot parse /proc/loadavg: load averages in /proc/loadavg are not numbers",
            id="garbage-loadavg",
        ),
        pytest.param({"utmp": section("utmp", "/run/utmp", "zz yy")}, "od dump is not hex", id="garbage-utmp"),
        pytest.param({"now": "@@now soon\n"}, "clock reading 'soon' is not a number", id="garbage-clock"),
        pytest.param({"now": ""}, "no clock reading", id="no-clock"),
    ],
)
def test_unusable_output_names_the_problem(override: dict, match: str) -> None:
    with pytest.raises(ProbeOutputError, match=match):
        parse_probe_output(fixture_output(**override), 0.5)


def test_text_before_the_header_is_rejected() -> None:
    with pytest.raises(ProbeOutputError, match="unexpected output before the probe header"):
        parse_probe_output("Welcome to the host!\n" + fixture_output(), 0.5)


@pytest.mark.parametrize("interval", [-0.1, 60.5])
def test_command_refuses_intervals_out_of_range(interval: float) -> None:
    with pytest.raises(ValueError, match="outside 0..60 seconds"):
        probe_command(interval)


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/dash", "/bin/bash", "busybox"])
def test_command_runs_in_posix_shells_and_matches_the_module(shell: str) -> None:
    argv = ["busybox", "sh"] if shell == "busybox" else [shell]
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{shell} is not installed here")
    proc = subprocess.run([*argv, "-c", probe_command(0.05)], capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 0, proc.stderr
    raw = parse_probe_output(proc.stdout, 0.05)
    module = fleet_probe.measure(0.05)
    # the same dict: same keys, same types; the machine-wide values agree (they are read a moment apart)
    assert raw.keys() == module.keys() == METRIC_TYPES.keys()
    assert {k: type(v) for k, v in raw.items()} == {k: type(v) for k, v in module.items()}
    assert raw["cpus"] == module["cpus"] and raw["users"] == module["users"]
    assert abs(raw["mem"] - module["mem"]) < 5 and abs(raw["uptime"] - module["uptime"]) < 10


GOOD = {
    "load1": 0.5,
    "load5": 0.4,
    "load15": 0.3,
    "cpus": 2,
    "cpu": 12.5,
    "mem": 30.0,
    "users": 1,
    "sessions": [{"user": "u", "line": "pts/1", "host": "h", "idle": 60}],
    "uptime": 100.0,
    "interval": 0.5,
}


def test_check_metrics_keeps_a_good_result() -> None:
    assert check_metrics(GOOD) == GOOD


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("cpu", "12.5", "cpu is '12.5', not a number"),
        ("cpu", "<script>", "cpu is '<script>', not a number"),
        ("cpu", float("nan"), "cpu is nan, not a finite number"),
        ("mem", float("inf"), "mem is inf, not a finite number"),
        ("cpu", True, "cpu is 'True', not a number"),
        ("cpu", None, "cpu is 'None', not a number"),
        ("cpu", -1.0, "cpu is -1.0, below 0"),
        ("cpu", 250.0, "cpu is 250.0, above 100 %"),
        ("cpus", 2.5, "cpus is '2.5', not a number"),
        ("cpus", 0, "cpus is 0, below 1"),
        ("load1", {"x": 1}, "load1 is .*not a number"),
        ("users", 3, "users is 3 but 1 session"),
        ("sessions", "alice", "sessions is a str, not a list"),
        ("sessions", [{"user": "u", "idle": "long"}], "a session's idle time is 'long', not a number"),
    ],
)
def test_check_metrics_rejects_hostile_fields(field: str, value: object, match: str) -> None:
    with pytest.raises(ProbeOutputError, match=match):
        check_metrics({**GOOD, field: value})


def test_check_metrics_rejects_missing_fields_and_non_mappings() -> None:
    with pytest.raises(ProbeOutputError, match="the metrics lack 'uptime'"):
        check_metrics({k: v for k, v in GOOD.items() if k != "uptime"})
    with pytest.raises(ProbeOutputError, match="the metrics are a list, not a mapping"):
        check_metrics([1, 2])


def test_wait_until_times_with_the_given_clock_only() -> None:
    # the host's own clock is part of its metrics; the wait only reads the controller clock it is given
    clock = itertools.count(start=1000.0, step=0.5).__next__
    cpus = iter([80.0, 70.0, 40.0])
    metrics, met, waited = wait_until(lambda: {**GOOD, "cpu": next(cpus)}, [{"metric": "cpu", "below": 50}], 300, clock)
    assert met is True and metrics["cpu"] == 40.0
    assert waited == 1.5  # started at 1000.0; the clock reads 1000.5, 1001.0, 1001.5 after each round


def test_wait_until_gives_up_after_the_timeout() -> None:
    clock = itertools.count(start=0.0, step=1.0).__next__
    metrics, met, waited = wait_until(lambda: dict(GOOD), [{"metric": "cpu", "below": 1}], 3, clock)
    assert met is False and waited == 3.0


def test_measure_with_runs_the_command_once_and_parses_bytes() -> None:
    commands = []

    def execute(command: str) -> dict:
        commands.append(command)
        return {"rc": 0, "stdout": fixture_output().encode(), "stderr": b""}

    assert measure_with(execute, 0.5)["cpu"] == 37.5
    assert commands == [probe_command(0.5)]


def test_measure_with_names_a_failed_command() -> None:
    def execute(command: str) -> dict:
        return {"rc": 127, "stdout": "", "stderr": "sh: 1: od: not found\n"}

    with pytest.raises(ProbeOutputError, match="the probe command exited 127: sh: 1: od: not found"):
        measure_with(execute, 0.5)


def test_probe_result_registers_metrics_with_the_clock_after_the_exec() -> None:
    ticks = iter([41.0, 42.0])
    result = probe_result(lambda command: {"rc": 0, "stdout": fixture_output(), "stderr": ""}, 0.5, lambda: next(ticks))
    assert result["changed"] is False
    assert result["metrics"]["cpu"] == 37.5
    assert result["probed_at"] == 41.0
    assert "unmeasurable" not in result


def test_probe_result_makes_an_unusable_answer_the_hosts_outcome_not_a_failure() -> None:
    result = probe_result(lambda command: {"rc": 0, "stdout": "garbage <b>{{ x }}</b>", "stderr": ""}, 0.5, float)
    assert result["unmeasurable"] is True
    assert result["fleet_status"] == "unmeasurable"
    assert result["fleet_reason"] == result["msg"] != ""
    assert "failed" not in result and "metrics" not in result


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            fixture_output().splitlines()
            + ["@@file /proc/stat", "@@utmp /run/utmp", "@@now", "@@error x", "cpu 1 2 x", "ff 00", "@@end", ""]
        ),
        max_size=60,
    ),
    st.text(max_size=200),
)
def test_any_answer_is_metrics_or_a_probe_error(lines: list[str], noise: str) -> None:
    # a hostile host controls the whole answer: the parser either returns checked metrics or names the problem
    for text in ("\n".join(lines), "\n".join(lines) + noise, noise):
        try:
            metrics = parse_probe_output(text, 0.5)
        except ProbeOutputError:
            continue
        assert check_metrics(metrics) == metrics
