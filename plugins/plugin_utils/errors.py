# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors raised by the controller-side logic; every surface (plugins, CLI) renders them the same way."""

from __future__ import annotations


class FleetError(Exception):
    """A problem the user can fix: what failed, why, and what to do.

    ``str()`` gives "subject: reason. hint" so the inventory, strategy, action, module and CLI all show
    the same text.
    """

    def __init__(self, subject: str, reason: str, hint: str = "", location: str = "") -> None:
        self.subject = subject
        self.reason = reason
        self.hint = hint
        self.location = location
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f" at {self.location}" if self.location else ""
        text = f"{self.subject}{where}: {self.reason}"
        if self.hint:
            text = f"{text.rstrip('.')}. {self.hint}"
        return text


class FleetUsageError(FleetError):
    """Bad input from the user (flags, extra vars, gate expressions, workflow files)."""


class FleetConfigError(FleetError):
    """Bad or incomplete configuration (inventory options, credentials)."""


class FleetValidationError(FleetUsageError):
    """Several problems found at once (e.g. a workflow file); each is a FleetError with a location."""

    def __init__(self, subject: str, problems: list[FleetError]) -> None:
        self.problems = problems
        reason = "; ".join(p.message for p in problems)
        super().__init__(subject, f"{len(problems)} problem(s): {reason}")
