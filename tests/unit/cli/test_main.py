"""main(): the one place mapping exceptions to 'azlin-fleet: ...' and exit codes; --help of every subcommand."""

from __future__ import annotations

from pathlib import Path

import pytest

from azlin_fleet_cli.main import main, masked_extra_vars


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


def test_malformed_yaml_inventory_names_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    web-1: {ansible_host: 10.0.0.1\n    web-2:\n")
    assert main(["run", "uptime", "--all", "-i", str(inventory), "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"azlin-fleet: inventory {str(inventory)!r} is not valid YAML: ")
    assert "line 4, column 10" in err  # the ':' after web-2, where a ',' or '}' was due


@pytest.mark.parametrize("fault", ["file", "under-file", "others-writable"])
def test_report_dir_faults_stop_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    web-1:\n")
    target = tmp_path / "reports"
    if fault == "file":
        target.write_text("x")
    elif fault == "under-file":
        (tmp_path / "plain").write_text("x")
        target = tmp_path / "plain" / "reports"
    else:
        target.mkdir()
        target.chmod(0o757)
    # If anything tried to start ansible-playbook, this would fail the test loudly.
    monkeypatch.setattr("azlin_fleet_cli.playbook.ansible_playbook_path", lambda: pytest.fail("ansible started"))
    assert main(["run", "uptime", "--all", "-i", str(inventory), "--report-dir", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"azlin-fleet: report dir {str(target)!r} ")
    assert len(err.splitlines()) == 1


def test_verbose_echo_masks_secrets() -> None:
    shown = masked_extra_vars(
        {
            "fleet_command": "DB_PASSWORD=hunter2 ./deploy.sh",
            "fleet_targets": "pool_web",
            "fleet_environment": {"API_TOKEN": "s3cr3t", "PATH": "/usr/bin", "AZURE_CLIENT_SECRET": "x"},
            "fleet_count": 2,
        }
    )
    assert shown == {
        "fleet_command": "DB_PASSWORD=******** ./deploy.sh",
        "fleet_targets": "pool_web",
        "fleet_environment": {"API_TOKEN": "********", "PATH": "/usr/bin", "AZURE_CLIENT_SECRET": "********"},
        "fleet_count": 2,
    }


def test_a_report_name_from_the_environment_must_be_a_plain_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    web-1:\n")
    monkeypatch.setenv("AZLIN_FLEET_REPORT_NAME", "../../etc/x")
    assert main(["run", "uptime", "--all", "-i", str(inventory), "--report-dir", str(tmp_path / "r")]) == 2
    assert "is not a plain file name" in capsys.readouterr().err


def test_report_show_last_of_an_empty_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "show", "last", "--report-dir", str(tmp_path)]) == 2
    assert "no report in" in capsys.readouterr().err
