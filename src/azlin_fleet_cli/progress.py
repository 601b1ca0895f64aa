"""Live progress from the report callback's events file (JSON lines: plan and result events, docs/events.md).

The line is plain text written by the CLI itself: host and task names from the inventory or the hosts go through
:func:`printable`, and nothing is interpreted as markup, so a host called ``crash[/]vm`` or an escape sequence in a
name can neither break the line nor act on the terminal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from azlin_fleet_cli.terminal import printable

FAILURE_STATUSES = frozenset({"failed", "unreachable", "timeout", "blocked", "interrupted"})
BAR_WIDTH = 20
# Plays on the controller (validation, planning) announce themselves too; they are not target hosts.
_CONTROLLER_NAMES = frozenset({"localhost"})


@dataclass(slots=True)
class RunProgress:
    """What the events so far say: hosts heard from, hosts failed, the expected total if a plan told us."""

    hosts: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    plan: set[str] = field(default_factory=set)
    total: int | None = None
    last: str = ""

    def add(self, event: dict[str, Any]) -> None:
        """Fold one event line into the counts (docs/events.md): plan lines set the total, result lines count."""
        if event.get("event") == "plan":
            planned = {h for h in event.get("hosts", []) if isinstance(h, str) and h not in _CONTROLLER_NAMES}
            # Controller-only or empty plays keep the total; a new plan (e.g. after routing) restarts the count,
            # so probe results do not pass for the command's.
            if planned and planned != self.plan:
                self.plan, self.total = planned, len(planned)
                self.hosts = set()
            return
        if event.get("event", "result") != "result":
            return
        host = str(event.get("host", ""))
        if not host or host in _CONTROLLER_NAMES:
            return
        status = str(event.get("status", ""))
        if status in FAILURE_STATUSES:
            self.failed.add(host)
        if not self.plan or host in self.plan:
            self.hosts.add(host)
        self.last = f"{event.get('task', '')}: {host} {status}".strip()

    def describe(self) -> str:
        """One status line: hosts done/total, failures so far, the last event (control characters made visible)."""
        done = f"{len(self.hosts)}/{self.total}" if self.total else str(len(self.hosts))
        return printable(f"hosts {done} · failed {len(self.failed)} · {self.last or 'starting'}")


def render_line(progress: RunProgress, elapsed: float, width: int, cancelling: str | None = None) -> str:
    """The live line: a bar, hosts done/total, failures, elapsed time, the last event; cut to ``width``."""
    done, total = len(progress.hosts), progress.total
    filled = min(BAR_WIDTH, BAR_WIDTH * done // total) if total else 0
    bar = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"
    minutes, seconds = divmod(int(elapsed), 60)
    state = f"cancelling ({cancelling}) · " if cancelling else ""
    line = f"{bar} {state}{progress.describe()} · {minutes}:{seconds:02d}"
    return line[: max(width - 1, 10)]


class ProgressLine:
    """A status line on a terminal, redrawn in place as events arrive."""

    def __init__(self, stream: TextIO, width: int = 100) -> None:
        self.progress = RunProgress()
        self._stream = stream
        self._width = width
        self._started = time.monotonic()
        self._shown = False

    def update(self, events: Iterable[dict[str, Any]], cancelling: str | None = None) -> None:
        for event in events:
            self.progress.add(event)
        line = render_line(self.progress, time.monotonic() - self._started, self._width, cancelling)
        self._stream.write("\r\x1b[2K" + line)
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()


def read_new_events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Complete JSON lines appended to ``path`` since ``offset``; a partial last line waits for the next call."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return [], offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    events = []
    for line in complete.splitlines():
        try:
            loaded = json.loads(line)
        except ValueError:
            continue  # a line we do not understand must not stop the run; the report is authoritative
        if isinstance(loaded, dict):
            events.append(loaded)
    return events, offset + len(complete)
