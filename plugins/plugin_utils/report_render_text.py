# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a report for a terminal, like ``clush -b --diff``: gathered groups, diffs, a failure summary, counts.

The summary stays short whatever the fleet size (largest groups first, a bounded number of groups and lines), and
every text that came from a host is neutralised: no terminal escape sequence reaches the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_fold import fold_hosts

_SEPARATOR = "-" * 15
_STATUS_COLOR = {
    "ok": "32",
    "changed": "33",
    "selected": "32",
    "skipped": "36",
    "failed": "31",
    "timeout": "31",
    "unreachable": "31",
    "interrupted": "31",
    "blocked": "35",
    "not_started": "35",
    "gated": "35",
    "unmeasurable": "35",
    "not_selected": "35",
}
_SUCCESS = ("ok", "changed", "skipped", "selected")
# Defaults of the bounded summary (the callback options summary_max_groups / summary_max_lines document them).
SUMMARY_MAX_GROUPS = 4
SUMMARY_MAX_LINES = 8
# Terminal control characters a host could print to move the cursor, set the title or the clipboard (OSC), or
# hide text: every C0 control but newline and tab, DEL, the C1 controls and the bidi overrides are shown escaped.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROLS |= {c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def neutralize(text: Any) -> str:
    """Text from hosts made safe for a terminal: control characters (ESC, CSI, OSC, NUL, CR...) shown escaped."""
    return str(text).translate(_CONTROLS)


