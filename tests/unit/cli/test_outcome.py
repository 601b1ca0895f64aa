"""Exit codes from report data only (DESIGN §3, docs/dev/CONTRACTS.md "The fleet pipeline"): hand-written reports."""

from __future__ import annotations

from typing import Any

import pytest

from azlin_fleet_cli.outcome import EXIT_CODES_HELP, ExitCode, decide_exit, exit_code_for, has_drift


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param(["ok", "changed", "ok"], ExitCode.OK, id="all-ok"),
        pytest.param(["ok", "gated", "unmeasurable"], ExitCode.OK, id="some-gated-rest-ok"),
        pytest.param(["selected", "gated"], ExitCode.OK, id="dry-run-with-selection"),
        pytest.param(["ok", "failed"], ExitCode.FAILED, id="one-failed"),
        pytest.param(["ok", "timeout"], ExitCode.FAILED, id="timeout-is-failure"),
        pytest.param(["failed", "not_started", "ok"], ExitCode.FAILED, id="stopped-rollout"),
        pytest.param(["ok", "blocked"], ExitCode.FAILED, id="blocked-step"),
        pytest.param(["ok", "interrupted"], ExitCode.FAILED, id="interrupted-host"),
        pytest.param(["failed", "unreachable"], ExitCode.FAILED, id="failed-beats-unreachable"),
        pytest.param(["ok", "unreachable"], ExitCode.UNREACHABLE, id="only-unreachable"),
        pytest.param(["unreachable", "gated"], ExitCode.UNREACHABLE, id="unreachable-and-gated"),
        pytest.param(["gated", "gated"], ExitCode.NOTHING_RAN, id="everything-gated"),
        pytest.param(["gated", "unmeasurable", "not_selected"], ExitCode.NOTHING_RAN, id="nothing-ran"),
        pytest.param(["unmeasurable"], ExitCode.NOTHING_RAN, id="only-unmeasurable"),
        pytest.param([], ExitCode.NOTHING_RAN, id="no-hosts"),
    ],
)
def test_exit_code_for(statuses: list[str], expected: ExitCode) -> None:
    assert exit_code_for(statuses) == expected


def _report(*hosts: tuple[str, str], run: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "format": "azlin.fleet.report",
        "version": 2,
        "interrupted": None,
        "hosts": [{"host": host, "status": status, "reasons": []} for host, status in hosts],
        "errors": [],
    }
    if run is not None:
        report["run"] = {"status": "complete", "internal_errors": [], "refused": [], "nothing_selected": None} | run
    report.update(top)
    return report


COMPLETE: dict[str, Any] = {}
LOCALHOST_NAMED_TARGET = ("localhost", "failed")  # a real target host may be called localhost: no special case


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        pytest.param(_report(("web-1", "ok"), ("web-2", "changed"), run=COMPLETE), ExitCode.OK, id="ok"),
        pytest.param(_report(("web-1", "ok"), ("web-2", "failed"), run=COMPLETE), ExitCode.FAILED, id="failed"),
        pytest.param(_report(("web-1", "ok"), ("web-2", "unreachable"), run=COMPLETE), ExitCode.UNREACHABLE, id="unr"),
        pytest.param(_report(LOCALHOST_NAMED_TARGET, run=COMPLETE), ExitCode.FAILED, id="target-named-localhost"),
        pytest.param(
            _report(run={"refused": ["fleet_timeout: must be a whole number >= 1, got 'x'"]}),
            ExitCode.USAGE,
            id="refused",
        ),
        pytest.param(
            _report(("web-1", "failed"), run={"refused": ["workflow line 3: unknown key 'comand'"]}),
            ExitCode.USAGE,
            id="refused-wins-over-host-rows",
        ),
        pytest.param(
            _report(
                ("web-1", "interrupted"),
                ("web-2", "not_started"),
                run={"status": "interrupted"},
                interrupted="SIGTERM",
            ),
            ExitCode.SIGTERM,
            id="interrupted-sigterm",
        ),
        pytest.param(
            _report(("web-1", "interrupted"), run={"status": "interrupted"}, interrupted="SIGINT"),
            ExitCode.SIGINT,
            id="interrupted-sigint",
        ),
        pytest.param(
            _report(
                ("web-1", "ok"),
                ("web-2", "ok"),
                run={
                    "status": "incomplete",
                    "internal_errors": [{"host": "web-3", "task": "route", "error": "probe result: cpu 'x'"}],
                },
            ),
            ExitCode.INCOMPLETE,
            id="internal-error-never-0",
        ),
        pytest.param(
            _report(run={"nothing_selected": {"targets": "pool_x", "reason": "no host matched"}}),
            ExitCode.NOTHING_RAN,
            id="nothing-selected",
        ),
        pytest.param(
            _report(("web-1", "gated"), ("web-2", "unmeasurable"), ("web-3", "not_selected"), run=COMPLETE),
            ExitCode.NOTHING_RAN,
            id="all-gated-unmeasurable-not-selected",
        ),
        pytest.param(_report(("web-1", "unmeasurable"), ("web-2", "ok"), run=COMPLETE), ExitCode.OK, id="unmeas-ok"),
        pytest.param(_report(("web-1", "selected"), ("web-2", "gated"), run=COMPLETE), ExitCode.OK, id="dry-run"),
        # no run object (an older callback): host statuses and the failures of internal tasks only
        pytest.param(_report(("web-1", "ok"), ("web-2", "failed")), ExitCode.FAILED, id="old-failed"),
        pytest.param(_report(("web-1", "gated")), ExitCode.NOTHING_RAN, id="old-gated"),
        pytest.param(_report(("web-1", "ok"), interrupted="SIGTERM"), ExitCode.SIGTERM, id="old-interrupted"),
        pytest.param(
            _report(errors=[{"host": "web-1", "task": "Plan", "status": "failed", "reason": "bad", "ignored": False}]),
            ExitCode.USAGE,
            id="old-refused",
        ),
        pytest.param(
            _report(errors=[{"host": "web-1", "task": "Plan", "status": "failed", "reason": "x", "ignored": True}]),
            ExitCode.NOTHING_RAN,
            id="old-ignored-error",
        ),
    ],
)
def test_decide_exit(report: dict[str, Any], expected: ExitCode) -> None:
    assert decide_exit(report).code == expected


