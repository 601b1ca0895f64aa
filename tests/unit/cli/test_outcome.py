"""Exit codes from the report's per-host statuses (DESIGN §3)."""

from __future__ import annotations

import pytest

from azlin_fleet_cli.outcome import ExitCode, exit_code_for, exit_code_for_report


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
        pytest.param(["failed", "unreachable"], ExitCode.FAILED, id="failed-beats-unreachable"),
        pytest.param(["ok", "unreachable"], ExitCode.UNREACHABLE, id="only-unreachable"),
        pytest.param(["unreachable"], ExitCode.UNREACHABLE, id="all-unreachable"),
        pytest.param(["gated", "gated"], ExitCode.NOTHING_RAN, id="everything-gated"),
        pytest.param(["gated", "unmeasurable", "not_selected"], ExitCode.NOTHING_RAN, id="nothing-ran"),
        pytest.param([], ExitCode.NOTHING_RAN, id="no-hosts"),
    ],
)
def test_exit_code_for(statuses: list[str], expected: ExitCode) -> None:
    assert exit_code_for(statuses) == expected


def _hosts(*entries: tuple[str, str, str]) -> list[dict[str, object]]:
    return [{"host": host, "status": status, "reasons": [reason] if reason else []} for host, status, reason in entries]


@pytest.mark.parametrize(
    ("hosts", "dry_run", "expected"),
    [
        pytest.param(
            _hosts(
                ("localhost", "failed", "judge: run failed on 1 host"), ("web-1", "ok", ""), ("web-2", "failed", "")
            ),
            False,
            ExitCode.FAILED,
            id="controller-judge-ignored-target-failed",
        ),
        pytest.param(
            _hosts(("localhost", "failed", "judge: unreachable"), ("web-1", "ok", ""), ("web-3", "unreachable", "")),
            False,
            ExitCode.UNREACHABLE,
            id="controller-failure-does-not-hide-exit-4",
        ),
        pytest.param(
            _hosts(("localhost", "failed", 'Check: Targets "pool_x" select no host. Check the pool')),
            False,
            ExitCode.NOTHING_RAN,
            id="no-host-matched",
        ),
        pytest.param(
            _hosts(("localhost", "failed", "Validate: Invalid fleet_timeout")),
            False,
            ExitCode.USAGE,
            id="refused-input",
        ),
        pytest.param(_hosts(("localhost", "ok", "")), True, ExitCode.OK, id="dry-run-plan-only"),
        pytest.param(_hosts(("localhost", "ok", "")), False, ExitCode.NOTHING_RAN, id="nothing-dispatched"),
        pytest.param(
            _hosts(("localhost", "ok", ""), ("web-1", "gated", "")), True, ExitCode.NOTHING_RAN, id="dry-all-gated"
        ),
    ],
)
def test_exit_code_for_report(hosts: list[dict[str, object]], dry_run: bool, expected: ExitCode) -> None:
    assert exit_code_for_report(hosts, dry_run=dry_run) == expected


def _error(host: str, status: str, reason: str, ignored: bool = False) -> dict[str, object]:
    return {"host": host, "task": "Validate", "play": "p", "path": "", "status": status, "reason": reason,
            "ignored": ignored}


@pytest.mark.parametrize(
    ("hosts", "errors", "dry_run", "expected"),
    [
        # the one validation task runs once on the controller for the first target host and is quiet in the report
        pytest.param([], [_error("web-1", "failed", "Invalid fleet_timeout")], False, ExitCode.USAGE, id="refused"),
        pytest.param([], [_error("web-1", "failed", "x", ignored=True)], False, ExitCode.NOTHING_RAN, id="ignored"),
        pytest.param([], [], True, ExitCode.OK, id="workflow-dry-run-no-rows"),
        pytest.param(_hosts(("web-1", "failed", "")), [_error("web-1", "failed", "judge")], False, ExitCode.FAILED,
                     id="host-failure-wins"),
    ],
)
def test_exit_code_for_report_with_quiet_task_errors(
    hosts: list[dict[str, object]], errors: list[dict[str, object]], dry_run: bool, expected: ExitCode
) -> None:
    assert exit_code_for_report(hosts, dry_run=dry_run, errors=errors) == expected
