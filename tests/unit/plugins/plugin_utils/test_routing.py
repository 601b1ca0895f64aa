from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError, FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import (
    Arrivals,
    Probe,
    RouteRun,
    RouteSettings,
    build_plan,
    dispatch_rank,
    is_stale,
    next_wait,
    order_hosts,
    parse_parallel,
    parse_settings,
    plan_summary,
    probe_from_result,
    recheck_host,
    score_host,
    selected_hosts,
    starts_on_arrival,
    verdicts,
    waiting_hosts,
)


def metrics(cpu=5.0, mem=30.0, load1=0.1, cpus=2):
    return {
        "cpu": cpu,
        "mem": mem,
        "load1": load1,
        "load5": load1,
        "load15": load1,
        "cpus": cpus,
        "users": 0,
        "sessions": [],
        "uptime": 100.0,
        "interval": 1.0,
    }


@pytest.mark.parametrize(
    ("host", "route_by", "expected"),
    [
        pytest.param(metrics(cpu=40, mem=30, load1=1.0, cpus=4), "score", 40.0, id="score-cpu-dominates"),
        pytest.param(metrics(cpu=10, mem=70, load1=1.0, cpus=4), "score", 70.0, id="score-mem-dominates"),
        pytest.param(metrics(cpu=10, mem=20, load1=3.0, cpus=2), "score", 150.0, id="score-load-per-cpu-dominates"),
        pytest.param(metrics(cpu=10, mem=70, load1=1.0, cpus=4), "cpu", 10.0, id="by-cpu"),
        pytest.param(metrics(cpu=10, mem=70, load1=1.0, cpus=4), "mem", 70.0, id="by-mem"),
        pytest.param(metrics(cpu=10, mem=70, load1=1.0, cpus=4), "load", 25.0, id="by-load"),
    ],
)
def test_score_host(host: dict, route_by: str, expected: float) -> None:
    assert score_host(host, route_by) == expected


def test_order_ties_broken_by_name() -> None:
    assert order_hosts({"web-3": 10.0, "web-1": 10.0, "ci-1": 50.0, "web-2": 5.0}) == [
        "web-2",
        "web-1",
        "web-3",
        "ci-1",
    ]


@pytest.mark.parametrize(
    ("value", "total", "expected"),
    [
        pytest.param(5, 16, 5, id="int"),
        pytest.param("3", 16, 3, id="string"),
        pytest.param("25%", 16, 4, id="percent"),
        pytest.param("10%", 4, 1, id="percent-rounds-down-but-at-least-one"),
        pytest.param("100%", 7, 7, id="all"),
    ],
)
def test_parse_parallel(value, total: int, expected: int) -> None:
    assert parse_parallel(value, total) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("0", "Invalid fleet_parallel '0': it must be at least 1", id="zero"),
        pytest.param("0%", "a share must be above 0%", id="zero-percent"),
        pytest.param("150%", "at most 100%", id="over-100-percent"),
        pytest.param("five", "expected a whole number", id="words"),
    ],
)
def test_parse_parallel_errors(value: str, message: str) -> None:
    with pytest.raises(FleetUsageError, match=re.escape(message)):
        parse_parallel(value, 10)


def test_parse_settings_defaults_and_values() -> None:
    assert parse_settings({}) == RouteSettings()
    settings = parse_settings(
        {
            "fleet_gate": "cpu<50",
            "fleet_gate_mode": "WAIT",
            "fleet_gate_timeout": "30",
            "fleet_route_by": "mem",
            "fleet_count": "3",
            "fleet_parallel": "50%",
            "fleet_probe_ttl": 5,
            "fleet_probe_interval": "0.3",
            "fleet_dry_run": "yes",
            "unrelated": 1,
        }
    )
    assert settings == RouteSettings(
        gate="cpu<50",
        gate_mode="wait",
        gate_timeout=30.0,
        route_by="mem",
        count=3,
        parallel="50%",
        probe_ttl=5.0,
        probe_interval=0.3,
        dry_run=True,
    )
    assert settings.parsed_gate is not None and settings.parsed_gate.conditions[0].metric == "cpu"


