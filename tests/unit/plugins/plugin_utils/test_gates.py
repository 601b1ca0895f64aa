from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.azlin.fleet.plugins.module_utils.proc_metrics import meets_limits
from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import (
    Condition,
    IdleThresholds,
    combine_gates,
    compile_gate,
    evaluate_gate,
    parse_gate,
)


def metrics(cpu=5.0, mem=30.0, load1=0.1, cpus=2, sessions=()):
    sessions = [{"user": f"u{i}", "line": f"pts/{i}", "host": "", "idle": idle} for i, idle in enumerate(sessions)]
    return {
        "cpu": cpu,
        "mem": mem,
        "load1": load1,
        "load5": load1,
        "load15": load1,
        "cpus": cpus,
        "users": len(sessions),
        "sessions": sessions,
        "uptime": 100.0,
        "interval": 1.0,
    }


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("idle", (Condition("idle"),), id="idle"),
        pytest.param("cpu<50", (Condition("cpu", "<", 50.0),), id="cpu"),
        pytest.param("mem<80%", (Condition("mem", "<", 80.0),), id="mem-with-percent-sign"),
        pytest.param("load<0.7", (Condition("load", "<", 0.7),), id="load-fraction"),
        pytest.param("load<.5", (Condition("load", "<", 0.5),), id="load-leading-dot"),
        pytest.param("users==0", (Condition("users", "==", 0.0),), id="users"),
        pytest.param("  CPU < 50 AND Idle ", (Condition("cpu", "<", 50.0), Condition("idle")), id="blanks-and-case"),
        pytest.param(
            "cpu<50 and mem<80 and load<1 and users==0",
            (
                Condition("cpu", "<", 50.0),
                Condition("mem", "<", 80.0),
                Condition("load", "<", 1.0),
                Condition("users", "==", 0.0),
            ),
            id="all-four-joined",
        ),
    ],
)
def test_parse_gate_accepts(source: str, expected: tuple[Condition, ...]) -> None:
    gate = parse_gate(source)
    assert gate.conditions == expected
    assert gate.source == source


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(
            "cpu<<50",
            "Invalid gate 'cpu<<50' at column 5: expected a number after '<'. Write a comparison such as 'cpu<50'.",
            id="the-style-guide-example",
        ),
        pytest.param("cpu<", "at column 5: expected a number after '<'", id="missing-number-at-end"),
        pytest.param("cpu>50", "at column 4: 'cpu' supports only '<', not '>'", id="wrong-operator"),
        pytest.param("cpu50", "at column 4: expected '<' after 'cpu'", id="missing-operator"),
        pytest.param("disk<5", "at column 1: unknown condition 'disk'", id="unknown-metric"),
        pytest.param("cpu<50 mem<80", "at column 8: expected 'and' before 'mem'", id="missing-and"),
        pytest.param("cpu<50 or mem<80", "at column 8: expected 'and' before 'or'", id="or-is-not-supported"),
        pytest.param("cpu<50 and", "at column 11: expected a condition after 'and'", id="dangling-and"),
        pytest.param("", "at column 1: the gate is empty", id="empty"),
        pytest.param("cpu<150", "at column 5: cpu is a percentage, 150 is above 100", id="cpu-above-100"),
        pytest.param("load<1%", "at column 7: '%' only applies to cpu and mem", id="percent-on-load"),
        pytest.param("users==0.5", "at column 8: users needs a whole number", id="users-fraction"),
        pytest.param("cpu<50 and $", "at column 12: unknown condition '$'", id="garbage-char"),
    ],
)
def test_parse_gate_errors_name_the_column(source: str, message: str) -> None:
    with pytest.raises(FleetUsageError, match=re.escape(message)):
        parse_gate(source)


def test_parse_error_fields_are_structured() -> None:
    with pytest.raises(FleetUsageError) as info:
        parse_gate("mem<x")
    assert (info.value.subject, info.value.location) == ("Invalid gate 'mem<x'", "column 5")
    assert info.value.hint == "Write a comparison such as 'cpu<50'."


