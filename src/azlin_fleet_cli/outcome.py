"""Exit codes of azlin-fleet (DESIGN §3) decided from report data, and the one exception the CLI raises itself.

The code comes only from structured fields of the JSON report (its ``run`` object and each host's ``status``,
docs/dev/CONTRACTS.md "The fleet pipeline"), never from the wording of a message.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What a run's exit status means; the same table is in ``--help`` and the README."""

    OK = 0  # every selected host succeeded
    FAILED = 1  # at least one host failed (command, timeout, blocked step, not started, interrupted)
    USAGE = 2  # bad usage or invalid input; nothing ran on any host
    NOTHING_RAN = 3  # no host selected, or every host gated / unmeasurable / not selected
    UNREACHABLE = 4  # the only failures are unreachable hosts
    INCOMPLETE = 5  # an internal error made the run incomplete, or the report could not be saved
    DRIFT = 6  # --fail-on-drift and something changed since the compared report
    SIGINT = 128 + signal.SIGINT  # 130: cancelled by SIGINT (Ctrl-C)
    SIGTERM = 128 + signal.SIGTERM  # 143: cancelled by SIGTERM (docker stop, CI cancel, timeout(1))


EXIT_CODES_HELP = """\
exit codes:
  0  all selected hosts succeeded (a dry run that selected hosts)
  1  some host failed (command failed, timed out, blocked, not started or interrupted)
  2  bad usage or invalid input (bad flag, gate, workflow, inventory, report dir); nothing ran
  3  nothing selected, or every host was gated out / unmeasurable / not selected
  4  the only failures are unreachable hosts
  5  incomplete: an internal error (each named on stderr), or the report could not be saved
  6  --fail-on-drift and something changed since the compared report
  130  cancelled by SIGINT (Ctrl-C); the report says what finished
  143  cancelled by SIGTERM (kill, docker stop, CI cancel); the report says what finished
"""


