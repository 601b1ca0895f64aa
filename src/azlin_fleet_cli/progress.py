"""Live progress from the report callback's events file (JSON lines: plan and result events, docs/events.md)."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from azlin_fleet_cli.outcome import CONTROLLER_HOST

FAILURE_STATUSES = frozenset({"failed", "unreachable", "timeout", "blocked"})
POLL_SECONDS = 0.2


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
            planned = {h for h in event.get("hosts", []) if isinstance(h, str) and h != CONTROLLER_HOST}
            # Controller-only or empty plays keep the total; a new plan (e.g. after routing) restarts the count,
            # so probe results do not pass for the command's.
            if planned and planned != self.plan:
                self.plan, self.total = planned, len(planned)
                self.hosts = set()
            return
        if event.get("event", "result") != "result":
            return
        host = str(event.get("host", ""))
        if not host or host == CONTROLLER_HOST:
            return
        status = str(event.get("status", ""))
        if status in FAILURE_STATUSES:
            self.failed.add(host)
        if not self.plan or host in self.plan:
            self.hosts.add(host)
        self.last = f"{event.get('task', '')}: {host} {status}".strip()

    def describe(self) -> str:
        """One status line: hosts done/total, failures so far, the last event."""
        done = f"{len(self.hosts)}/{self.total}" if self.total else str(len(self.hosts))
        return f"hosts {done} · failed {len(self.failed)} · {self.last or 'starting'}"


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


def watch_events(child: subprocess.Popen[bytes], events_file: Path, *, enabled: bool, stream: TextIO) -> RunProgress:
    """Wait for the child, showing a live status line on ``stream`` when enabled (a TTY)."""
    progress = RunProgress()
    if not enabled:
        child.wait()
        return progress
    from rich.console import Console
    from rich.status import Status

    offset = 0
    console = Console(file=stream)
    with Status("starting", console=console) as status:
        while child.poll() is None:
            time.sleep(POLL_SECONDS)
            events, offset = read_new_events(events_file, offset)
            for event in events:
                progress.add(event)
            status.update(progress.describe())
    return progress
