"""Exit codes of azlin-fleet (DESIGN §3) and the one exception the CLI raises itself."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What a run's exit status means; the same table is in ``--help`` and the README."""

    OK = 0  # every selected host succeeded
    FAILED = 1  # at least one host failed (command, timeout, blocked step, not started after a stop)
    USAGE = 2  # bad usage or invalid input; nothing ran on any host
    NOTHING_RAN = 3  # no host selected, or every host gated / unmeasurable
    UNREACHABLE = 4  # the only failures are unreachable hosts


EXIT_CODES_HELP = """\
exit codes:
  0  all selected hosts succeeded
  1  some host failed (command failed, timed out, blocked or not started)
  2  bad usage or invalid input (bad flag, gate, workflow, inventory); nothing ran
  3  nothing selected, or every host was gated out / unmeasurable
  4  the only failures are unreachable hosts
"""


class CliError(Exception):
    """A condition the CLI reports as one ``azlin-fleet: ...`` line and an exit code."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Report host statuses (plugin_utils/report_collect.py STATUS_RANK) by what they mean for the exit code.
_FAILED = frozenset({"failed", "timeout", "interrupted", "blocked", "not_started"})
_UNREACHABLE = frozenset({"unreachable"})
_RAN = frozenset({"ok", "changed", "skipped", "selected"})


def exit_code_for(host_statuses: list[str]) -> ExitCode:
    """The exit code for a finished run, from each host's overall status in the report.

    Gated, unmeasurable and unselected hosts are reported but are not failures; if they are all there is,
    nothing ran (3). ``selected`` is what a dry run reports for hosts it would run on.
    """
    statuses = set(host_statuses)
    if statuses & _FAILED:
        return ExitCode.FAILED
    if statuses & _UNREACHABLE:
        return ExitCode.UNREACHABLE
    if statuses & _RAN:
        return ExitCode.OK
    return ExitCode.NOTHING_RAN


# The playbooks validate input and judge the outcome in plays on the controller (hosts: localhost); those
# results are part of the report but are not target hosts.
CONTROLLER_HOST = "localhost"
# The playbooks' message when the targets match no host (playbooks/run.yml, playbooks/workflow.yml).
_NO_HOST_MATCHED = "select no host"


def exit_code_for_report(
    hosts: list[dict[str, Any]], *, dry_run: bool, errors: list[dict[str, Any]] | None = None
) -> ExitCode:
    """The exit code of a run from the report's ``hosts`` (each with ``host``, ``status``, ``reasons``).

    ``errors`` are the report's failures of internal (quiet) tasks: the playbooks validate and plan in one such
    task, run once on the controller before any host is touched, so when no host has a result, such a failure
    is input the playbook refused.
    """
    targets = [host for host in hosts if host["host"] != CONTROLLER_HOST]
    if targets:
        return exit_code_for([host["status"] for host in targets])
    controller = [host for host in hosts if host["host"] == CONTROLLER_HOST]
    failed = [host for host in controller if host["status"] in _FAILED]
    if failed:
        reasons = " ".join(reason for host in failed for reason in host.get("reasons") or [])
        # No host matched the targets: nothing selected. Any other controller failure is input the playbook
        # refused before touching a host.
        return ExitCode.NOTHING_RAN if _NO_HOST_MATCHED in reasons else ExitCode.USAGE
    if refused_reasons(errors):
        return ExitCode.USAGE
    return ExitCode.OK if dry_run else ExitCode.NOTHING_RAN


def refused_reasons(errors: list[dict[str, Any]] | None) -> list[str]:
    """Why the playbook refused the input: the reasons of the failed internal tasks that were not ignored."""
    return [
        error.get("reason") or f"{error.get('task')}: {error.get('status')}"
        for error in errors or []
        if not error.get("ignored") and error.get("status") in _FAILED | _UNREACHABLE
    ]