def test_parse_settings_blank_values_mean_default() -> None:
    assert parse_settings({"fleet_gate": "", "fleet_count": None, "fleet_parallel": " "}) == RouteSettings()


def test_parse_settings_reports_one_problem_as_is() -> None:
    with pytest.raises(FleetUsageError, match=re.escape("Invalid gate 'cpu<<50' at column 5")):
        parse_settings({"fleet_gate": "cpu<<50"})


def test_parse_settings_collects_every_problem() -> None:
    with pytest.raises(FleetValidationError) as info:
        parse_settings(
            {"fleet_gate_mode": "maybe", "fleet_count": "0", "fleet_route_by": "disk", "fleet_dry_run": "perhaps"}
        )
    subjects = [p.subject for p in info.value.problems]
    assert subjects == [
        "Invalid fleet_gate_mode 'maybe'",
        "Invalid fleet_route_by 'disk'",
        "Invalid fleet_count '0'",
        "Invalid fleet_dry_run 'perhaps'",
    ]


def probes(**cpu_by_host: float) -> list[Probe]:
    return [Probe(host, metrics(cpu=cpu, mem=1, load1=0)) for host, cpu in cpu_by_host.items()]


def statuses(plan: dict) -> dict[str, tuple]:
    return {e["host"]: (e["status"], e["order"], e["reasons"]) for e in plan["hosts"]}


def test_plan_orders_least_loaded_first() -> None:
    plan = build_plan(RouteSettings(), probes(a=50, b=10, c=30))
    assert selected_hosts(plan) == ["b", "c", "a"]
    assert [e["order"] for e in plan["hosts"]] == [1, 2, 3]
    assert plan["version"] == 1 and plan["gate"] is None and plan["route_by"] == "score"


def test_plan_keep_order_uses_the_probe_order_and_still_gates() -> None:
    """A dry run without routing shows the inventory order the run uses, with metrics and verdicts."""
    settings = parse_settings({"fleet_gate": "cpu<60"})
    plan = build_plan(settings, probes(c=50, a=10, d=70, b=30), keep_order=True)
    assert selected_hosts(plan) == ["c", "a", "b"]
    assert [(e["host"], e["order"]) for e in plan["hosts"]] == [("c", 1), ("a", 2), ("b", 3), ("d", None)]
    assert plan["route_by"] == "inventory"
    assert statuses(plan)["d"][0] == "gated"


def test_plan_count_selects_after_gating() -> None:
    settings = parse_settings({"fleet_gate": "cpu<60", "fleet_count": 2})
    plan = build_plan(settings, probes(a=50, b=10, c=30, d=70, e=5))
    assert statuses(plan) == {
        "e": ("selected", 1, []),
        "b": ("selected", 2, []),
        "c": ("not_selected", None, ["not among the 2 least loaded (rank 3 by score)"]),
        "a": ("not_selected", None, ["not among the 2 least loaded (rank 4 by score)"]),
        "d": ("gated", None, ["cpu 70% >= 60%"]),
    }
    assert [e["host"] for e in plan["hosts"]] == ["e", "b", "c", "a", "d"]


def test_plan_unmeasurable_host_never_runs() -> None:
    plan = build_plan(RouteSettings(), [Probe("x", error="Cannot read /proc/stat: Permission denied."), *probes(a=5)])
    assert statuses(plan)["x"] == ("unmeasurable", None, ["Cannot read /proc/stat: Permission denied."])
    assert selected_hosts(plan) == ["a"]


def test_plan_wait_timeout_reason() -> None:
    plan = build_plan(parse_settings({"fleet_gate": "cpu<50"}), probes(a=80), waited=5)
    assert statuses(plan)["a"][2] == ["cpu 80% >= 50%", "still gated after waiting 5s"]