class _Paint:
    """Colour codes, or plain ``%s`` when colour is off, so there is one code path (as in clush)."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color and code else text

    def status(self, status: str) -> str:
        return self(_STATUS_COLOR.get(status, ""), neutralize(status))


def render_text(
    report: Mapping[str, Any],
    color: bool = False,
    max_lines: int | None = SUMMARY_MAX_LINES,
    max_groups: int | None = SUMMARY_MAX_GROUPS,
    *,
    full: bool = False,
    see: str | None = None,
) -> str:
    """Render the report as a terminal summary, like ``clush -b --diff``.

    By default it stays short whatever the fleet size: per task the ``max_groups`` largest groups, each output or
    diff cut to ``max_lines`` lines, then a "... M more groups" line naming ``see`` (the report file). The failed
    hosts (folded per task and status), the run's health and the counts line are always shown. ``full`` prints
    every group and whole outputs. Text from hosts is neutralised (no terminal escape sequences get through).
    """
    if full:
        max_lines = max_groups = None
    paint = _Paint(color)
    out: list[str] = []
    state = "complete" if report["complete"] else "INCOMPLETE"
    if report.get("interrupted"):
        state = f"INTERRUPTED by {neutralize(report['interrupted'])}"
    out.append(paint("1", f"FLEET REPORT {neutralize(report['name'])} ({state})"))
    for task in report["tasks"]:
        out.extend(_render_task(task, report["outputs"], paint, max_lines, max_groups, see))
    out.extend(drift_lines(report.get("drift"), max_groups, see))
    out.append("")
    out.extend(_failure_lines(report, paint, max_groups, see))
    out.append(counts_line(report, paint))
    return "\n".join(out) + "\n"


def counts_line(report: Mapping[str, Any], paint: _Paint | None = None) -> str:
    """The closing line: host total and the count of hosts per overall status."""
    paint = paint or _Paint(False)
    parts = [f"{paint.status(status)}={count}" for status, count in report["counts"].items()]
    return f"HOSTS {len(report['hosts'])}: " + (" ".join(parts) if parts else "none")


def _render_task(
    task: Mapping[str, Any],
    outputs: Mapping[str, Any],
    paint: _Paint,
    max_lines: int | None,
    max_groups: int | None,
    see: str | None,
) -> list[str]:
    counts = " ".join(f"{paint.status(s)}={n}" for s, n in task["counts"].items())
    title = neutralize(f"{task['play']}: {task['name']}" if task.get("play") else task["name"])
    lines = ["", paint("1", f"TASK [{title}]") + f" {task['hosts']} hosts: {counts}"]
    groups = task["groups"]
    shown = groups if max_groups is None else groups[:max_groups]
    has_diff = any(g["diff"] is not None for g in groups)
    for group in shown:
        size = f" ({group['count']})" if group["count"] > 1 else ""
        rc = f" rc={group['rc']}" if group["rc"] is not None else ""
        label = paint("1;34", neutralize(group["nodeset"])) + size + "  " + paint.status(group["status"]) + rc
        if group["baseline"] and has_diff:
            label += "  [baseline]"
        lines += [_SEPARATOR, label, _SEPARATOR]
        lines += _group_body(group, outputs, paint, max_lines)
        reasons = group["reasons"]
        for reason in _cap_items(reasons, max_lines):
            lines.append(f"  {neutralize(reason['nodeset'])}: {neutralize(reason['reason'])}")
        if max_lines is not None and len(reasons) > max_lines:
            lines.append(f"  ... {len(reasons) - max_lines} more reasons{_see(see)}")
    if len(shown) < len(groups):
        hidden = groups[len(shown) :]
        hosts = sum(g["count"] for g in hidden)
        lines.append(f"... {len(hidden)} more groups ({hosts} hosts){_see(see)}")
    return lines


def _see(see: str | None) -> str:
    return f" (see {neutralize(see)})" if see else " (see the report files)"


def _cap_items(items: list[Any], limit: int | None) -> list[Any]:
    return items if limit is None else items[:limit]


def _group_body(
    group: Mapping[str, Any], outputs: Mapping[str, Any], paint: _Paint, max_lines: int | None
) -> list[str]:
    if group["no_log"]:
        return ["(output hidden: no_log)"]
    if group["diff"] is not None:
        return [_paint_diff(line, paint) for line in _cap(_lines(group["diff"]), max_lines)]
    entry = outputs.get(group["output"]) if group["output"] else None
    if entry is None:
        return []
    if not group["baseline"]:
        return ["(same output as the baseline)"]
    return _cap(_lines(entry["text"]), max_lines)


def _lines(text: str) -> list[str]:
    # Neutralised first, then split on newlines only: a carriage return shows as \x0d instead of breaking a line.
    return neutralize(text).rstrip("\n").split("\n")


def _paint_diff(line: str, paint: _Paint) -> str:
    if line.startswith(("+++", "---")):
        return paint("1", line)
    if line.startswith("@@"):
        return paint("36", line)
    if line.startswith("+"):
        return paint("32", line)
    if line.startswith("-"):
        return paint("31", line)
    return line


def _cap(lines: list[str], max_lines: int | None) -> list[str]:
    if max_lines is None or len(lines) <= max_lines:
        return lines
    return lines[:max_lines] + [f"[... {len(lines) - max_lines} more lines in the report files ...]"]


def _failure_lines(report: Mapping[str, Any], paint: _Paint, max_groups: int | None, see: str | None) -> list[str]:
    lines = []
    for task in report["tasks"]:
        failed: dict[str, list[Mapping[str, Any]]] = {}
        for group in task["groups"]:
            if group["status"] not in _SUCCESS:
                failed.setdefault(group["status"], []).append(group)
        for status, groups in failed.items():
            hosts = [h for g in groups for h in g["hosts"]]
            what = paint.status(status)
            codes = sorted({g["rc"] for g in groups if isinstance(g["rc"], int)})
            if len(codes) == 1:
                what += f": exited with exit code {codes[0]}"
            elif codes:
                what += f": exited with exit codes {', '.join(map(str, codes))}"
            size = f" ({len(hosts)})" if len(hosts) > 1 else ""
            lines.append(f"fleet: {neutralize(fold_hosts(hosts))}{size}: {neutralize(task['name'])}: {what}")
    lines += _error_lines(report.get("errors", []), paint, max_groups)
    return lines + run_lines(report, paint, max_groups, see)


def _error_lines(errors: list[Mapping[str, Any]], paint: _Paint, max_groups: int | None) -> list[str]:
    if max_groups is None:
        return [f"fleet: {neutralize(e['host'])}: {neutralize(e['task'])}: {error_text(e, paint)}" for e in errors]
    # Folded per task, status and ignored: a quiet task failing on every host is one line, with its first reason.
    folded: dict[tuple[str, str, bool], list[Mapping[str, Any]]] = {}
    for error in errors:
        folded.setdefault((error["task"], error["status"], bool(error.get("ignored"))), []).append(error)
    lines = []
    for (task, _status, _ignored), members in folded.items():
        hosts = [e["host"] for e in members]
        size = f" ({len(hosts)})" if len(hosts) > 1 else ""
        others = len({e.get("reason") for e in members}) - 1
        more = f" (+{others} other reasons)" if others > 0 else ""
        lines.append(
            f"fleet: {neutralize(fold_hosts(hosts))}{size}: {neutralize(task)}: {error_text(members[0], paint)}{more}"
        )
    return lines


def run_lines(
    report: Mapping[str, Any], paint: _Paint | None = None, max_items: int | None = None, see: str | None = None
) -> list[str]:
    """Lines for the run's own health: refused input, nothing selected, internal errors (nothing when healthy)."""
    paint = paint or _Paint(False)
    run = report.get("run") or {}
    lines = [f"fleet: {paint('31', 'refused')}: {neutralize(line)}" for line in run.get("refused", [])]
    if run.get("nothing_selected"):
        empty = run["nothing_selected"]
        targets = neutralize(repr(empty["targets"]))
        lines.append(f"fleet: {paint('35', 'nothing selected')} in {targets}: {neutralize(empty['reason'])}")
    errors = run.get("internal_errors", [])
    for error in _cap_items(errors, max_items):
        where = f"{neutralize(error['host'])}: {neutralize(error['task'])}"
        lines.append(f"fleet: {paint('31', 'internal error')}: {where}: {neutralize(error['error'])}")
    if max_items is not None and len(errors) > max_items:
        lines.append(f"fleet: ... {len(errors) - max_items} more internal errors{_see(see)}")
    if errors:
        lines.append("fleet: the run is incomplete: the report may miss or misstate results of the hosts named above")
    return lines


