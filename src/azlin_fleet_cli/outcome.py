"""Exit codes of azlin-fleet (DESIGN §3) and the one exception the CLI raises itself."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a run's exit status means; the same table is in ``--help`` and docs/cli.md."""

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
