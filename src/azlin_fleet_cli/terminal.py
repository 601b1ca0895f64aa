"""Text from hosts and files made safe for a terminal: no escape sequences, no control characters."""

from __future__ import annotations

import re

# C0 controls (tab kept), DEL and C1 controls: cursor movement, OSC title/clipboard, NUL, bells.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_KEEP_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def printable(text: object) -> str:
    """``text`` on one line, every control character shown as a visible ``\\xNN`` escape instead of acting on the
    terminal."""
    return _CONTROL.sub(_visible, str(text))


def printable_lines(text: str) -> str:
    """Like :func:`printable`, but line breaks stay line breaks (for whole reports)."""
    return _CONTROL_KEEP_LINES.sub(_visible, text)
