"""The azlin-fleet command line grammar: argparse only, no decisions (those come from plugin_utils)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import NoReturn

from azlin_fleet_cli import __version__
from azlin_fleet_cli.outcome import EXIT_CODES_HELP, CliError, ExitCode

PROG = "azlin-fleet"
REPORT_DIR_HELP = (
    "where report files go (default: $AZLIN_FLEET_REPORT_DIR, else report_dir of the config file, "
    "else $XDG_STATE_HOME/azlin-fleet/reports, i.e. ~/.local/state/azlin-fleet/reports; created 0700)"
)

# `azlin fleet run make --if-cpu-below-50`: the user's documented form glues the number to the flag.
# The glued value is checked by the gate grammar like any other (--if-cpu-below-abc -> "Invalid gate 'cpu<abc'").
_GLUED_GATE_FLAG = re.compile(r"^--if-(cpu|mem|load)-below-(.+)$")
# Flags whose value is optional: a following token is their value only if it is a number, so
# `--retry-failed "npm test"` keeps "npm test" as the command.
_OPTIONAL_NUMBER_FLAGS = {"--retry-failed": "1", "--sequence": "1"}
_PASSTHROUGH_SUBCOMMANDS = {"run", "workflow", "probe"}


class CliArgumentParser(argparse.ArgumentParser):
    """ArgumentParser whose errors become one ``azlin-fleet: ...`` line and exit code 2 (via CliError)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `--if-cpu` must not silently mean `--if-cpu-below`
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        raise CliError(ExitCode.USAGE, f"{message}. See '{self.prog} --help'.")


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split off everything after ``--`` (for ansible-playbook) and expand the glued flag forms."""
    args = list(argv)
    extra: list[str] = []
    if args and args[0] in _PASSTHROUGH_SUBCOMMANDS and "--" in args:
        cut = args.index("--")
        args, extra = args[:cut], args[cut + 1 :]
    expanded: list[str] = []
    for index, token in enumerate(args):
        glued = _GLUED_GATE_FLAG.match(token)
        if glued:
            expanded += [f"--if-{glued.group(1)}-below", glued.group(2)]
        elif token in _OPTIONAL_NUMBER_FLAGS and not _is_number(args[index + 1] if index + 1 < len(args) else ""):
            expanded.append(f"{token}={_OPTIONAL_NUMBER_FLAGS[token]}")
        else:
            expanded.append(token)
    return expanded, extra


def _is_number(token: str) -> bool:
    return token.isdigit()


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 1-65535, got {text!r}")
    return int(text)


def _tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _add_selection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("host selection (combined with AND)")
    group.add_argument(
        "--pool", action="append", default=[], metavar="NAME", help="hosts in pool NAME (group pool_NAME)"
    )
    group.add_argument(
        "--tag",
        action="append",
        default=[],
        type=_tag,
        metavar="K=V",
        help="hosts tagged K=V (repeatable; all must match)",
    )
    group.add_argument(
        "--pattern", action="append", default=[], metavar="GLOB", help="hosts whose VM name matches GLOB"
    )
    group.add_argument("--resource-group", action="append", default=[], metavar="RG", help="hosts in resource group RG")
    group.add_argument("--all", action="store_true", help="every running VM of the inventory")
    group.add_argument(
        "-i",
        "--inventory",
        action="append",
        default=[],
        metavar="PATH",
        help="inventory source (default: user config file, else the running sandbox)",
    )


def _add_gates(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("gates (run only where the condition holds now; several combine with AND)")
    group.add_argument("--if-idle", action="store_true", help="cpu and load low and no interactive user active")
    group.add_argument("--if-cpu-below", metavar="N", help="CPU utilisation below N%% (also --if-cpu-below-N)")
    group.add_argument("--if-mem-below", metavar="N", help="memory used below N%% (also --if-mem-below-N)")
    group.add_argument("--if-load-below", metavar="X", help="1-minute load per CPU below X (also --if-load-below-X)")
    group.add_argument("--gate-mode", choices=["skip", "wait"], help="skip gated hosts (default) or wait for them")
    group.add_argument("--gate-timeout", type=_positive_int, metavar="SECONDS", help="how long --gate-mode wait waits")


def _add_routing(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("routing")
    group.add_argument("--smart-route", action="store_true", help="dispatch least-loaded hosts first")
    group.add_argument(
        "--route-by", choices=["cpu", "mem", "load", "score"], help="what 'least loaded' means (default: score)"
    )
    group.add_argument(
        "--count", type=_positive_int, metavar="N", help="run on only the N least-loaded hosts that pass the gates"
    )
    group.add_argument(
        "--probe-source",
        choices=["ssh", "azure", "auto"],
        help="where gates and routing read load: ssh (default, /proc on each host), azure (CPU from Azure Monitor, "
        "no SSH; load and users gates need ssh), auto (azure when every host is an Azure VM and the gate allows)",
    )


def _add_output(parser: argparse.ArgumentParser, *, dry_run: bool = True) -> None:
    group = parser.add_argument_group("output")
    if dry_run:
        group.add_argument("--dry-run", action="store_true", help="show hosts, order and gate verdicts; run nothing")
    group.add_argument("--report-dir", metavar="DIR", help=REPORT_DIR_HELP)
    group.add_argument(
        "--format",
        choices=["text", "json", "md", "html"],
        default="text",
        help="what to print on stdout: the grouped text report (default) or only the JSON / Markdown / HTML report",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="print the exact ansible-playbook command; -vv also its output",
    )
    group.add_argument(
        "--diff",
        "--full",
        dest="full",
        action="store_true",
        help="print every group and every diff line (default: the largest groups, capped)",
    )


def _add_execution(parser: argparse.ArgumentParser) -> None:
    rollout = parser.add_argument_group("execution")
    rollout.add_argument("--parallel", metavar="N|N%", help="at most N (or N%% of the selected) hosts at once")
    rollout.add_argument(
        "--retry-failed",
        nargs="?",
        const=1,
        type=_non_negative_int,
        metavar="N",
        help="retry failed and unreachable hosts N times (default 1)",
    )
    rollout.add_argument("--max-failures", metavar="N|N%", help="start no further host once more than N hosts failed")
    rollout.add_argument(
        "--sequence",
        nargs="?",
        const=1,
        type=_positive_int,
        metavar="N",
        help="roll out one host (or N hosts) at a time",
    )
    rollout.add_argument(
        "--wait-for-health", action="store_true", help="a host must pass its health check before the next starts"
    )
    azure = parser.add_argument_group("Azure VMs")
    azure.add_argument(
        "--wake",
        action="store_true",
        help="start the selected VMs that are deallocated or stopped for the run, then return them to that state "
        "(the inventory must list them: power_states)",
    )
    azure.add_argument("--keep-awake", action="store_true", help="with --wake: leave the woken VMs running")
    azure.add_argument(
        "--wake-timeout", type=_positive_int, metavar="SECONDS", help="with --wake: how long a woken VM may take to "
        "answer over SSH (300)"
    )
    rollout.add_argument("--health-cmd", metavar="CMD", help="health check: command exits 0 on the host")
    rollout.add_argument("--health-url", metavar="URL", help="health check: URL answers with HTTP 2xx")
    rollout.add_argument("--health-port", type=_port, metavar="PORT", help="health check: TCP port accepts connections")
    rollout.add_argument(
        "--timeout", type=_positive_int, metavar="SECONDS", help="kill the command on a host after SECONDS"
    )


def _add_fleet_flags(parser: argparse.ArgumentParser) -> None:
    """The flags ``run`` and ``workflow`` share: selection, execution, gates, routing, output."""
    _add_selection(parser)
    _add_execution(parser)
    _add_gates(parser)
    _add_routing(parser)
    _add_output(parser)
    _add_drift(parser)


def _add_drift(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("comparing with an earlier run")
    group.add_argument(
        "--compare-to",
        metavar="last|REPORT.json",
        help="show what changed since REPORT.json, or since the last report of the same command (or workflow) "
        "and targets in the report dir ('last')",
    )
    group.add_argument(
        "--fail-on-drift",
        action="store_true",
        help="exit 6 when anything changed since the compared report (implies --compare-to last)",
    )


def build_parser() -> CliArgumentParser:
    """The full parser: run, workflow, probe, report, sandbox."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = CliArgumentParser(
        prog=PROG,
        description="Run commands and workflows across pools of Azure VMs with the azlin.fleet Ansible collection.",
        epilog=EXIT_CODES_HELP + "\nAnything after '--' is passed to ansible-playbook unchanged.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="subcommand", metavar="{run,workflow,probe,report,sandbox}", required=True)

    run = sub.add_parser(
        "run",
        help="run one command on the selected hosts",
        description="Run COMMAND on the selected hosts and print the grouped report.",
        epilog=EXIT_CODES_HELP
        + "\nexamples:\n"
        + '  azlin-fleet run "npm test" --pool web-servers --parallel 5 --retry-failed\n'
        + '  azlin-fleet run "deploy.sh" --pool staging --sequence --wait-for-health\n'
        + '  azlin-fleet run "git pull && npm install" --tag env=dev --if-idle --dry-run\n'
        + '  azlin-fleet run "make" --pool ci --if-cpu-below-50\n',
        formatter_class=formatter,
    )
    run.add_argument("command", metavar="COMMAND", help="shell command to run on each host (quote it)")
    _add_fleet_flags(run)

    workflow = sub.add_parser(
        "workflow",
        help="run a YAML workflow (steps with dependencies) on the selected hosts",
        description="Validate and run the workflow FILE on the selected hosts (its own targets when none are given). "
        "The gate, routing and execution flags are the defaults of every step; a step's own keys win.",
        epilog=EXIT_CODES_HELP
        + "\nexamples:\n  azlin-fleet workflow deploy.yaml --tag env=staging\n"
        + "  azlin-fleet workflow deploy.yaml --tag env=dev --if-idle --count 2 --dry-run\n",
        formatter_class=formatter,
    )
    workflow.add_argument("file", metavar="FILE", help="workflow YAML file")
    _add_fleet_flags(workflow)

    probe = sub.add_parser(
        "probe",
        help="show the selected hosts' metrics, scores and gate verdicts",
        description="Probe the selected hosts (read-only) and print their metrics, route order and gate verdicts.",
        epilog=EXIT_CODES_HELP,
        formatter_class=formatter,
    )
    _add_selection(probe)
    _add_gates(probe)
    _add_routing(probe)
    _add_output(probe, dry_run=False)

    report = sub.add_parser(
        "report",
        help="list, print or merge saved JSON reports",
        description="List, print or merge saved JSON reports.",
    )
    report_sub = report.add_subparsers(dest="report_action", metavar="{list,show,merge}", required=True)
    listing = report_sub.add_parser(
        "list",
        help="the recent reports of the report dir",
        description="List the recent reports of the report dir, newest first: time, command, targets, status, "
        "host counts, file.",
    )
    listing.add_argument("--report-dir", metavar="DIR", help=REPORT_DIR_HELP)
    listing.add_argument("-n", "--limit", type=_positive_int, default=20, metavar="N", help="show N reports (20)")
    show = report_sub.add_parser(
        "show",
        help="print a saved JSON report ('last': the newest in the report dir)",
        description="Print a saved JSON report; 'last' is the newest report of the report dir.",
    )
    show.add_argument("file", metavar="REPORT.json|last")
    show.add_argument("--format", choices=["text", "json", "md", "html"], default="text")
    show.add_argument(
        "--diff", "--full", dest="full", action="store_true", help="print every group and every diff line"
    )
    show.add_argument("--report-dir", metavar="DIR", help=REPORT_DIR_HELP)
    merge = report_sub.add_parser(
        "merge",
        help="merge several JSON reports (runs, AWX slices) into one",
        description="Merge several JSON reports into one, regrouped, written as JSON, Markdown and HTML.",
    )
    merge.add_argument("files", nargs="+", metavar="REPORT.json")
    merge.add_argument("--report-dir", metavar="DIR", help=REPORT_DIR_HELP)
    merge.add_argument("--name", metavar="NAME", help="base name of the merged files (default: fleet-merged-<time>)")
    merge.add_argument("--format", choices=["text", "json", "md", "html"], default="text")

    sandbox = sub.add_parser(
        "sandbox",
        usage="azlin-fleet sandbox [-h] ACTION [ARGS...]",
        help="the local sandbox fleet: up, down, status, reset, load, fault",
        description="Manage the local sandbox fleet (real sshd hosts and a local Azure endpoint). "
        "Arguments after ACTION go to azlin-fleet-sandbox; try 'azlin-fleet sandbox up --help'.",
        formatter_class=formatter,
    )
    sandbox.add_argument(
        "action",
        choices=["up", "down", "status", "reset", "load", "fault"],
        metavar="ACTION",
        help="up [--hosts N] | down | status [--json] | reset | load HOST [--cpu %%] [--load L1,L5,L15] [--mem %%] "
        "[--users IDLE,...] | fault HOST {stop,start,cut,restore,unreadable,readable}",
    )
    return parser


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse the command line; returns the namespace and the arguments for ansible-playbook."""
    args, extra = split_argv(argv)
    if args and args[0] == "sandbox":
        # The sandbox's own CLI owns its flags (including --help of each action).
        namespace = build_parser().parse_args(args[:2])
        namespace.args = args[2:]
        return namespace, []
    return build_parser().parse_args(args), extra
