"""Reading the callback's events file while it is being written."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from azlin_fleet_cli.progress import ProgressLine, RunProgress, read_new_events, render_line
from azlin_fleet_cli.terminal import printable


def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"host": "web-1", "status": "ok"}) + "\n" + '{"host": "web-2", "sta')
    first, offset = read_new_events(events, 0)
    assert [e["host"] for e in first] == ["web-1"]
    with open(events, "a") as handle:
        handle.write('tus": "failed"}\n')
    second, offset2 = read_new_events(events, offset)
    assert second == [{"host": "web-2", "status": "failed"}]
    assert offset2 == events.stat().st_size


def test_missing_file_is_no_events(tmp_path: Path) -> None:
    assert read_new_events(tmp_path / "absent", 7) == ([], 7)


def test_progress_counts_hosts_and_failures() -> None:
    progress = RunProgress()
    for event in (
        {"host": "localhost", "task": "validate", "status": "failed"},  # the controller play is not a target
        {"host": "web-1", "task": "probe", "status": "ok"},
        {"host": "web-1", "task": "run", "status": "changed"},
        {"host": "web-2", "task": "run", "status": "failed"},
        {"host": "web-3", "task": "run", "status": "unreachable"},
    ):
        progress.add(event)
    assert progress.describe() == "hosts 3 · failed 2 · run: web-3 unreachable"


def test_plan_lines_set_the_total_and_routing_restarts_the_count() -> None:
    progress = RunProgress()
    progress.add({"event": "plan", "source": "play", "play": "run", "hosts": ["web-1", "web-2", "web-3", "ci-1"]})
    for host in ("web-1", "web-2", "web-3", "ci-1"):  # the probe reports every targeted host
        progress.add({"event": "result", "host": host, "task": "probe", "status": "ok"})
    assert progress.describe().startswith("hosts 4/4 · failed 0")
    # Routing keeps two hosts: the count starts again for the command itself.
    progress.add({"event": "plan", "source": "route", "hosts": ["web-2", "web-1"]})
    assert progress.describe().startswith("hosts 0/2 · failed 0")
    progress.add({"event": "result", "host": "web-2", "task": "run", "status": "failed"})
    progress.add({"event": "result", "host": "ci-1", "task": "late probe", "status": "ok"})  # not in the plan
    assert progress.describe() == "hosts 1/2 · failed 1 · late probe: ci-1 ok"
    # The same plan again, or a controller-only play, changes nothing.
    progress.add({"event": "plan", "source": "route", "hosts": ["web-1", "web-2"]})
    progress.add({"event": "plan", "source": "play", "play": "judge", "hosts": ["localhost"]})
    assert progress.describe().startswith("hosts 1/2 · failed 1")


def test_live_line_shows_bar_counts_failures_elapsed() -> None:
    progress = RunProgress()
    progress.add({"event": "plan", "source": "play", "play": "run", "hosts": ["web-1", "web-2", "web-3", "web-4"]})
    progress.add({"event": "result", "host": "web-1", "task": "step:build", "status": "ok"})
    progress.add({"event": "result", "host": "web-2", "task": "step:build", "status": "failed"})
    line = render_line(progress, 75.4, 200)
    assert line == "[##########..........] hosts 2/4 · failed 1 · step:build: web-2 failed · 1:15"
    assert render_line(progress, 3, 200, cancelling="SIGTERM").startswith("[##########..........] cancelling (SIGTERM)")
    assert len(render_line(progress, 3, 30)) == 29


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("crash[/]vm", id="rich-markup"),
        pytest.param("[bold red]x[/bold red]", id="markup-tags"),
        pytest.param("evil\x1b]0;pwned\x07vm", id="osc-title"),
        pytest.param("evil\x1b[2J\x1b[Hvm", id="clear-screen"),
        pytest.param("nul\x00\x9bvm", id="nul-and-c1"),
    ],
)
def test_hostile_host_names_are_shown_not_obeyed(host: str) -> None:
    stream = io.StringIO()
    line = ProgressLine(stream)
    line.update([{"event": "plan", "hosts": [host]}, {"event": "result", "host": host, "task": "t", "status": "ok"}])
    line.close()
    written = stream.getvalue()
    # Only the line's own redraw sequence reaches the terminal; the name is visible text.
    assert written.replace("\r\x1b[2K", "").isprintable()
    assert printable(host) in written
    if "[" in host and "\x1b" not in host:
        assert host in written  # markup-looking text is printed as it is
