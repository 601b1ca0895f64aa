# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a report for a terminal, like ``clush -b --diff``: gathered groups, diffs, a failure summary, counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


class _Paint:
    """Colour codes, or plain ``%s`` when colour is off, so there is one code path (as in clush)."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color and code else text

    def status(self, status: str) -> str:
        return self(_STATUS_COLOR.get(status, ""), status)


def render_text(report: Mapping[str, Any], color: bool = False, max_lines: int | None = None) -> str:
    """Render the whole report as terminal text; ``max_lines`` caps each output or diff block."""
    paint = _Paint(color)
    out: list[str] = []
    state = "complete" if report["complete"] else "INCOMPLETE"
    if report.get("interrupted"):
        state = f"INTERRUPTED by {report['interrupted']}"
    out.append(paint("1", f"FLEET REPORT {report['name']} ({state})"))
    for task in report["tasks"]:
        out.extend(_render_task(task, report["outputs"], paint, max_lines))
    out.append("")
    out.extend(_failure_lines(report, paint))
    out.append(counts_line(report, paint))
    return "\n".join(out) + "\n"


def counts_line(report: Mapping[str, Any], paint: _Paint | None = None) -> str:
    """The closing line: host total and the count of hosts per overall status."""
    paint = paint or _Paint(False)
    parts = [f"{paint.status(status)}={count}" for status, count in report["counts"].items()]
    return f"HOSTS {len(report['hosts'])}: " + (" ".join(parts) if parts else "none")


def _render_task(
    task: Mapping[str, Any], outputs: Mapping[str, Any], paint: _Paint, max_lines: int | None
) -> list[str]:
    counts = " ".join(f"{paint.status(s)}={n}" for s, n in task["counts"].items())
    title = f"{task['play']}: {task['name']}" if task.get("play") else task["name"]
    lines = ["", paint("1", f"TASK [{title}]") + f" {task['hosts']} hosts: {counts}"]
    for group in task["groups"]:
        size = f" ({group['count']})" if group["count"] > 1 else ""
        rc = f" rc={group['rc']}" if group["rc"] is not None else ""
        label = paint("1;34", group["nodeset"]) + size + "  " + paint.status(group["status"]) + rc
        if group["baseline"] and any(g["diff"] is not None for g in task["groups"]):
            label += "  [baseline]"
        lines += [_SEPARATOR, label, _SEPARATOR]
        lines += _group_body(group, outputs, paint, max_lines)
        for reason in group["reasons"]:
            lines.append(f"  {reason['nodeset']}: {reason['reason']}")
    return lines


def _group_body(
    group: Mapping[str, Any], outputs: Mapping[str, Any], paint: _Paint, max_lines: int | None
) -> list[str]:
    if group["no_log"]:
        return ["(output hidden: no_log)"]
    if group["diff"] is not None:
        return [_paint_diff(line, paint) for line in _cap(group["diff"].splitlines(), max_lines)]
    entry = outputs.get(group["output"]) if group["output"] else None
    if entry is None:
        return []
    if not group["baseline"]:
        return ["(same output as the baseline)"]
    return _cap(entry["text"].splitlines(), max_lines)


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


def _failure_lines(report: Mapping[str, Any], paint: _Paint) -> list[str]:
    lines = []
    for task in report["tasks"]:
        for group in task["groups"]:
            if group["status"] in _SUCCESS:
                continue
            what = paint.status(group["status"])
            if group["rc"] is not None:
                what += f": exited with exit code {group['rc']}"
            size = f" ({group['count']})" if group["count"] > 1 else ""
            lines.append(f"fleet: {group['nodeset']}{size}: {task['name']}: {what}")
    for error in report.get("errors", []):
        lines.append(f"fleet: {error['host']}: {error['task']}: {error_text(error, paint)}")
    return lines + run_lines(report, paint)


def run_lines(report: Mapping[str, Any], paint: _Paint | None = None) -> list[str]:
    """Lines for the run's own health: refused input, nothing selected, internal errors (nothing when healthy)."""
    paint = paint or _Paint(False)
    run = report.get("run") or {}
    lines = [f"fleet: {paint('31', 'refused')}: {line}" for line in run.get("refused", [])]
    if run.get("nothing_selected"):
        empty = run["nothing_selected"]
        lines.append(f"fleet: {paint('35', 'nothing selected')} in {empty['targets']!r}: {empty['reason']}")
    for error in run.get("internal_errors", []):
        lines.append(f"fleet: {paint('31', 'internal error')}: {error['host']}: {error['task']}: {error['error']}")
    if run.get("internal_errors"):
        lines.append("fleet: the run is incomplete: the report may miss or misstate results of the hosts named above")
    return lines


def error_text(error: Mapping[str, Any], paint: _Paint | None = None) -> str:
    """How a quiet task's failure reads after its host and task: status, whether ignored, and why."""
    paint = paint or _Paint(False)
    text = paint.status(error["status"]) + " (internal task" + (", ignored)" if error.get("ignored") else ")")
    return text + (f": {error['reason']}" if error.get("reason") else "")
