"""Entry point of ``azlin-fleet``: parse, validate, run the playbook, print the report, map the outcome to an exit code.

Like ClusterShell's ``handle_generic_error``, :func:`main` is the one place that turns exceptions into an
``azlin-fleet: ...`` line on stderr and an exit code (DESIGN §3). The exit code of a run comes from its report's
data only (:func:`azlin_fleet_cli.outcome.decide_exit`).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from azlin_fleet_cli.arguments import parse_args
from azlin_fleet_cli.collection import import_plugin_utils
from azlin_fleet_cli.config import read_user_config, resolve_inventory
from azlin_fleet_cli.extravars import build_probe_vars, build_run_vars, build_workflow_vars
from azlin_fleet_cli.outcome import CliError, ExitCode, decide_exit, signal_exit_code
from azlin_fleet_cli.playbook import (
    REPORT_FORMATS,
    PlaybookRun,
    RunResult,
    default_parallel,
    forks_for,
    format_extra_vars,
    run_playbook,
    shell_line,
)
from azlin_fleet_cli.private_files import read_file
from azlin_fleet_cli.probe_table import render_probe_table
from azlin_fleet_cli.progress import ProgressLine
from azlin_fleet_cli.report_dir import (
    RunRecord,
    choose_report_dir,
    describe_report,
    find_last,
    list_reports,
    new_report_name,
    parse_report,
    prepare_report_dir,
    save_log,
    save_report,
    wake_state_dir,
    woken_hosts,
)
from azlin_fleet_cli.terminal import printable, printable_lines

PLAYBOOKS = {"run": "azlin.fleet.run", "workflow": "azlin.fleet.workflow", "probe": "azlin.fleet.probe"}
WAKE_RETURN_PLAYBOOK = "azlin.fleet.wake_return"
MASK = "********"


def _report_name(subcommand: str) -> str:
    """$AZLIN_FLEET_REPORT_NAME when the user set one (a plain file name), else a fresh unique name."""
    chosen = os.environ.get("AZLIN_FLEET_REPORT_NAME")
    if not chosen:
        return new_report_name(subcommand)
    if "/" in chosen or chosen.startswith(".") or chosen != chosen.strip():
        raise CliError(
            ExitCode.USAGE,
            f"AZLIN_FLEET_REPORT_NAME {chosen!r} is not a plain file name: use letters, digits, '-' and '_'.",
        )
    return chosen


def masked_extra_vars(extra_vars: Mapping[str, Any]) -> dict[str, Any]:
    """The extra vars as ``-v`` shows them, masked by the collection's masker: a value whose key names a secret
    (``API_TOKEN``, ``db_password``) is hidden whole, secrets inside other text (``PASSWORD=x deploy``) in place."""
    masker = import_plugin_utils("report_mask").build_masker()

    def mask(key: str, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {name: mask(str(name), item) for name, item in value.items()}
        if isinstance(value, list):
            return [mask(key, item) for item in value]
        if isinstance(value, str):
            return MASK if masker.mask(f"{key}=x") != f"{key}=x" else masker.mask(value)
        return value

    return {key: mask(key, value) for key, value in extra_vars.items()}


def _shown_vars_file(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        loaded = None
    if isinstance(loaded, dict):
        return format_extra_vars(masked_extra_vars({str(key): value for key, value in loaded.items()}))
    return str(import_plugin_utils("report_mask").build_masker().mask(text))


def _resolve_compare_to(args: argparse.Namespace, report_dir: Path, record: RunRecord, err: TextIO) -> str | None:
    wanted = getattr(args, "compare_to", None)
    if wanted is None and getattr(args, "fail_on_drift", False):
        wanted = "last"
    if wanted is None:
        return None
    if wanted == "last":
        last = find_last(report_dir, record)
        if last is None:
            print(
                f"azlin-fleet: no earlier report of this command and targets in {str(report_dir)!r}: "
                "nothing to compare with this time.",
                file=err,
            )
            return None
        return str(last.path)
    path = Path(wanted).expanduser().absolute()
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            parse_report(read_file(fd, path.name), str(path))
        finally:
            os.close(fd)
    except OSError as ex:
        raise CliError(
            ExitCode.USAGE, f"--compare-to {wanted!r} cannot be read ({ex.strerror}): give a .json report."
        ) from ex
    return str(path)


def _record_for(args: argparse.Namespace, extra_vars: Mapping[str, Any]) -> RunRecord:
    # The record sits beside the report: the command is masked like everything in the report.
    command = extra_vars.get("fleet_command")
    return RunRecord(
        subcommand=args.subcommand,
        command=None if command is None else str(masked_extra_vars({"fleet_command": command})["fleet_command"]),
        workflow=extra_vars.get("fleet_workflow_file"),
        targets=extra_vars.get("fleet_targets"),
    )


def _execute(
    args: argparse.Namespace, extra: list[str], extra_vars: dict[str, Any], forks: int, out: TextIO, err: TextIO
) -> int:
    config = read_user_config()
    inventory = resolve_inventory(args.inventory, config)
    # Checked before any host is touched: a bad report dir is exit 2, never a run whose report is lost.
    report_dir = prepare_report_dir(choose_report_dir(args.report_dir, config.report_dir))
    record = _record_for(args, extra_vars)
    report_name = _report_name(args.subcommand)
    wake_file = None
    if extra_vars.get("fleet_wake") and not extra_vars.get("fleet_dry_run"):
        # outlives the run: if it ends before returning the VMs it woke, they are returned from this file
        wake_file = wake_state_dir() / f"{report_name}.json"
        extra_vars = {**extra_vars, "fleet_wake_state_file": str(wake_file)}
    run = PlaybookRun(
        playbook=PLAYBOOKS[args.subcommand],
        inventory=inventory.sources,
        extra_vars=extra_vars,
        report_name=report_name,
        forks=forks,
        passthrough=tuple(extra),
        verbosity=args.verbose,
        env=inventory.env,
        compare_to=_resolve_compare_to(args, report_dir, record, err),
        full=bool(getattr(args, "full", False)),
    )

    def echo(command: list[str], vars_file: Path, passthrough_files: dict[Path, bytes]) -> None:
        print(f"azlin-fleet: inventory from {inventory.origin}: {', '.join(inventory.sources)}", file=err)
        print(f"azlin-fleet: running: {shell_line(command)}", file=err)
        shown = format_extra_vars(masked_extra_vars(extra_vars))
        print(f"azlin-fleet: extra vars in {vars_file}: {shown}", file=err)
        for path, data in passthrough_files.items():
            print(f"azlin-fleet: extra vars in {path}: {printable(_shown_vars_file(data))}", file=err)
        err.flush()

    width = shutil.get_terminal_size().columns
    progress = ProgressLine(err, width) if err.isatty() and args.verbose < 2 else None
    try:
        with run_playbook(run, stderr=err, progress=progress, echo=echo if args.verbose else None) as result:
            if result.report is None:
                return _no_report(result, run.report_name, report_dir, err)
            report = parse_report(result.report, run.report_name + ".json")
            saved, save_error = save_report(result.report_fd, run.report_name, report_dir, record, REPORT_FORMATS)
    finally:
        if wake_file is not None:
            _return_woken(run, wake_file, err)
    _print_report(args, report, out, see=None if save_error else f"{report_dir / run.report_name}.html")
    verdict = decide_exit(
        report,
        signal_name=result.signal_name,
        fail_on_drift=bool(getattr(args, "fail_on_drift", False)),
        dry_run=bool(extra_vars.get("fleet_dry_run")),
    )
    if args.format == "text" and save_error is None:
        print(f"report: {report_dir / run.report_name}.html (also .json, .md)", file=out)
    out.flush()
    for message in verdict.messages:
        print(f"azlin-fleet: {printable(message)}" if not message.startswith("  ") else printable(message), file=err)
    if save_error is not None:
        kept = f"only {', '.join(path.name for path in saved)} was saved" if saved else "the summary above is all of it"
        print(
            f"azlin-fleet: the report could not be saved in {str(report_dir)!r} "
            f"({save_error.strerror or save_error}); {kept}. Free space or fix the report dir.",
            file=err,
        )
        return verdict.code if verdict.code != ExitCode.OK else ExitCode.INCOMPLETE
    return verdict.code


def _return_woken(run: PlaybookRun, wake_file: Path, err: TextIO) -> None:
    """Put back the VMs a --wake run woke and did not return (it was cancelled or died before its last play)."""
    if not woken_hosts(wake_file):
        with contextlib.suppress(FileNotFoundError):
            wake_file.unlink()
        return
    print(f"azlin-fleet: returning the VMs this run woke to their former state ({wake_file})", file=err)
    back = PlaybookRun(
        playbook=WAKE_RETURN_PLAYBOOK,
        inventory=run.inventory,
        extra_vars={"fleet_wake_state_file": str(wake_file)},
        report_name=f"{run.report_name}-wake-return",
        forks=4,
        env=run.env,
    )
    with run_playbook(back, stderr=err):
        pass
    left = woken_hosts(wake_file)
    if left:
        print(f"azlin-fleet: still running after the return attempt: {', '.join(left)}; run "
              f"'ansible-playbook {WAKE_RETURN_PLAYBOOK} -e fleet_wake_state_file={wake_file}' to retry", file=err)
    else:
        wake_file.unlink(missing_ok=True)


def _print_report(args: argparse.Namespace, report: Mapping[str, Any], out: TextIO, see: str | None = None) -> None:
    if args.subcommand == "probe" and args.format == "text":
        out.write(printable_lines(render_probe_table(report)))
        return
    if args.format == "text":
        out.write(printable_lines(render_summary(report, full=bool(getattr(args, "full", False)), see=see)))
        return
    out.write(import_plugin_utils("report").render_report(report, args.format))


def render_summary(report: Mapping[str, Any], *, full: bool, see: str | None) -> str:
    """The report's terminal summary (capped unless ``full``; ``see`` names the file holding everything)."""
    render = import_plugin_utils("report_render_text").render_text
    accepted = inspect.signature(render).parameters
    options = {key: value for key, value in {"full": full, "see": see}.items() if key in accepted}
    return str(render(report, **options))


