"""Flags -> extra vars of azlin.fleet.run / workflow / probe, validated by the collection's own parsers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from azlin_fleet_cli.arguments import parse_args
from azlin_fleet_cli.extravars import (
    build_gate,
    build_probe_vars,
    build_run_vars,
    build_targets,
    build_workflow_vars,
    glob_pattern,
)
from azlin_fleet_cli.outcome import CliError, ExitCode


def _run_vars(*argv: str) -> dict[str, object]:
    args, _ = parse_args(["run", *argv])
    return build_run_vars(args)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param(["--pool", "web-servers"], "pool_web_servers", id="pool-sanitized"),
        pytest.param(["--tag", "env=dev"], "tag_env_dev", id="tag"),
        pytest.param(["--tag", "env=dev", "--tag", "team=a.b"], "tag_env_dev:&tag_team_a_b", id="tags-and"),
        pytest.param(["--pool", "ci", "--tag", "env=dev"], "pool_ci:&tag_env_dev", id="pool-and-tag"),
        pytest.param(["--pattern", "web-*"], "web-*", id="glob"),
        pytest.param(
            ["--pool", "web-servers", "--pattern", "web-[12]"], r"pool_web_servers:&~web\-[12]$", id="pool-and-glob"
        ),
        pytest.param(["--resource-group", "rg-Fleet"], "rg_rg_fleet", id="resource-group-lower-cased"),
        pytest.param(["--tag", "Team=Web Ops"], "tag_Team_Web_Ops", id="tag-keeps-case"),
        pytest.param(["--tag", "canary="], "tag_canary", id="tag-empty-value"),
        pytest.param(["--all"], "all", id="all"),
        pytest.param([], None, id="nothing"),
    ],
)
def test_targets(flags: list[str], expected: str | None) -> None:
    args, _ = parse_args(["run", "x", *flags])
    assert build_targets(args) == expected


def test_all_with_other_selection_is_usage_error() -> None:
    args, _ = parse_args(["run", "x", "--all", "--pool", "ci"])
    with pytest.raises(CliError, match="--all cannot be combined") as caught:
        build_targets(args)
    assert caught.value.code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("glob", "expected", "matches", "misses"),
    [
        pytest.param("web-*", "web-*", [], [], id="plain-glob-is-ansibles-fnmatch"),
        # Ansible would read web-[12] as element 12 of group 'web-': character classes become an anchored regex.
        pytest.param("web-[12]", r"~web\-[12]$", ["web-1", "web-2"], ["web-3", "web-12", "web-1x"], id="class"),
        pytest.param("ci-[!1]*", r"~ci\-[^1].*$", ["ci-2", "ci-20"], ["ci-1", "ci-10"], id="negated-class"),
        pytest.param("a.b?[0-9]", r"~a\.b.[0-9]$", ["a.bx7"], ["aXbx7", "a.b7"], id="dot-escaped"),
    ],
)
def test_glob_pattern(glob: str, expected: str, matches: list[str], misses: list[str]) -> None:
    pattern = glob_pattern(glob)
    assert pattern == expected
    if pattern.startswith("~"):  # Ansible matches '~' patterns with re.match
        assert [name for name in matches + misses if re.match(pattern[1:], name)] == matches


@pytest.mark.parametrize("glob", ["web-1:db-1", "web-1,db-1", "!web-1", "&web", "~web.*", ""])
def test_pattern_with_pattern_syntax_is_refused(glob: str) -> None:
    with pytest.raises(CliError, match="is not a VM name glob") as caught:
        glob_pattern(glob)
    assert caught.value.code == ExitCode.USAGE


def test_no_selection_is_usage_error() -> None:
    with pytest.raises(CliError, match="no hosts selected: give --pool") as caught:
        _run_vars("uptime")
    assert caught.value.code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param(["--if-idle"], "idle", id="idle"),
        pytest.param(["--if-cpu-below-50"], "cpu<50", id="glued"),
        pytest.param(["--if-cpu-below", "50", "--if-mem-below", "80"], "cpu<50 and mem<80", id="and-not-first-wins"),
        pytest.param(
            ["--if-load-below-0.7", "--if-idle", "--if-mem-below-80"], "idle and mem<80 and load<0.7", id="all-flags"
        ),
        pytest.param([], None, id="no-gate"),
    ],
)
def test_gate_expression(flags: list[str], expected: str | None) -> None:
    args, _ = parse_args(["run", "x", "--all", *flags])
    assert build_gate(args) == expected


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(["--if-cpu-below", "abc"], "Invalid gate 'cpu<abc'", id="not-a-number"),
        pytest.param(["--if-cpu-below-abc"], "Invalid gate 'cpu<abc'", id="glued-not-a-number"),
        pytest.param(["--if-cpu-below", "150"], "Invalid gate 'cpu<150'", id="over-100"),
        pytest.param(["--parallel", "0"], "Invalid --parallel '0'", id="parallel-zero"),
        pytest.param(["--parallel", "many"], "Invalid --parallel 'many'", id="parallel-text"),
        pytest.param(["--parallel", "150%"], "Invalid --parallel '150%'", id="parallel-percent"),
        pytest.param(["--max-failures", "5x"], "Invalid --max-failures '5x'", id="max-failures"),
    ],
)
def test_bad_values_raise_the_collections_error(flags: list[str], message: str) -> None:
    # FleetUsageError from plugin_utils: main() prints it as one line with exit code 2.
    with pytest.raises(Exception, match=message.replace("(", r"\(")) as caught:
        _run_vars("x", "--all", *flags)
    assert type(caught.value).__name__ == "FleetUsageError"


def test_reference_command_npm_test() -> None:
    assert _run_vars("npm test", "--pool", "web-servers", "--parallel", "5", "--retry-failed") == {
        "fleet_command": "npm test",
        "fleet_targets": "pool_web_servers",
        "fleet_parallel": "5",
        "fleet_retries": 1,
    }


def test_reference_command_rolling_deploy() -> None:
    assert _run_vars("deploy.sh", "--pool", "staging", "--sequence", "--wait-for-health") == {
        "fleet_command": "deploy.sh",
        "fleet_targets": "pool_staging",
        "fleet_sequence": 1,
        "fleet_health_cmd": "/bin/true",  # --wait-for-health alone: the host must still run a command
    }


def test_reference_command_idle_dry_run() -> None:
    assert _run_vars("git pull && npm install", "--tag", "env=dev", "--if-idle", "--dry-run") == {
        "fleet_command": "git pull && npm install",
        "fleet_targets": "tag_env_dev",
        "fleet_gate": "idle",
        "fleet_dry_run": True,
    }


def test_every_run_flag() -> None:
    found = _run_vars(
        "make",
        "--pool",
        "ci",
        "--parallel",
        "50%",
        "--retry-failed",
        "2",
        "--max-failures",
        "10%",
        "--sequence",
        "2",
        "--wait-for-health",
        "--health-url",
        "http://localhost:8080/health",
        "--timeout",
        "30",
        "--if-cpu-below-50",
        "--gate-mode",
        "wait",
        "--gate-timeout",
        "60",
        "--route-by",
        "mem",
        "--count",
        "3",
    )
    assert found == {
        "fleet_command": "make",
        "fleet_targets": "pool_ci",
        "fleet_parallel": "50%",
        "fleet_max_failures": "10%",
        "fleet_retries": 2,
        "fleet_sequence": 2,
        "fleet_health_url": "http://localhost:8080/health",
        "fleet_timeout": 30,
        "fleet_gate": "cpu<50",
        "fleet_gate_mode": "wait",
        "fleet_gate_timeout": 60,
        "fleet_smart_route": True,
        "fleet_route_by": "mem",
        "fleet_count": 3,
    }


def test_two_health_checks_are_refused_by_the_run_schema() -> None:
    with pytest.raises(Exception, match="'health' needs exactly one of command, url or port") as caught:
        _run_vars("x", "--all", "--wait-for-health", "--health-port", "80", "--health-cmd", "true")
    assert type(caught.value).__name__ == "FleetValidationError"


def test_health_check_without_wait_for_health_is_refused() -> None:
    with pytest.raises(CliError, match="--health-url given without --wait-for-health"):
        _run_vars("x", "--all", "--health-url", "http://h/")


def test_empty_command_is_refused() -> None:
    with pytest.raises(CliError, match="COMMAND is empty"):
        _run_vars("  ", "--all")


def test_probe_vars() -> None:
    args, _ = parse_args(["probe", "--pool", "web-servers", "--if-idle", "--route-by", "cpu"])
    assert build_probe_vars(args) == {
        "fleet_targets": "pool_web_servers",
        "fleet_gate": "idle",
        "fleet_smart_route": True,
        "fleet_route_by": "cpu",
    }


def test_workflow_vars_and_default_targets(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(
        "name: deploy\nsteps:\n  - name: build\n    command: make\n  - name: test\n    command: make test\n"
        "    requires: [build]\n"
    )
    args, _ = parse_args(["workflow", str(path), "--tag", "env=staging"])
    assert build_workflow_vars(args) == {"fleet_workflow_file": str(path), "fleet_targets": "tag_env_staging"}
    args, _ = parse_args(["workflow", str(path), "--dry-run"])
    assert build_workflow_vars(args) == {"fleet_workflow_file": str(path), "fleet_dry_run": True}


def test_invalid_workflow_reports_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nsteps:\n  - name: a\n    command: x\n    requires: [b]\n  - name: b\n    command: y\n"
        "    requires: [a]\n  - name: c\n    command: z\n    requires: [nope]\n"
    )
    args, _ = parse_args(["workflow", str(path), "--all"])
    with pytest.raises(Exception) as caught:
        build_workflow_vars(args)
    assert type(caught.value).__name__ == "FleetValidationError"
    assert len(caught.value.problems) >= 2  # type: ignore[attr-defined]


def test_missing_workflow_file(tmp_path: Path) -> None:
    args, _ = parse_args(["workflow", str(tmp_path / "nope.yaml"), "--all"])
    with pytest.raises(CliError, match="workflow file '.*nope.yaml' not found"):
        build_workflow_vars(args)


RUN_FLAGS = (
    "--parallel", "50%", "--retry-failed", "2", "--max-failures", "10%", "--timeout", "30",
    "--if-idle", "--if-cpu-below-50", "--smart-route", "--count", "2", "--dry-run",
)  # fmt: skip


def test_workflow_takes_the_runs_flags_as_the_same_vars(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text("name: deploy\nsteps:\n  - name: build\n    command: make\n")
    args, _ = parse_args(["workflow", str(path), "--tag", "env=dev", *RUN_FLAGS])
    found = build_workflow_vars(args)
    shared = _run_vars("make", "--tag", "env=dev", *RUN_FLAGS)
    assert found == {"fleet_workflow_file": str(path)} | {k: v for k, v in shared.items() if k != "fleet_command"}
    assert found["fleet_gate"] == "idle and cpu<50"
    assert (found["fleet_count"], found["fleet_smart_route"], found["fleet_dry_run"]) == (2, True, True)
    assert (found["fleet_parallel"], found["fleet_retries"], found["fleet_max_failures"]) == ("50%", 2, "10%")
    assert found["fleet_timeout"] == 30 and found["fleet_targets"] == "tag_env_dev"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(["--parallel", "0"], "--parallel", id="parallel"),
        pytest.param(["--max-failures", "x"], "--max-failures", id="max-failures"),
        pytest.param(["--if-cpu-below", "abc"], "cpu<abc", id="gate"),
    ],
)
def test_workflow_flags_are_checked_like_runs(tmp_path: Path, flags: list[str], message: str) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text("name: deploy\nsteps:\n  - name: build\n    command: make\n")
    args, _ = parse_args(["workflow", str(path), "--all", *flags])
    with pytest.raises(Exception, match=re.escape(message)):
        build_workflow_vars(args)
