# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift: what changed between an earlier report and this one, per task and host.

Tasks are matched by play and name (routing plans are not compared: they change with the load). For each task in
both reports, a host present in both drifted when its status, return code or normalised output changed; hosts
only in the new report appeared, hosts only in the old one disappeared. Outputs are compared by their keys (the
hash of the masked, host-normalised text), so the comparison is only as exact as both reports' output options
agree; when they differ, the drift says so in ``warnings``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import truncate_output
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_fold import sort_hosts

# Options that change what an output key means: reports differing there compare unequal outputs.
_OUTPUT_OPTIONS = ("ignore_patterns", "ignore_whitespace", "include_stderr", "normalize_hosts")
_MAX_DIFF = 4096


def compare_reports(before: Mapping[str, Any], after: Mapping[str, Any], context: int = 1) -> dict[str, Any]:
    """Compare two report dicts; return the ``drift`` object of ``after`` (see docs/report-schema.json)."""
    warnings = []
    changed_options = [
        key
        for key in _OUTPUT_OPTIONS
        if (before.get("options") or {}).get(key) != (after.get("options") or {}).get(key)
    ]
    if changed_options:
        warnings.append(
            f"The reports were written with different output options ({', '.join(changed_options)}); "
            "outputs that look the same may show as changed."
        )
    old_tasks = _tasks_by_key(before)
    new_tasks = _tasks_by_key(after)
    tasks = []
    drifted: set[str] = set()
    for key, new in new_tasks.items():
        old = old_tasks.get(key)
        if old is None:
            continue
        entry = _compare_task(old, new, before.get("outputs") or {}, after.get("outputs") or {}, context)
        if entry["changed"] or entry["appeared"] or entry["disappeared"]:
            tasks.append(entry)
            drifted.update(h["host"] for kind in ("changed", "appeared", "disappeared") for h in entry[kind])
    return {
        "compared_to": str(before.get("name", "")),
        "compared_started": before.get("started"),
        "tasks_compared": sum(1 for key in new_tasks if key in old_tasks),
        "tasks_only_before": [_label(key) for key in old_tasks if key not in new_tasks],
        "tasks_only_after": [_label(key) for key in new_tasks if key not in old_tasks],
        "hosts": sort_hosts(drifted),
        "tasks": tasks,
        "warnings": warnings,
    }


def has_drift(drift: Mapping[str, Any] | None) -> bool:
    """Tell whether a drift object names any host that changed, appeared or disappeared."""
    return bool(drift and drift.get("hosts"))


def _tasks_by_key(report: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    tasks: dict[tuple[str, str], Mapping[str, Any]] = {}
    for task in report.get("tasks") or []:
        if task.get("kind") != "plan":
            tasks.setdefault((str(task.get("play", "")), str(task.get("name", ""))), task)
    return tasks


def _label(key: tuple[str, str]) -> str:
    return f"{key[0]}: {key[1]}" if key[0] else key[1]


def _compare_task(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    old_outputs: Mapping[str, Any],
    new_outputs: Mapping[str, Any],
    context: int,
) -> dict[str, Any]:
    before = {r["host"]: r for r in old.get("results") or []}
    after = {r["host"]: r for r in new.get("results") or []}
    changed = []
    for host in sort_hosts(set(before) & set(after)):
        was, now = before[host], after[host]
        if (was["status"], was.get("rc"), was.get("output")) == (now["status"], now.get("rc"), now.get("output")):
            continue
        item = {"host": host, "before": _state(was), "after": _state(now), "diff": None}
        if was.get("output") != now.get("output"):
            item["diff"] = _diff(
                host, old_outputs.get(was.get("output") or ""), new_outputs.get(now.get("output") or ""), context
            )
        changed.append(item)
    return {
        "name": str(new.get("name", "")),
        "play": str(new.get("play", "")),
        "kind": str(new.get("kind", "task")),
        "changed": changed,
        "appeared": [{"host": h, "after": _state(after[h])} for h in sort_hosts(set(after) - set(before))],
        "disappeared": [{"host": h, "before": _state(before[h])} for h in sort_hosts(set(before) - set(after))],
    }


def _state(result: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": result["status"], "rc": result.get("rc"), "output": result.get("output")}


def _diff(host: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, context: int) -> str | None:
    old_lines = _lines(old)
    new_lines = _lines(new)
    if old is None and new is None:
        return None
    text = "\n".join(
        difflib.unified_diff(
            old_lines, new_lines, fromfile=f"{host} before", tofile=f"{host} now", n=context, lineterm=""
        )
    )
    return truncate_output(text, _MAX_DIFF)[0]


def _lines(entry: Mapping[str, Any] | None) -> list[str]:
    text = entry.get("text") if entry else None
    return text.rstrip("\n").split("\n") if isinstance(text, str) and text else []
