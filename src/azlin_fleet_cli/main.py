"""Entry point of ``azlin-fleet``: parse, validate, run the playbook, print the report, map the outcome to an exit code.

Like ClusterShell's ``handle_generic_error``, :func:`main` is the one place that turns exceptions into an
``azlin-fleet: ...`` line on stderr and an exit code (DESIGN §3).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from azlin_fleet_cli.arguments import parse_args
from azlin_fleet_cli.collection import import_plugin_utils
from azlin_fleet_cli.config import read_user_config, resolve_inventory
from azlin_fleet_cli.extravars import build_probe_vars, build_run_vars, build_workflow_vars
from azlin_fleet_cli.outcome import CONTROLLER_HOST, CliError, ExitCode, exit_code_for_report, refused_reasons
from azlin_fleet_cli.playbook import PlaybookRun, forks_for, new_report_name, run_playbook
from azlin_fleet_cli.probe_table import render_probe_table

PLAYBOOKS = {"run": "azlin.fleet.run", "workflow": "azlin.fleet.workflow", "probe": "azlin.fleet.probe"}
DEFAULT_REPORT_DIR = "reports"
SIGINT_EXIT = 130


def _report_dir(args: argparse.Namespace, configured: str | None) -> Path:
    chosen = args.report_dir or os.environ.get("AZLIN_FLEET_REPORT_DIR") or configured or DEFAULT_REPORT_DIR
    return Path(chosen).expanduser().resolve()


def _execute(
    args: argparse.Namespace, extra: list[str], extra_vars: dict[str, Any], forks: int, out: TextIO, err: TextIO
) -> int:
    config = read_user_config()
    inventory = resolve_inventory(args.inventory, config)
    run = PlaybookRun(
        playbook=PLAYBOOKS[args.subcommand],
        inventory=inventory.sources,
        extra_vars=extra_vars,
        report_dir=_report_dir(args, config.report_dir),
        report_name=new_report_name(args.subcommand),
        forks=forks,
        passthrough=tuple(extra),
        verbosity=args.verbose,
        env=inventory.env,
    )
    if args.verbose:
        print(f"azlin-fleet: inventory from {inventory.origin}: {', '.join(inventory.sources)}", file=err)
    report_path, interrupted = run_playbook(run, show_progress=err.isatty(), stderr=err)
    report_module = import_plugin_utils("report")
    report = report_module.load_report(report_path)
    if args.subcommand == "probe" and args.format == "text":
        out.write(render_probe_table(report))
    else:
        out.write(report_module.render_report(report, args.format))
    out.flush()
    code = exit_code_for_report(
        report["hosts"], dry_run=bool(extra_vars.get("fleet_dry_run")), errors=report.get("errors")
    )
    if args.format == "text":
        print(f"report: {report_path.with_suffix('.html')} (also .json, .md)", file=out)
    if interrupted:
        print("azlin-fleet: interrupted; the report shows what finished.", file=err)
        return SIGINT_EXIT
    if code == ExitCode.NOTHING_RAN:
        _explain_nothing_ran(report, extra_vars.get("fleet_targets"), inventory.origin, err)
    elif code == ExitCode.USAGE:
        refused = [r for host in report["hosts"] if host["host"] == CONTROLLER_HOST for r in host.get("reasons") or []]
        refused += refused_reasons(report.get("errors"))
        print(f"azlin-fleet: the playbook refused the input; nothing ran: {' '.join(refused)}", file=err)
    return code


def _explain_nothing_ran(report: dict[str, Any], targets: str | None, origin: str, err: TextIO) -> None:
    if not any(host["host"] != CONTROLLER_HOST for host in report["hosts"]):
        pattern = repr(targets) if targets else "the workflow's targets"
        print(
            f"azlin-fleet: nothing selected: no host matched {pattern} in the inventory from {origin}. "
            "Check the pool/tag names with 'azlin-fleet probe --all'.",
            file=err,
        )
    else:
        print("azlin-fleet: nothing ran: every selected host was gated out or unmeasurable (see the report).", file=err)


def command_run(args: argparse.Namespace, extra: list[str], out: TextIO, err: TextIO) -> int:
    """``azlin-fleet run COMMAND``."""
    extra_vars = build_run_vars(args)
    return _execute(args, extra, extra_vars, forks_for(args.parallel), out, err)


def command_workflow(args: argparse.Namespace, extra: list[str], out: TextIO, err: TextIO) -> int:
    """``azlin-fleet workflow FILE``."""
    return _execute(args, extra, build_workflow_vars(args), forks_for(None), out, err)


def command_probe(args: argparse.Namespace, extra: list[str], out: TextIO, err: TextIO) -> int:
    """``azlin-fleet probe``: metrics, order and gate verdicts; nothing but the read-only probe runs."""
    return _execute(args, extra, build_probe_vars(args), forks_for(None), out, err)


def command_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    """``azlin-fleet report show|merge``."""
    report_module = import_plugin_utils("report")
    if args.report_action == "show":
        out.write(report_module.render_report(report_module.load_report(args.file), args.format))
        return ExitCode.OK
    missing = [path for path in args.files if not Path(path).is_file()]
    if missing:
        raise CliError(ExitCode.USAGE, f"report {missing[0]!r} not found: give the .json files to merge.")
    merge_module = import_plugin_utils("report_merge")
    name = args.name or new_report_name("merged")
    merged = merge_module.merge_reports(args.files, name=name)
    directory = _report_dir(args, read_user_config().report_dir)
    written = report_module.write_report(merged, directory, name)
    out.write(report_module.render_report(merged, args.format))
    print(f"merged report: {', '.join(str(p) for p in written)}", file=err)
    return ExitCode.OK


def command_sandbox(args: argparse.Namespace) -> int:
    """``azlin-fleet sandbox ACTION ...``: the sandbox's own CLI does the work."""
    try:
        from azlin_fleet_sandbox.cli import main as sandbox_main
    except ImportError as ex:
        raise CliError(
            ExitCode.USAGE, f"the sandbox is not installed ({ex}): install the azlin-fleet package from the repository."
        ) from ex
    result = sandbox_main([args.action, *args.args])
    return int(result or 0)