def _no_report(result: RunResult, name: str, report_dir: Path, err: TextIO) -> int:
    """The run ended without a report: say why from what is known (the signal, whether any play started)."""
    kept = save_log(result.workspace_fd, "ansible.log", report_dir, name) if result.log_tail else None
    where = f" Full output: {kept}" if kept else ""
    tail = printable(result.log_tail)
    if result.signal_name:
        print(f"azlin-fleet: interrupted by {result.signal_name} before a report was written: {tail}{where}", file=err)
        return signal_exit_code(result.signal_name)
    if not result.events_seen:
        # No play started, so no host was touched: ansible-playbook refused the inventory, the playbook or an option.
        print(
            f"azlin-fleet: ansible-playbook stopped before any play started (rc {result.returncode}); nothing ran: "
            f"{tail}{where}",
            file=err,
        )
        return ExitCode.USAGE
    print(
        f"azlin-fleet: ansible-playbook exited with rc {result.returncode} and wrote no report; the run is incomplete: "
        f"{tail}{where}",
        file=err,
    )
    return ExitCode.INCOMPLETE


def command_run(args: argparse.Namespace, extra: list[str], out: TextIO, err: TextIO) -> int:
    """``azlin-fleet run COMMAND``."""
    extra_vars = {**build_run_vars(args), "fleet_parallel_default": default_parallel()}
    return _execute(args, extra, extra_vars, forks_for(args.parallel), out, err)


