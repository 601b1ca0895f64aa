"""The one error type of the sandbox: what failed, why, and what to do."""

from __future__ import annotations


class SandboxError(Exception):
    """A sandbox operation failed; ``str()`` is "subject: reason. hint" like FleetError."""

    def __init__(self, subject: str, reason: str, hint: str = "") -> None:
        self.subject = subject
        self.reason = reason
        self.hint = hint
        text = f"{subject}: {reason}"
        if hint:
            text = f"{text.rstrip('.')}. {hint}"
        super().__init__(text)


class SandboxUsageError(SandboxError):
    """Bad input (unknown host, out-of-range load, unknown fault kind); nothing was changed."""