def test_the_signal_the_cli_received_decides_130_or_143() -> None:
    report = _report(("web-1", "interrupted"), run={"status": "interrupted"}, interrupted="SIGINT")
    assert decide_exit(report, signal_name="SIGTERM").code == ExitCode.SIGTERM == 143
    assert decide_exit(_report(("web-1", "ok"), run=COMPLETE), signal_name="SIGINT").code == ExitCode.SIGINT == 130


def test_refused_lines_and_internal_errors_are_named() -> None:
    refused = decide_exit(_report(run={"refused": ["step 'b' line 7: requires unknown step 'x'", "cycle a -> b"]}))
    assert refused.messages[1:] == ("step 'b' line 7: requires unknown step 'x'", "cycle a -> b")
    errors = [
        {"host": "web-3", "task": "route", "error": "probe result has cpu 'x'"},
        {"host": "web-1", "task": "judge", "error": "KeyError: 'states'"},
    ]
    verdict = decide_exit(_report(("web-1", "ok"), run={"status": "incomplete", "internal_errors": errors}))
    assert verdict.code == 5
    assert "2 internal error(s)" in verdict.messages[0]
    assert "host 'web-3'" in verdict.messages[1] and "probe result has cpu 'x'" in verdict.messages[1]
    assert "task 'judge'" in verdict.messages[2] and "KeyError" in verdict.messages[2]


def test_nothing_selected_names_the_targets_and_reason() -> None:
    verdict = decide_exit(_report(run={"nothing_selected": {"targets": "pool_nope", "reason": "no host matched"}}))
    assert verdict.messages == ("nothing selected by 'pool_nope': no host matched",)


def _drift(*changed: str) -> dict[str, Any]:
    tasks = [
        {"name": "Run the command", "play": "run", "kind": "task", "appeared": [], "disappeared": [],
         "changed": [{"host": host, "before": "ok", "after": "ok"} for host in changed]}
    ] if changed else []  # fmt: skip
    return {"compared_to": "fleet-run-1", "compared_started": None, "tasks_compared": 1, "tasks_only_before": [],
            "tasks_only_after": [], "hosts": list(changed), "tasks": tasks, "warnings": []}  # fmt: skip


DRIFT = _drift("web-2")
NO_DRIFT = _drift()


@pytest.mark.parametrize(
    ("report", "fail_on_drift", "expected"),
    [
        pytest.param(_report(("web-1", "ok"), run=COMPLETE, drift=DRIFT), True, ExitCode.DRIFT, id="drift"),
        pytest.param(_report(("web-1", "ok"), run=COMPLETE, drift=DRIFT), False, ExitCode.OK, id="not-asked"),
        pytest.param(_report(("web-1", "ok"), run=COMPLETE, drift=NO_DRIFT), True, ExitCode.OK, id="no-change"),
        pytest.param(_report(("web-1", "failed"), run=COMPLETE, drift=DRIFT), True, ExitCode.FAILED, id="fail-wins"),
        pytest.param(_report(("web-1", "ok"), run=COMPLETE), True, ExitCode.OK, id="no-drift-section"),
    ],
)
def test_fail_on_drift(report: dict[str, Any], fail_on_drift: bool, expected: ExitCode) -> None:
    assert decide_exit(report, fail_on_drift=fail_on_drift).code == expected


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        pytest.param(_drift("web-2", "web-3"), True, id="hosts-drifted"),
        pytest.param(_drift(), False, id="no-host-drifted"),
        pytest.param({"tasks": [{"name": "t", "disappeared": [{"host": "web-4"}]}]}, True, id="no-hosts-key"),
        pytest.param({"tasks": []}, False, id="empty"),
        pytest.param(None, False, id="absent"),
    ],
)
def test_has_drift(drift: Any, expected: bool) -> None:
    assert has_drift({"drift": drift}) is expected


def test_every_exit_code_is_documented_in_help() -> None:
    documented = {int(line.split()[0]) for line in EXIT_CODES_HELP.splitlines()[1:] if line.split()[0].isdigit()}
    assert documented == {int(code) for code in ExitCode}