def command_workflow(args: argparse.Namespace, extra: list[str], out: TextIO, err: TextIO) -> int:
    """``azlin-fleet workflow FILE``."""
    extra_vars = {**build_workflow_vars(args), "fleet_parallel_default": default_parallel()}
    return _execute(args, extra, extra_vars, forks_for(args.parallel), out, err)


def command_probe(args: argparse.Namespace, extra: list[str], out: TextIO, err: TextIO) -> int:
    """``azlin-fleet probe``: metrics, order and gate verdicts; nothing but the read-only probe runs."""
    return _execute(args, extra, build_probe_vars(args), forks_for(None), out, err)


def _report_list(args: argparse.Namespace, out: TextIO) -> ExitCode:
    directory = choose_report_dir(args.report_dir, read_user_config().report_dir)
    saved = list_reports(directory, args.limit)
    if not saved:
        print(f"no reports in {directory}", file=out)
        return ExitCode.OK
    rows = [["TIME", "COMMAND", "TARGETS", "STATUS", "HOSTS", "REPORT"]]
    rows += [[printable(cell) for cell in describe_report(item)] for item in saved]
    widths = [min(max(len(row[i]) for row in rows), 48) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [
            cell if len(cell) <= width else cell[: width - 1] + "…" for cell, width in zip(row, widths, strict=False)
        ]
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + "  " + row[-1], file=out
        )
    print(f"report dir: {directory}", file=out)
    return ExitCode.OK


def command_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    """``azlin-fleet report list|show|merge``."""
    if args.report_action == "list":
        return _report_list(args, out)
    report_module = import_plugin_utils("report")
    if args.report_action == "show":
        path = args.file
        if path == "last":
            directory = choose_report_dir(args.report_dir, read_user_config().report_dir)
            last = find_last(directory)
            if last is None:
                raise CliError(ExitCode.USAGE, f"no report in {str(directory)!r}: run something first or give a path.")
            path = str(last.path)
        loaded = report_module.load_report(path)
        if args.format == "text":
            out.write(printable_lines(render_summary(loaded, full=args.full, see=path)))
        else:
            out.write(report_module.render_report(loaded, args.format))
        return ExitCode.OK
    missing = [path for path in args.files if not Path(path).is_file()]
    if missing:
        raise CliError(ExitCode.USAGE, f"report {missing[0]!r} not found: give the .json files to merge.")
    merge_module = import_plugin_utils("report_merge")
    name = args.name or new_report_name("merged")
    merged = merge_module.merge_reports(args.files, name=name)
    directory = prepare_report_dir(choose_report_dir(args.report_dir, read_user_config().report_dir))
    written = report_module.write_report(merged, directory, name)
    text = report_module.render_report(merged, args.format)
    out.write(printable_lines(text) if args.format == "text" else text)
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
        return ExitCode.SIGINT
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