def test_plan_is_json_and_dry_run_flag() -> None:
    plan = build_plan(parse_settings({"fleet_dry_run": True}), probes(a=1))
    assert json.loads(json.dumps(plan)) == plan
    assert plan["dry_run"] is True


def test_waiting_hosts_stops_once_count_pass() -> None:
    settings = parse_settings({"fleet_gate": "cpu<50", "fleet_count": 1})
    assert waiting_hosts(build_plan(settings, probes(a=80, b=10))) == []
    assert waiting_hosts(build_plan(settings, probes(a=80, b=90))) == ["a", "b"]


def test_dispatch_rank_puts_selected_first() -> None:
    plan = build_plan(parse_settings({"fleet_gate": "cpu<50"}), probes(a=80, b=10, c=20))
    assert dispatch_rank(plan) == {"b": 0, "c": 1, "a": 2}


def test_recheck_host_drops_a_host_that_now_fails() -> None:
    settings = parse_settings({"fleet_gate": "cpu<50"})
    plan = build_plan(settings, probes(a=10, b=20))
    plan = recheck_host(plan, settings, Probe("a", metrics(cpu=90)))
    assert statuses(plan)["a"] == ("gated", None, ["re-probe before dispatch: cpu 90% >= 50%"])
    assert selected_hosts(plan) == ["b"]
    plan = recheck_host(plan, settings, Probe("b", error="unreachable"))
    assert statuses(plan)["b"][0] == "unmeasurable"


@pytest.mark.parametrize(
    ("probed_at", "now", "ttl", "stale"),
    [
        pytest.param(100.0, 150.0, 60.0, False, id="fresh"),
        pytest.param(100.0, 160.0, 60.0, False, id="exactly-ttl-is-fresh"),
        pytest.param(100.0, 160.5, 60.0, True, id="older"),
        pytest.param(100.0, 100.1, 0.0, True, id="ttl-zero-always-reprobes"),
    ],
)
def test_is_stale(probed_at: float, now: float, ttl: float, stale: bool) -> None:
    assert is_stale(probed_at, now, ttl) is stale


# ---- properties

host_names = st.text(alphabet="abcdefgh-0123", min_size=1, max_size=6)
fleets = st.dictionaries(host_names, st.floats(0, 100, allow_nan=False), min_size=1, max_size=12)


@given(fleet=fleets, limit=st.integers(0, 100), count=st.none() | st.integers(1, 15))
def test_plan_properties(fleet: dict[str, float], limit: int, count: int | None) -> None:
    settings = parse_settings({"fleet_gate": f"cpu<{limit}", "fleet_count": count, "fleet_route_by": "cpu"})
    plan = build_plan(settings, probes(**fleet))
    chosen = selected_hosts(plan)
    # scores have 0.1 resolution, so hosts closer than that tie and go by name
    passing = sorted((round(cpu, 1), host) for host, cpu in fleet.items() if cpu < limit)
    # exactly the best `count` passing hosts run, least loaded first, ties by name
    assert chosen == [host for _, host in passing][: count if count is not None else None]
    # every host appears once; every host that does not run says why
    assert sorted(e["host"] for e in plan["hosts"]) == sorted(fleet)
    for entry in plan["hosts"]:
        assert (entry["status"] == "selected") == (entry["order"] is not None)
        assert (entry["status"] == "selected") == (not entry["reasons"])


@given(fleet=fleets)
def test_order_is_a_sorted_permutation(fleet: dict[str, float]) -> None:
    order = order_hosts(fleet)
    assert sorted(order) == sorted(fleet)
    assert all((fleet[a], a) < (fleet[b], b) for a, b in zip(order, order[1:], strict=False))


@given(value=st.integers(1, 100), total=st.integers(1, 500))
def test_parallel_percent_bounds(value: int, total: int) -> None:
    n = parse_parallel(f"{value}%", total)
    assert 1 <= n <= total


