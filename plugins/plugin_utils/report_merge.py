# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge several JSON reports (runs, AWX job slices) into one, regrouped across all their hosts.

Command form (the azlin-fleet CLI offers ``azlin-fleet report merge``)::

    python -m ansible_collections.azlin.fleet.plugins.plugin_utils.report_merge -o DIR [-n NAME] a.json b.json
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError, FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report import (
    FILE_FORMATS,
    assemble_report,
    build_task_entry,
    empty_run,
    load_report,
    plan_task_entry,
    write_report,
)

DEFAULT_MERGED_NAME = "fleet-report-merged"


def merge_reports(paths: Iterable[str | os.PathLike[str]], name: str = DEFAULT_MERGED_NAME) -> dict[str, Any]:
    """Load the JSON reports at ``paths`` and merge them into one regrouped report."""
    paths = list(paths)
    if not paths:
        raise FleetUsageError("Report merge", "no report files given", "Pass one or more .json reports.")
    return merge_report_dicts([load_report(path) for path in paths], name=name)


def merge_report_dicts(reports: list[Mapping[str, Any]], name: str = DEFAULT_MERGED_NAME) -> dict[str, Any]:
    """Merge report dicts: tasks matched by play, path and name; a host seen twice keeps its later result."""
    warnings: list[str] = []
    errors: list[dict[str, Any]] = []
    options = dict(reports[0]["options"]) if reports else {}
    outputs: dict[str, Any] = {}
    plans: list[Any] = []
    tasks: dict[tuple[str, str, str], dict[str, Any]] = {}
    results: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for report in reports:
        if _comparable(report["options"]) != _comparable(options):
            warnings.append(
                f"Report {report['name']!r} was written with other output options; "
                "its outputs may group apart from equal ones."
            )
        for key, entry in report["outputs"].items():
            outputs.setdefault(key, entry)
        plans += [plan for plan in report.get("plans", []) if plan not in plans]
        for task in report["tasks"]:
            if task.get("kind") == "plan":
                continue  # rebuilt from the merged plans
            key = (task.get("play", ""), task.get("path", ""), task["name"])
            tasks.setdefault(key, {k: task.get(k, "") for k in ("id", "name", "play", "path", "kind")})
            by_host = results.setdefault(key, {})
            for result in task["results"]:
                if result["host"] in by_host:
                    warnings.append(
                        f"Host {result['host']!r} is in several reports for task {task['name']!r}; "
                        f"the result from {report['name']!r} is kept."
                    )
                by_host[result["host"]] = dict(result)
        warnings += [w for w in report.get("warnings", []) if w not in warnings]
        errors += [e for e in report.get("errors", []) if e not in errors]
    entries = [plan_task_entry(plan, index) for index, plan in enumerate(plans, 1)]
    max_size = int(options.get("max_output", 65536))
    context = int(options.get("diff_context", 3))
    entries += [
        build_task_entry(task, list(results[key].values()), outputs, context, max_size) for key, task in tasks.items()
    ]
    started = [r["started"] for r in reports if r.get("started")]
    finished = [r["finished"] for r in reports if r.get("finished")]
    interrupted = sorted({r["interrupted"] for r in reports if r.get("interrupted")})
    return assemble_report(
        name=name,
        tasks=entries,
        outputs=outputs,
        plans=plans,
        options=_comparable(options),
        playbooks=dict.fromkeys(p for r in reports for p in r.get("playbooks", [])),
        started=min(started, default=None),
        finished=max(finished, default=None),
        complete=all(r["complete"] for r in reports),
        interrupted=", ".join(interrupted) or None,
        sources=[
            {"name": r["name"], "started": r.get("started"), "finished": r.get("finished"), "complete": r["complete"]}
            for r in reports
        ],
        warnings=warnings,
        errors=errors,
        run=merge_runs([r.get("run") or empty_run(r.get("interrupted")) for r in reports]),
    )


_RUN_RANK = {"interrupted": 0, "incomplete": 1, "complete": 2}


def merge_runs(runs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge the ``run`` objects of several reports: the worst status, every error and refusal once.

    Nothing was selected only if no source selected anything (AWX slices: one empty slice is no empty run).
    """
    merged = empty_run()
    for run in runs:
        if _RUN_RANK.get(run["status"], 0) < _RUN_RANK[merged["status"]]:
            merged["status"] = run["status"]
        merged["internal_errors"] += [e for e in run["internal_errors"] if e not in merged["internal_errors"]]
        merged["refused"] += [r for r in run["refused"] if r not in merged["refused"]]
    empties = [run["nothing_selected"] for run in runs]
    merged["nothing_selected"] = empties[0] if empties and all(empties) else None
    if merged["internal_errors"] and merged["status"] == "complete":
        merged["status"] = "incomplete"
    return merged


def _comparable(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k != "folding"}


def main(argv: list[str] | None = None) -> int:
    """Merge reports from the command line and write the merged files; exit 2 on bad input."""
    parser = argparse.ArgumentParser(prog="report_merge", description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="JSON reports written by azlin.fleet.fleet_report")
    parser.add_argument("-o", "--output-dir", required=True, help="directory for the merged report files")
    parser.add_argument("-n", "--name", default=DEFAULT_MERGED_NAME, help="base name of the merged files")
    parser.add_argument("-f", "--format", action="append", choices=FILE_FORMATS, help="file format (repeatable)")
    args = parser.parse_args(argv)
    try:
        merged = merge_reports(args.reports, name=args.name)
        paths = write_report(merged, args.output_dir, args.name, args.format or FILE_FORMATS)
    except FleetError as ex:
        sys.stderr.write(f"report_merge: {ex}\n")
        return 2
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