def drift_lines(drift: Mapping[str, Any] | None, max_items: int | None = None, see: str | None = None) -> list[str]:
    """The "changed since <run>" section: per task, the hosts whose output or status changed, appeared or left."""
    if not drift:
        return []
    lines = ["", f"CHANGED SINCE {neutralize(drift['compared_to'])}: " + _drift_summary(drift)]
    for task in _cap_items(drift["tasks"], max_items):
        parts = []
        for kind in ("changed", "appeared", "disappeared"):
            hosts = [h["host"] for h in task[kind]]
            if hosts:
                parts.append(f"{kind} {neutralize(fold_hosts(hosts))}")
        title = f"{task['play']}: {task['name']}" if task.get("play") else task["name"]
        lines.append(f"  {neutralize(title)}: " + "; ".join(parts))
    if max_items is not None and len(drift["tasks"]) > max_items:
        lines.append(f"  ... {len(drift['tasks']) - max_items} more tasks with drift{_see(see)}")
    return lines


def _drift_summary(drift: Mapping[str, Any]) -> str:
    if not drift["tasks"]:
        return "no drift"
    hosts = drift["hosts"]
    return f"{len(hosts)} host{'s' if len(hosts) != 1 else ''} drifted ({neutralize(fold_hosts(hosts))})"


def error_text(error: Mapping[str, Any], paint: _Paint | None = None) -> str:
    """How a quiet task's failure reads after its host and task: status, whether ignored, and why."""
    paint = paint or _Paint(False)
    text = paint.status(error["status"]) + " (internal task" + (", ignored)" if error.get("ignored") else ")")
    return text + (f": {neutralize(error['reason'])}" if error.get("reason") else "")