@pytest.mark.parametrize(
    ("result", "expected_error"),
    [
        pytest.param({"changed": False, "metrics": metrics(cpu=7)}, None, id="ok"),
        pytest.param(
            {"failed": True, "msg": "Cannot read /proc/stat: Permission denied."},
            "Cannot read /proc/stat: Permission denied.",
            id="failed",
        ),
        pytest.param(
            {"unreachable": True, "msg": "ssh: connect to host timed out"},
            "unreachable: ssh: connect to host timed out",
            id="unreachable",
        ),
        pytest.param({"skipped": True}, "no probe result: the probe task did not run on this host", id="skipped"),
        pytest.param(None, "no probe result: the probe task did not run on this host", id="missing"),
        pytest.param({"failed": True}, "the probe failed without a message", id="failed-silently"),
        pytest.param(
            {"changed": False, "metrics": {**metrics(), "cpu": "idle, trust me"}},
            "probe result rejected: cpu is 'idle, trust me', not a number",
            id="compromised-non-numeric-cpu",
        ),
        pytest.param(
            {"changed": False, "metrics": {**metrics(), "mem": float("nan")}},
            "probe result rejected: mem is nan, not a finite number",
            id="compromised-nan-mem",
        ),
        pytest.param(
            {"changed": False, "metrics": "lots"},
            "probe result rejected: the metrics are a str, not a mapping",
            id="compromised-metrics-not-a-dict",
        ),
    ],
)
def test_probe_from_result(result, expected_error) -> None:
    probe = probe_from_result("h", result, at=3.0)
    assert (probe.error, probe.at) == (expected_error, 3.0)
    assert (probe.metrics is None) == (expected_error is not None)


def test_next_wait_only_in_wait_mode() -> None:
    plan_probes = probes(a=80, b=10)
    skip = parse_settings({"fleet_gate": "cpu<50"})
    wait = parse_settings({"fleet_gate": "cpu<50", "fleet_gate_mode": "wait"})
    dry = parse_settings({"fleet_gate": "cpu<50", "fleet_gate_mode": "wait", "fleet_dry_run": True})
    assert next_wait(build_plan(skip, plan_probes), skip) == []
    assert next_wait(build_plan(wait, plan_probes), wait) == ["a"]
    assert next_wait(build_plan(dry, plan_probes), dry) == []


def test_route_run_reprobes_only_the_next_stale_host() -> None:
    settings = parse_settings({"fleet_probe_ttl": 10})
    plan = build_plan(settings, probes(a=10, b=20, c=30))
    run = RouteRun(settings, plan, {"a": 0.0, "b": 0.0, "c": 95.0})
    assert run.stale_next(["b", "c"], now=100.0) == "b"  # a already started; b is next and 100 s old
    assert run.stale_next(["c"], now=100.0) is None  # c is next and fresh
    assert run.stale_next([], now=100.0) is None
    assert run.rank() == {"a": 0, "b": 1, "c": 2}


def test_plan_summary_lines() -> None:
    settings = parse_settings({"fleet_gate": "cpu<50"})
    plan = build_plan(settings, [*probes(a=80, b=10), Probe("c", error="unreachable: timed out")])
    assert plan_summary(plan) == [
        "  1 b selected score= 10.0 cpu=10% mem=1% load1=0/2cpu users=0",
        "  - a gated score= 80.0 cpu=80% mem=1% load1=0/2cpu users=0: cpu 80% >= 50%",
        "  - c unmeasurable score=    -: unreachable: timed out",
    ]


def test_a_compromised_host_is_unmeasurable_and_the_others_still_route() -> None:
    settings = parse_settings({"fleet_gate": "cpu<50"})
    hostile = {"changed": False, "metrics": {**metrics(), "cpu": "0; rm -rf /", "load1": [1]}}
    results = {"a": {"metrics": metrics(cpu=30, mem=1)}, "evil": hostile, "b": {"metrics": metrics(cpu=10, mem=1)}}
    plan = build_plan(settings, [probe_from_result(host, result) for host, result in results.items()])
    assert selected_hosts(plan) == ["b", "a"]
    assert verdicts(plan) == {
        "b": {"status": "selected", "reason": ""},
        "a": {"status": "selected", "reason": ""},
        "evil": {"status": "unmeasurable", "reason": "probe result rejected: load1 is '[1]', not a number"},
    }
    assert (
        plan_summary(plan)[-1]
        == "  - evil unmeasurable score=    -: probe result rejected: load1 is '[1]', not a number"
    )


