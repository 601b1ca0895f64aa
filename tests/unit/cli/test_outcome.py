"""Exit codes from the report's per-host statuses (DESIGN §3)."""

from __future__ import annotations

import pytest

from azlin_fleet_cli.outcome import ExitCode, exit_code_for


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
