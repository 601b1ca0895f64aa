"""main(): the one place mapping exceptions to 'azlin-fleet: ...' and exit codes; --help of every subcommand."""

from __future__ import annotations

from pathlib import Path

import pytest

from azlin_fleet_cli.main import main


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["run", "make", "--pool", "ci", "--bogus"], id="unknown-flag"),
        pytest.param(["run", "make", "--pool", "ci", "--if-cpu-below-fifty"], id="glued-bad-number"),
        pytest.param(["run", "make", "--pool", "ci", "--if-cpu-below", "50", "--if-mem-below", "x"], id="bad-mem"),
        pytest.param(["run", "make", "--pool", "ci", "--parallel", "-3"], id="negative-parallel"),
        pytest.param(["run", "make", "--pool", "ci", "--count", "0"], id="count-zero"),
        pytest.param(["run", "make"], id="no-selection"),
        pytest.param(["run", "make", "--all", "--tag", "env=dev"], id="all-plus-tag"),
        pytest.param(["workflow", "/nonexistent/deploy.yaml", "--all"], id="missing-workflow"),
        pytest.param(["report", "show", "/nonexistent/r.json"], id="missing-report"),
        pytest.param(["nosuch"], id="unknown-subcommand"),
        pytest.param([], id="no-subcommand"),
    ],
)
def test_bad_usage_is_one_message_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("azlin-fleet: ")
    assert "Traceback" not in captured.err


def test_invalid_workflow_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(
        "name: d\nsteps:\n  - name: a\n    command: x\n    requires: [ghost]\n  - name: a\n    command: y\n"
    )
    assert main(["workflow", str(path), "--all"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("azlin-fleet: Workflow ")
    assert "ghost" in err
    assert err.count("\n  - ") >= 2  # one line per problem, each with its location


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["--help"], "exit codes:", id="top"),
        pytest.param(["run", "--help"], "--if-cpu-below-N", id="run"),
        pytest.param(["workflow", "--help"], "azlin-fleet workflow deploy.yaml --tag env=staging", id="workflow"),
        pytest.param(["probe", "--help"], "--route-by", id="probe"),
        pytest.param(["report", "--help"], "{list,show,merge}", id="report"),
        pytest.param(["report", "show", "--help"], "REPORT.json", id="report-show"),
        pytest.param(["report", "merge", "--help"], "--report-dir", id="report-merge"),
        pytest.param(["sandbox", "--help"], "ACTION", id="sandbox"),
    ],
)
def test_help_of_each_subcommand(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert expected in out
    if argv[0] in ("--help", "run", "workflow", "probe"):
        assert "4  the only failures are unreachable hosts" in out


def test_report_show_rejects_a_non_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"hello": 1}')
    assert main(["report", "show", str(path)]) == 2
    assert "not an azlin.fleet.report file" in capsys.readouterr().err