def test_verdicts_join_the_reasons() -> None:
    settings = parse_settings({"fleet_gate": "cpu<50 and mem<20", "fleet_count": 1})
    plan = build_plan(settings, [*probes(a=80, b=10, c=20)])
    assert verdicts(plan) == {
        "b": {"status": "selected", "reason": ""},
        "c": {"status": "not_selected", "reason": "not among the 1 least loaded (rank 2 by score)"},
        "a": {"status": "gated", "reason": "cpu 80% >= 50%"},
    }


def test_default_probe_interval_is_half_a_second() -> None:
    assert RouteSettings().probe_interval == 0.4


def test_azure_monitor_metrics_score_and_show_with_what_they_carry() -> None:
    from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import plan_summary, score_host

    azure = {"cpu": 31.5, "source": "azure", "granularity": "PT1M", "age": 42.0}
    assert score_host(azure) == 31.5  # no memory or load from Azure Monitor: the CPU alone
    assert score_host({**azure, "mem": 60.0}) == 60.0
    assert score_host(azure, "load") == 31.5  # a term it lacks orders by CPU
    plan = {
        "hosts": [{"host": "web-1", "status": "selected", "order": 1, "score": 31.5, "metrics": azure, "reasons": []}]
    }
    assert plan_summary(plan) == ["  1 web-1 selected score= 31.5 cpu=31.5% (Azure Monitor, PT1M, 42s old)"]


@pytest.mark.parametrize(
    ("values", "total", "slots", "expected"),
    [
        pytest.param({}, 16, 16, True, id="a-slot-for-every-host"),
        pytest.param({"fleet_gate": "cpu<50"}, 8, 16, True, id="gated-but-uncontended"),
        pytest.param({}, 17, 16, False, id="more-hosts-than-slots"),
        pytest.param({"fleet_count": 3}, 8, 16, False, id="count-needs-the-whole-order"),
        pytest.param({"fleet_gate": "idle", "fleet_gate_mode": "wait"}, 8, 16, False, id="wait-mode"),
        pytest.param({"fleet_dry_run": True}, 8, 16, False, id="dry-run"),
    ],
)
def test_starts_on_arrival_only_when_the_order_cannot_matter(values, total, slots, expected) -> None:
    assert starts_on_arrival(parse_settings(values), total, slots) is expected


def test_arrivals_release_passing_hosts_and_plan_as_if_probed_at_once() -> None:
    settings = parse_settings({"fleet_gate": "cpu<50"})
    everyone = probes(a=40, b=80, c=10)
    everyone.append(Probe("d", error="cannot read /proc/stat"))
    arrivals = Arrivals(settings, ("a", "b", "c", "d"))
    released = {}
    for probe in reversed(everyone):  # they arrive in any order
        assert not arrivals.complete()
        released[probe.host] = arrivals.take(probe)
    assert arrivals.complete()
    assert released == {"a": True, "b": False, "c": True, "d": False}
    # the same plan the fleet-wide probe step builds from the same probes
    assert arrivals.plan() == build_plan(settings, everyone)


@given(st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 100), min_size=1), st.randoms())
def test_arrivals_release_exactly_the_hosts_the_plan_selects(cpus: dict[str, int], rnd) -> None:
    settings = parse_settings({"fleet_gate": "cpu<50"})
    fleet = [Probe(h, metrics=metrics(cpu=c)) for h, c in cpus.items()]
    arrivals = Arrivals(settings, tuple(cpus))
    order = list(fleet)
    rnd.shuffle(order)
    released = {p.host for p in order if arrivals.take(p)}
    assert released == set(selected_hosts(build_plan(settings, fleet)))
    assert arrivals.plan() == build_plan(settings, fleet)