@pytest.mark.parametrize(
    ("source", "host", "passed", "reasons"),
    [
        pytest.param("cpu<50", metrics(cpu=63), False, ("cpu 63% >= 50%",), id="cpu-over"),
        pytest.param("cpu<50", metrics(cpu=49.9), True, (), id="cpu-under"),
        pytest.param("cpu<50", metrics(cpu=50), False, ("cpu 50% >= 50%",), id="cpu-equal-fails"),
        pytest.param("mem<80", metrics(mem=85.25), False, ("mem 85.2% >= 80%",), id="mem-over"),
        pytest.param("load<0.5", metrics(load1=1.2, cpus=2), False, ("load 0.60 >= 0.50 per CPU",), id="load-per-cpu"),
        pytest.param("load<0.5", metrics(load1=0.9, cpus=2), True, (), id="load-per-cpu-passes"),
        pytest.param("users==0", metrics(sessions=(5000,)), False, ("users 1 != 0",), id="users"),
        pytest.param("idle", metrics(cpu=5, load1=0.2, cpus=1, sessions=(901,)), True, (), id="idle-old-session"),
        pytest.param("idle", metrics(cpu=12, load1=0.1), False, ("not idle: cpu 12% >= 10%",), id="idle-cpu"),
        pytest.param(
            "idle", metrics(load1=0.8, cpus=2), False, ("not idle: load 0.40 >= 0.30 per CPU",), id="idle-load"
        ),
        pytest.param(
            "idle",
            metrics(sessions=(60,)),
            False,
            ("not idle: user u0 active 60s ago (< 900s)",),
            id="idle-recent-user",
        ),
        pytest.param(
            "cpu<50 and mem<40",
            metrics(cpu=70, mem=45),
            False,
            ("cpu 70% >= 50%", "mem 45% >= 40%"),
            id="all-failures-listed",
        ),
    ],
)
def test_evaluate_gate(source: str, host: dict, passed: bool, reasons: tuple[str, ...]) -> None:
    verdict = evaluate_gate(parse_gate(source), host)
    assert (verdict.passed, verdict.reasons) == (passed, reasons)


def test_no_gate_always_passes() -> None:
    assert evaluate_gate(None, metrics(cpu=100, mem=100)).passed


def test_idle_thresholds_are_configurable() -> None:
    relaxed = IdleThresholds(cpu=50.0, load=1.0, user_idle_seconds=30)
    host = metrics(cpu=20, load1=0.5, cpus=1, sessions=(60,))
    assert not evaluate_gate(parse_gate("idle"), host).passed
    assert evaluate_gate(parse_gate("idle"), host, relaxed).passed


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        pytest.param(["idle", "cpu<50"], "idle and cpu<50", id="flags-combine-with-and"),
        pytest.param(["", None, " mem<80 "], "mem<80", id="blank-ignored"),
        pytest.param([], None, id="none"),
    ],
)
def test_combine_gates(sources: list, expected: str | None) -> None:
    assert combine_gates(sources) == expected


# ---- properties

percent = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(cpu=percent, limit=st.integers(min_value=0, max_value=100))
def test_cpu_gate_matches_comparison(cpu: float, limit: int) -> None:
    assert evaluate_gate(parse_gate(f"cpu<{limit}"), metrics(cpu=cpu)).passed == (cpu < limit)


@given(cpu=percent, mem=percent, a=st.integers(0, 100), b=st.integers(0, 100))
def test_and_is_conjunction(cpu: float, mem: float, a: int, b: int) -> None:
    both = evaluate_gate(parse_gate(f"cpu<{a} and mem<{b}"), metrics(cpu=cpu, mem=mem))
    one = evaluate_gate(parse_gate(f"cpu<{a}"), metrics(cpu=cpu, mem=mem))
    two = evaluate_gate(parse_gate(f"mem<{b}"), metrics(cpu=cpu, mem=mem))
    assert both.passed == (one.passed and two.passed)
    assert both.reasons == one.reasons + two.reasons


@given(st.text(max_size=30))
def test_parse_gate_never_crashes_unexpectedly(source: str) -> None:
    try:
        gate = parse_gate(source)
    except FleetUsageError as ex:
        assert ex.location.startswith("column ")
        column = int(ex.location.split()[1])
        assert 1 <= column <= len(source) + 1
    else:
        assert gate.conditions


# ---- the host-side check of wait mode agrees with evaluate_gate

sessions = st.lists(st.integers(0, 3600), max_size=3)
gate_sources = st.sampled_from(
    ["idle", "cpu<50", "mem<80", "load<0.7", "users==0", "idle and mem<60", "cpu<20 and users==0"]
)


@given(
    source=gate_sources,
    cpu=percent,
    mem=percent,
    load1=st.floats(0, 8, allow_nan=False),
    cpus=st.integers(1, 8),
    idle=sessions,
)
def test_compiled_limits_agree_with_evaluate_gate(source, cpu, mem, load1, cpus, idle) -> None:
    host = metrics(cpu=cpu, mem=mem, load1=load1, cpus=cpus, sessions=tuple(idle))
    gate = parse_gate(source)
    assert meets_limits(compile_gate(gate), host) == evaluate_gate(gate, host).passed


def test_compile_gate_expands_idle_from_the_thresholds() -> None:
    limits = compile_gate(parse_gate("idle"), IdleThresholds(cpu=5.0, load=0.1, user_idle_seconds=60))
    assert limits == [
        {"metric": "cpu", "below": 5.0},
        {"metric": "load_per_cpu", "below": 0.1},
        {"metric": "user_idle", "at_least": 60},
    ]
    assert compile_gate(None) == []
