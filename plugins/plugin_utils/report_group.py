# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Group a task's host results by (status, rc, output), pick the baseline and diff the other groups against it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import STATUS_RANK, truncate_output
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_fold import fold_hosts, host_sort_key, sort_hosts

# Among groups of equal size, a successful one is the better baseline.
_BASELINE_PREFERENCE = {"ok": 0, "changed": 0, "selected": 0, "skipped": 1}


def group_results(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Group result dicts by (status, rc, output, no_log); largest first, then successes, then by first host."""
    buckets: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for result in results:
        key = (result["status"], result.get("rc"), result.get("output"), bool(result.get("no_log")))
        buckets.setdefault(key, []).append(result)
    groups = []
    for (status, rc, output, no_log), members in buckets.items():
        hosts = sort_hosts(r["host"] for r in members)
        groups.append(
            {
                "status": status,
                "rc": rc,
                "output": output,
                "no_log": no_log,
                "hosts": hosts,
                "nodeset": fold_hosts(hosts),
                "count": len(hosts),
                "reasons": _fold_reasons(members),
                "baseline": False,
                "diff": None,
            }
        )
    groups.sort(key=lambda g: (-g["count"], _BASELINE_PREFERENCE.get(g["status"], 2), g["hosts"][0]))
    return groups


def _fold_reasons(members: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    by_reason: dict[str, list[str]] = {}
    for member in members:
        if member.get("reason"):
            by_reason.setdefault(member["reason"], []).append(member["host"])
    reasons = [
        {"reason": reason, "hosts": sort_hosts(hosts), "nodeset": fold_hosts(hosts)}
        for reason, hosts in by_reason.items()
    ]
    return sorted(reasons, key=lambda r: (-len(r["hosts"]), r["reason"]))


def diff_groups(
    groups: list[dict[str, Any]], outputs: Mapping[str, Mapping[str, Any]], context: int = 3, max_size: int = 65536
) -> list[dict[str, Any]]:
    """Mark the first group as baseline and give every other group a unified diff against it (clush --diff)."""
    if not groups:
        return groups
    baseline = groups[0]
    baseline["baseline"] = True
    base_lines = _lines(baseline, outputs)
    for group in groups[1:]:
        # No output (unreachable, no_log) is not a change worth a diff; the status and reasons say it.
        if group["output"] is None or baseline["no_log"] or group["output"] == baseline["output"]:
            continue
        diff = difflib.unified_diff(
            base_lines,
            _lines(group, outputs),
            fromfile=baseline["nodeset"],
            tofile=group["nodeset"],
            n=context,
            lineterm="",
        )
        group["diff"] = truncate_output("\n".join(diff), max_size)[0]
    return groups


def _lines(group: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    entry = outputs.get(group["output"]) if group["output"] else None
    # Lines end at newlines only (str.splitlines would also cut at \r, \x1c, \x85, ... that hosts print).
    return entry["text"].rstrip("\n").split("\n") if entry and entry["text"] else []


def count_statuses(statuses: Iterable[str]) -> dict[str, int]:
    """Count statuses, in the fixed order of STATUS_RANK, leaving out zeros."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    ordered = {status: counts.pop(status) for status in STATUS_RANK if status in counts}
    return ordered | dict(sorted(counts.items()))


def build_task_entry(
    task: Mapping[str, Any],
    results: list[dict[str, Any]],
    outputs: Mapping[str, Mapping[str, Any]],
    context: int = 3,
    max_size: int = 65536,
) -> dict[str, Any]:
    """Build a task's report entry: counts, groups with folded hosts and diffs, and the per-host results."""
    results = sorted(results, key=lambda r: host_sort_key(r["host"]))
    groups = diff_groups(group_results(results), outputs, context, max_size)
    return {
        "id": task["id"],
        "name": task["name"],
        "play": task.get("play", ""),
        "path": task.get("path", ""),
        "kind": task.get("kind", "task"),
        "hosts": len(results),
        "counts": count_statuses(r["status"] for r in results),
        "groups": groups,
        "results": results,
    }


def summarize_hosts(tasks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Give each host its overall status: the worst of its results (ignored failures count as ok)."""
    rank = {status: index for index, status in enumerate(STATUS_RANK)}
    unknown = rank["ok"] - 1  # a status this version does not know still outranks success
    hosts: dict[str, dict[str, Any]] = {}
    for task in tasks:
        for result in task["results"]:
            status = "ok" if result.get("ignored") else result["status"]
            entry = hosts.setdefault(
                result["host"], {"host": result["host"], "status": status, "attempts": None, "reasons": []}
            )
            if rank.get(status, unknown) < rank.get(entry["status"], unknown):
                entry["status"] = status
            if result.get("attempts") is not None:
                entry["attempts"] = max(entry["attempts"] or 0, result["attempts"])
            if result.get("reason") and status not in ("ok", "changed", "skipped", "selected"):
                reason = f"{task['name']}: {result['reason']}"
                if reason not in entry["reasons"]:
                    entry["reasons"].append(reason)
    return [hosts[name] for name in sort_hosts(hosts)]


def hosts_by_status(report: Mapping[str, Any]) -> dict[str, str]:
    """Map each overall status of a report to its folded host set (what the counts line and the CLI show)."""
    grouped: dict[str, list[str]] = {}
    for host in report["hosts"]:
        grouped.setdefault(host["status"], []).append(host["host"])
    return {status: fold_hosts(hosts) for status, hosts in grouped.items()}