class CliError(Exception):
    """A condition the CLI reports as one ``azlin-fleet: ...`` line and an exit code."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Report host statuses (plugin_utils/report_collect.py) by what they mean for the exit code.
FAILED_STATUSES = frozenset({"failed", "timeout", "interrupted", "blocked", "not_started"})
UNREACHABLE_STATUSES = frozenset({"unreachable"})
# Reported with their reason, but nothing ran there: gated out, probe unusable, not among --count N.
NOT_RUN_STATUSES = frozenset({"gated", "unmeasurable", "not_selected"})


@dataclass(frozen=True, slots=True)
class RunVerdict:
    """The exit code of a run and the lines that explain it on stderr (each without the ``azlin-fleet: ``)."""

    code: ExitCode
    messages: tuple[str, ...] = ()


def exit_code_for(host_statuses: Iterable[str]) -> ExitCode:
    """The exit code from each host's overall status: failures, then unreachable, then nothing ran, else ok.

    ``selected`` is what a dry run reports for the hosts it would run on.
    """
    statuses = set(host_statuses)
    if statuses & FAILED_STATUSES:
        return ExitCode.FAILED
    if statuses & UNREACHABLE_STATUSES:
        return ExitCode.UNREACHABLE
    if not statuses or statuses <= NOT_RUN_STATUSES:
        return ExitCode.NOTHING_RAN
    return ExitCode.OK


def signal_exit_code(signal_name: str | None) -> ExitCode:
    """130 for SIGINT, 143 for SIGTERM (a run interrupted by anything else counts as SIGINT)."""
    return ExitCode.SIGTERM if signal_name == "SIGTERM" else ExitCode.SIGINT


def decide_exit(
    report: Mapping[str, Any], *, signal_name: str | None = None, fail_on_drift: bool = False, dry_run: bool = False
) -> RunVerdict:
    """The exit code of a finished run from its JSON report, in the contract's order.

    ``run.refused`` -> 2; interrupted (``signal_name``: the signal the CLI itself received, else the report's
    own ``run.status``/``interrupted``) -> 130/143; ``run.internal_errors`` -> 5; ``run.nothing_selected`` or every
    host gated/unmeasurable/not selected -> 3; then from host statuses (1, 4, 0); drift with ``fail_on_drift`` -> 6
    when everything else succeeded. A report without the ``run`` object (an older callback) is decided from its
    host statuses and the failures of its internal tasks (``errors``) alone.
    """
    run = report.get("run") if isinstance(report.get("run"), Mapping) else None
    hosts = [host for host in report.get("hosts") or [] if isinstance(host, Mapping)]
    if run is None:
        return _decide_without_run(report, hosts, signal_name=signal_name, dry_run=dry_run)
    refused = [str(line) for line in run.get("refused") or []]
    if refused:
        return RunVerdict(ExitCode.USAGE, ("the playbook refused the input; nothing ran:", *refused))
    interrupted = signal_name or _report_signal(report, run)
    if interrupted:
        return RunVerdict(
            signal_exit_code(interrupted), (f"interrupted by {interrupted}; the report shows what finished.",)
        )
    errors = [error for error in run.get("internal_errors") or [] if isinstance(error, Mapping)]
    if errors:
        return RunVerdict(
            ExitCode.INCOMPLETE,
            (f"the run is incomplete: {len(errors)} internal error(s):", *(_internal_error_line(e) for e in errors)),
        )
    nothing = run.get("nothing_selected")
    if isinstance(nothing, Mapping):
        return RunVerdict(ExitCode.NOTHING_RAN, (_nothing_selected_line(nothing),))
    code = exit_code_for(str(host.get("status", "")) for host in hosts)
    if code == ExitCode.NOTHING_RAN:
        return RunVerdict(code, ("nothing ran: every selected host was gated out, unmeasurable or not selected.",))
    if code == ExitCode.OK and fail_on_drift and has_drift(report):
        return RunVerdict(
            ExitCode.DRIFT, ("drift: results changed since the compared report (see its drift section).",)
        )
    return RunVerdict(code)


def _decide_without_run(
    report: Mapping[str, Any], hosts: list[Mapping[str, Any]], *, signal_name: str | None, dry_run: bool
) -> RunVerdict:
    interrupted = signal_name or report.get("interrupted")
    if interrupted:
        return RunVerdict(
            signal_exit_code(str(interrupted)), (f"interrupted by {interrupted}; the report shows what finished.",)
        )
    if not hosts:
        # The playbooks validate and plan in one internal task before any host is touched: its failure is refused input.
        refused = refused_reasons(report.get("errors"))
        if refused:
            return RunVerdict(ExitCode.USAGE, ("the playbook refused the input; nothing ran:", *refused))
        if dry_run:
            return RunVerdict(ExitCode.OK)
    code = exit_code_for(str(host.get("status", "")) for host in hosts)
    if code == ExitCode.NOTHING_RAN:
        return RunVerdict(code, ("nothing ran: no host selected, or every host was gated out or unmeasurable.",))
    return RunVerdict(code)


def _report_signal(report: Mapping[str, Any], run: Mapping[str, Any]) -> str | None:
    if run.get("status") != "interrupted":
        return None
    return str(report.get("interrupted") or "SIGINT")


def _internal_error_line(error: Mapping[str, Any]) -> str:
    where = " ".join(f"{key} {error[key]!r}" for key in ("host", "task") if error.get(key))
    return f"  - {where + ': ' if where else ''}{error.get('error') or 'unknown error'}"


def _nothing_selected_line(nothing: Mapping[str, Any]) -> str:
    targets = nothing.get("targets")
    reason = nothing.get("reason") or "no host matched"
    return f"nothing selected{f' by {targets!r}' if targets else ''}: {reason}"


def has_drift(report: Mapping[str, Any]) -> bool:
    """Whether the report's ``drift`` section names a host whose result changed, appeared or disappeared.

    ``drift.hosts`` (docs/report-schema.json) lists every host with drift; empty means none.
    """
    drift = report.get("drift")
    if not isinstance(drift, Mapping):
        return False
    hosts = drift.get("hosts")
    if isinstance(hosts, list):
        return bool(hosts)
    return any(
        isinstance(task, Mapping) and any(task.get(kind) for kind in ("changed", "appeared", "disappeared"))
        for task in drift.get("tasks") or []
    )


def refused_reasons(errors: Any) -> list[str]:
    """Why the playbook refused the input: the reasons of the failed internal tasks that were not ignored."""
    return [
        str(error.get("reason") or f"{error.get('task')}: {error.get('status')}")
        for error in errors or []
        if isinstance(error, Mapping)
        and not error.get("ignored")
        and error.get("status") in FAILED_STATUSES | UNREACHABLE_STATUSES
    ]