def _dispatch(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    args, extra = parse_args(argv)
    if args.subcommand == "sandbox":
        return command_sandbox(args)
    if args.subcommand == "report":
        return command_report(args, out, err)
    handler = {"run": command_run, "workflow": command_workflow, "probe": command_probe}[args.subcommand]
    return handler(args, extra, out, err)


def _fleet_error_message(ex: BaseException) -> str | None:
    """The message of a FleetError raised by the collection's plugin_utils (None for anything else)."""
    if not any(
        cls.__name__ == "FleetError" and cls.__module__.endswith("plugin_utils.errors") for cls in type(ex).__mro__
    ):
        return None
    problems = getattr(ex, "problems", None)
    if problems:
        lines = [f"{ex.subject}: {len(problems)} problem(s):"]  # type: ignore[attr-defined]
        lines += [f"  - {problem}" for problem in problems]
        return "\n".join(lines)
    return str(ex)


def main(argv: Sequence[str] | None = None) -> int:
    """Run azlin-fleet; returns the exit code (see ``azlin-fleet --help``)."""
    out, err = sys.stdout, sys.stderr
    try:
        return _dispatch(sys.argv[1:] if argv is None else argv, out, err)
    except CliError as ex:
        print(f"azlin-fleet: {ex.message}", file=err)
        return ex.code
    except SystemExit as ex:  # --help / --version
        return ex.code if isinstance(ex.code, int) else 0
    except KeyboardInterrupt:
        print("azlin-fleet: interrupted", file=err)
        return SIGINT_EXIT
    except BrokenPipeError:
        # Like clush: a closed pipe (| head) is not worth a message; point stdout at /dev/null so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.FAILED
    except Exception as ex:
        message = _fleet_error_message(ex)
        if message is None:
            raise
        print(f"azlin-fleet: {message}", file=err)
        return ExitCode.USAGE
