# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a report as Markdown: a summary table, then each task's groups with outputs and diffs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_render_text import error_text


def render_markdown(report: Mapping[str, Any]) -> str:
    """Render the whole report as a Markdown document (blocks separated by one blank line)."""
    blocks = [f"# Fleet report {_code(report['name'])}"]
    if report.get("interrupted"):
        blocks.append(f"**Interrupted by {report['interrupted']}**: hosts still running are marked `interrupted`.")
    elif (report.get("run") or {}).get("internal_errors"):
        blocks.append("**Incomplete**: internal errors (listed below) may have hidden or misstated results.")
    elif not report["complete"]:
        blocks.append("**Incomplete**: the run ended before its summary.")
    counts = ", ".join(f"{status} {count}" for status, count in report["counts"].items()) or "none"
    blocks.append(f"Hosts: {len(report['hosts'])} ({counts})")
    blocks += [f"> Warning: {_inline(warning)}" for warning in report.get("warnings", [])]
    if report.get("errors"):
        blocks.append("Failures of internal tasks:")
        blocks.append(
            "\n".join(f"- {_code(e['host'])}: {_inline(e['task'])}: {_inline(error_text(e))}" for e in report["errors"])
        )
    blocks += _run_blocks(report.get("run") or {})
    table = ["| Task | Hosts | Statuses | Groups |", "|---|---:|---|---:|"]
    for task in report["tasks"]:
        statuses = ", ".join(f"{s} {n}" for s, n in task["counts"].items())
        table.append(f"| {_inline(_title(task))} | {task['hosts']} | {statuses} | {len(task['groups'])} |")
    blocks.append("\n".join(table))
    blocks += _drift_blocks(report.get("drift"))
    for task in report["tasks"]:
        blocks.append(f"## {_inline(_title(task))}")
        has_diff = any(g["diff"] is not None for g in task["groups"])
        for group in task["groups"]:
            blocks += _group(group, report["outputs"], has_diff)
    return "\n\n".join(blocks) + "\n"


def _run_blocks(run: Mapping[str, Any]) -> list[str]:
    blocks = []
    if run.get("refused"):
        blocks.append("Input refused (nothing ran):")
        blocks.append("\n".join(f"- {_inline(line)}" for line in run["refused"]))
    if run.get("nothing_selected"):
        empty = run["nothing_selected"]
        blocks.append(f"Nothing selected in {_code(empty['targets'])}: {_inline(empty['reason'])}")
    if run.get("internal_errors"):
        blocks.append("Internal errors:")
        blocks.append(
            "\n".join(
                f"- {_code(e['host'])}: {_inline(e['task'])}: {_inline(e['error'])}" for e in run["internal_errors"]
            )
        )
    return blocks


def _drift_blocks(drift: Mapping[str, Any] | None) -> list[str]:
    if not drift:
        return []
    since = _inline(str(drift["compared_to"]))
    if not drift["tasks"]:
        return [f"## Changed since {since}", f"No drift in {drift['tasks_compared']} tasks compared."]
    blocks = [f"## Changed since {since}", f"Hosts with drift: {', '.join(_code(h) for h in drift['hosts'])}"]
    for task in drift["tasks"]:
        items = [
            f"- {_code(c['host'])}: {_inline(c['before']['status'])} -> {_inline(c['after']['status'])}"
            + (", output changed" if c["diff"] else "")
            for c in task["changed"]
        ]
        items += [f"- {_code(a['host'])}: appeared ({_inline(a['after']['status'])})" for a in task["appeared"]]
        items += [f"- {_code(d['host'])}: disappeared" for d in task["disappeared"]]
        blocks += [f"### {_inline(_title(task))}", "\n".join(items)]
        blocks += [_fence(c["diff"], "diff") for c in task["changed"] if c["diff"]]
    return blocks + [f"> Warning: {_inline(w)}" for w in drift.get("warnings", [])]


def _title(task: Mapping[str, Any]) -> str:
    return f"{task['play']}: {task['name']}" if task.get("play") else task["name"]


def _group(group: Mapping[str, Any], outputs: Mapping[str, Any], has_diff: bool) -> list[str]:
    rc = f", rc {group['rc']}" if group["rc"] is not None else ""
    role = " (baseline)" if group["baseline"] and has_diff else ""
    blocks = [f"### {_code(group['nodeset'])} ({group['count']}): {group['status']}{rc}{role}"]
    if group["reasons"]:
        blocks.append("\n".join(f"- {_code(r['nodeset'])}: {_inline(r['reason'])}" for r in group["reasons"]))
    entry = outputs.get(group["output"]) if group["output"] else None
    if group["no_log"]:
        blocks.append("_Output hidden (no\\_log)._")
    elif group["diff"] is not None:
        blocks.append(_fence(group["diff"], "diff"))
    elif entry is not None and not group["baseline"]:
        blocks.append("_Same output as the baseline._")
    elif entry is not None:
        blocks.append(_fence(entry["text"], "text"))
    return blocks


def _fence(text: str, lang: str) -> str:
    # The fence must be longer than any backtick run inside, or the output would close it.
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip(chr(10))}\n{fence}"


def _code(text: Any) -> str:
    """An inline code span that no backtick run inside can close (CommonMark: a longer fence, space padding)."""
    text = str(text).replace("\r", " ").replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# What opens a block when a line (or a list item's text) starts with it: a rule (``- --``), a heading, a quote, a
# list, a code fence. Escaped there, the text stays text wherever it lands.
_BLOCK_START = re.compile(r"^(\s*)(?:([-+>]|#{1,6}(?=\s|$)|~{3})|(\d{1,9})([.)])(?=\s|$))")


def _inline(text: str) -> str:
    text = re.sub(r"([\\`*_<\[\]|])", r"\\\1", text.replace("\n", " "))
    return _BLOCK_START.sub(lambda m: m[1] + (f"\\{m[2]}" if m[2] else f"{m[3]}\\{m[4]}"), text, count=1)
