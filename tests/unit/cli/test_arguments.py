"""azlin-fleet's argv grammar: glued gate flags, optional numbers, '--' passthrough, usage errors."""

from __future__ import annotations

import re

import pytest

from azlin_fleet_cli.arguments import parse_args, split_argv
from azlin_fleet_cli.outcome import CliError, ExitCode


@pytest.mark.parametrize(
    ("argv", "expected_args", "expected_extra"),
    [
        pytest.param(
            ["run", "make", "--pool", "ci", "--if-cpu-below-50"],
            ["run", "make", "--pool", "ci", "--if-cpu-below", "50"],
            [],
            id="glued-cpu",
        ),
        pytest.param(["run", "x", "--if-mem-below-80"], ["run", "x", "--if-mem-below", "80"], [], id="glued-mem"),
        pytest.param(
            ["run", "x", "--if-load-below-0.7"], ["run", "x", "--if-load-below", "0.7"], [], id="glued-load-float"
        ),
        pytest.param(["run", "x", "--retry-failed"], ["run", "x", "--retry-failed=1"], [], id="bare-retry-at-end"),
        pytest.param(
            ["run", "--retry-failed", "3", "x"], ["run", "--retry-failed", "3", "x"], [], id="retry-with-number"
        ),
        pytest.param(
            ["run", "--retry-failed", "npm test"],
            ["run", "--retry-failed=1", "npm test"],
            [],
            id="retry-before-command",
        ),
        pytest.param(
            ["run", "x", "--sequence", "--all"], ["run", "x", "--sequence=1", "--all"], [], id="bare-sequence"
        ),
        pytest.param(
            ["run", "x", "--all", "--", "--check", "-e", "a=1"],
            ["run", "x", "--all"],
            ["--check", "-e", "a=1"],
            id="passthrough",
        ),
        pytest.param(
            ["run", "x", "--", "--if-cpu-below-5"], ["run", "x"], ["--if-cpu-below-5"], id="no-rewrite-after-dashdash"
        ),
        pytest.param(["sandbox", "load", "--", "x"], ["sandbox", "load", "--", "x"], [], id="sandbox-keeps-dashdash"),
    ],
)
def test_split_argv(argv: list[str], expected_args: list[str], expected_extra: list[str]) -> None:
    assert split_argv(argv) == (expected_args, expected_extra)


def test_reference_command_parses_with_defaults() -> None:
    args, extra = parse_args(["run", "npm test", "--pool", "web-servers", "--parallel", "5", "--retry-failed"])
    assert (args.command, args.pool, args.parallel, args.retry_failed, args.sequence) == (
        "npm test",
        ["web-servers"],
        "5",
        1,
        None,
    )
    assert extra == []


def test_glued_flag_equals_spaced_flag() -> None:
    glued, _ = parse_args(["run", "make", "--pool", "ci", "--if-cpu-below-50"])
    spaced, _ = parse_args(["run", "make", "--pool", "ci", "--if-cpu-below", "50"])
    assert glued == spaced
    assert glued.if_cpu_below == "50"


def test_repeated_tags_are_pairs() -> None:
    args, _ = parse_args(["run", "x", "--tag", "env=dev", "--tag", "role=web=1"])
    assert args.tag == [("env", "dev"), ("role", "web=1")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["run", "x", "--bogus"], "unrecognized arguments: --bogus", id="unknown-flag"),
        pytest.param(
            ["run", "x", "--count", "0"], "argument --count: expected a whole number >= 1, got '0'", id="count-zero"
        ),
        pytest.param(["run", "x", "--count", "two"], "argument --count: expected a whole number >= 1", id="count-text"),
        pytest.param(["run", "x", "--tag", "env"], "argument --tag: expected KEY=VALUE, got 'env'", id="tag-no-equals"),
        pytest.param(
            ["run", "x", "--health-port", "70000"], "argument --health-port: expected a TCP port", id="port-range"
        ),
        pytest.param(["run", "x", "--route-by", "disk"], "argument --route-by: invalid choice: 'disk'", id="route-by"),
        pytest.param(["run", "x", "--format", "xml"], "argument --format: invalid choice: 'xml'", id="format"),
        pytest.param(["run", "x", "--gate-mode", "maybe"], "argument --gate-mode: invalid choice", id="gate-mode"),
        pytest.param(["run", "x", "--if-cpu"], "unrecognized arguments: --if-cpu", id="no-abbreviation"),
        pytest.param(["run"], "the following arguments are required: COMMAND", id="missing-command"),
        pytest.param(
            ["deploy"],
            "argument {run,workflow,probe,report,sandbox}: invalid choice: 'deploy'",
            id="unknown-subcommand",
        ),
        pytest.param(["report"], "the following arguments are required: {list,show,merge}", id="report-needs-action"),
    ],
)
def test_usage_errors_are_one_message_with_exit_2(argv: list[str], message: str) -> None:
    with pytest.raises(CliError, match="^" + re.escape(message)) as caught:
        parse_args(argv)
    assert caught.value.code == ExitCode.USAGE
    assert "\n" not in caught.value.message
    assert caught.value.message.endswith("--help'.")


def test_sandbox_arguments_are_passed_through() -> None:
    args, extra = parse_args(["sandbox", "load", "web-1", "--cpu", "80"])
    assert (args.action, args.args, extra) == ("load", ["web-1", "--cpu", "80"], [])
