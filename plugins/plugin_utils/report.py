# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet reports: build the versioned JSON report from a collector, write it (JSON, Markdown, HTML), load it back.

The JSON report is the source of every other format; ``docs/report-schema.json`` documents it.
Collection, grouping, masking, rendering and merging live in the ``report_*`` modules; this module is the
front door the callback and the CLI use.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import (
    HostResult,
    InternalError,
    NormalizeOptions,
    Outcome,
    ReportCollector,
    RunError,
    TaskInfo,
    classify_result,
    is_quiet_task,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_drift import compare_reports, has_drift
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_events import (
    format_event,
    format_play_plan_event,
    format_route_plan_event,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_fold import is_folding_available
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_group import (
    build_task_entry,
    count_statuses,
    hosts_by_status,
    summarize_hosts,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_mask import build_masker
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_render_html import render_html
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_render_markdown import render_markdown
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_render_text import render_text
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_validate import validate_report

__all__ = [
    "FILE_FORMATS",
    "REPORT_FORMAT",
    "REPORT_VERSION",
    "HostResult",
    "NormalizeOptions",
    "Outcome",
    "ReportCollector",
    "InternalError",
    "RunError",
    "TaskInfo",
    "assemble_report",
    "attach_drift",
    "compare_reports",
    "has_drift",
    "build_masker",
    "build_report",
    "build_task_entry",
    "classify_result",
    "failed_report",
    "empty_run",
    "upgrade_report",
    "validate_report",
    "count_statuses",
    "format_event",
    "format_play_plan_event",
    "format_route_plan_event",
    "hosts_by_status",
    "is_quiet_task",
    "load_report",
    "plan_task_entry",
    "render_report",
    "render_text",
    "summarize_hosts",
    "write_file_atomic",
    "write_report",
]

REPORT_FORMAT = "azlin.fleet.report"
REPORT_VERSION = 2
# Versions load_report reads: older reports are brought up to this version's shape (see upgrade_report).
READABLE_VERSIONS = (1, 2)
FILE_FORMATS = ("json", "md", "html")


def build_report(
    collector: ReportCollector,
    *,
    name: str,
    started: str | None = None,
    finished: str | None = None,
    complete: bool = True,
    diff_context: int = 3,
) -> dict[str, Any]:
    """Build the JSON-ready report dict from everything a collector recorded."""
    outputs = {
        key: {"text": e.text, "size": e.size, "truncated": e.truncated, "binary": e.binary}
        for key, e in collector.outputs.items()
    }
    by_task: dict[str, list[dict[str, Any]]] = {}
    for record in collector.results:
        by_task.setdefault(record.task_id, []).append(_result_dict(record))
    tasks = [plan_task_entry(plan, index) for index, plan in enumerate(collector.plans, 1)]
    unreached, status, reason = collector.unreached_hosts()
    if unreached:
        tasks.append(unreached_task_entry(unreached, status, reason))
    for task in collector.tasks.values():
        if task.id in by_task:
            tasks.append(
                build_task_entry(asdict(task), by_task[task.id], outputs, diff_context, collector.options.max_output)
            )
    options = asdict(collector.options)
    options["ignore_patterns"] = list(options["ignore_patterns"])
    options["diff_context"] = diff_context
    return assemble_report(
        name=name,
        tasks=tasks,
        outputs=outputs,
        plans=collector.plans,
        options=options,
        playbooks=collector.playbooks,
        started=started,
        finished=finished,
        complete=complete and collector.interrupted is None,
        interrupted=collector.interrupted,
        errors=[asdict(error) for error in collector.errors],
        run=collector.run_summary(),
    )


def _result_dict(record: HostResult) -> dict[str, Any]:
    result = asdict(record)
    del result["task_id"]
    if result["identity"] is not None:
        result["identity"] = list(result["identity"])
    return result


def unreached_task_entry(hosts: list[str], status: str, reason: str) -> dict[str, Any]:
    """A report entry for targeted hosts no task reached, so every selected host is in the report exactly once."""
    plan = {"hosts": [{"host": h, "status": status, "reasons": [reason]} for h in hosts]}
    entry = plan_task_entry(plan, 0)
    entry.update(id="unreached", name="hosts the run did not reach", kind="outcome")
    return entry


def plan_task_entry(plan: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Turn a routing plan into a report entry, so gated, unmeasurable and unselected hosts show with reasons."""
    results = []
    for host in plan.get("hosts", []):
        reasons = [str(r) for r in host.get("reasons") or []]
        results.append(
            {
                "host": str(host["host"]),
                "status": str(host.get("status", "selected")),
                "rc": None,
                "output": None,
                "reason": "; ".join(reasons) or None,
                "duration": None,
                "attempts": None,
                "step": None,
                "ignored": False,
                "no_log": False,
                "start": None,
                "end": None,
                "identity": None,
            }
        )
    parts = [f"gate {plan['gate']}" if plan.get("gate") else "no gate", f"by {plan.get('route_by', 'score')}"]
    if plan.get("count") is not None:
        parts.append(f"count {plan['count']}")
    if plan.get("dry_run"):
        parts.append("dry run")
    task = {"id": f"plan-{index}", "name": f"route hosts ({', '.join(parts)})", "kind": "plan"}
    return build_task_entry(task, results, {})


def assemble_report(
    *,
    name: str,
    tasks: list[dict[str, Any]],
    outputs: Mapping[str, Any],
    plans: list[Any],
    options: Mapping[str, Any],
    playbooks: Iterable[str] = (),
    started: str | None = None,
    finished: str | None = None,
    complete: bool = True,
    interrupted: str | None = None,
    sources: list[Any] | None = None,
    warnings: list[str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Put the top level of a report together in its fixed key order, with host summary and counts.

    ``complete`` is false when the run was interrupted or had internal errors (``run.status`` says which).
    """
    hosts = summarize_hosts(tasks)
    run = dict(run) if run else empty_run(interrupted)
    used = {g["output"] for t in tasks for g in t["groups"] if g["output"]}
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "name": name,
        "complete": complete and run["status"] == "complete",
        "interrupted": interrupted,
        "run": run,
        "started": started,
        "finished": finished,
        "playbooks": list(playbooks),
        "options": dict(options, folding="nodeset" if is_folding_available() else "plain"),
        "counts": count_statuses(h["status"] for h in hosts),
        "hosts": hosts,
        "plans": plans,
        "tasks": tasks,
        "outputs": {key: outputs[key] for key in sorted(used)},
        "sources": sources or [],
        "warnings": warnings or [],
        "errors": errors or [],
        "drift": None,
    }


def failed_report(name: str, started: str | None, finished: str | None, error: str) -> dict[str, Any]:
    """A valid report that holds no results, only the internal error that kept the real one from being built.

    Written instead of nothing, so whoever reads the report (the CLI, AWX) learns the cause: the run is
    ``incomplete`` with that error in ``run.internal_errors``.
    """
    run = empty_run()
    run["status"] = "incomplete"
    run["internal_errors"] = [{"host": "localhost", "task": "azlin.fleet.fleet_report", "error": error}]
    return assemble_report(
        name=name, tasks=[], outputs={}, plans=[], options={}, started=started, finished=finished, run=run
    )


def attach_drift(report: dict[str, Any], earlier_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the earlier JSON report at ``earlier_path`` and set ``report["drift"]`` (returned) to the comparison.

    Raises FleetUsageError when the earlier report cannot be read or is not a report.
    """
    report["drift"] = compare_reports(load_report(earlier_path), report, context=1)
    return report["drift"]


def empty_run(interrupted: str | None = None) -> dict[str, Any]:
    """The ``run`` object of a run that recorded no health data (interrupted or complete)."""
    return {
        "status": "interrupted" if interrupted else "complete",
        "internal_errors": [],
        "refused": [],
        "nothing_selected": None,
    }


def upgrade_report(report: dict[str, Any]) -> dict[str, Any]:
    """Bring a report of an older readable version to this version's shape (in place; returns it)."""
    if report.get("version") == 1:
        report["run"] = empty_run(report.get("interrupted"))
        if not report.get("complete") and not report.get("interrupted"):
            report["run"]["status"] = "incomplete"
        for task in report.get("tasks", []):
            for result in task.get("results", []):
                result.setdefault("start", None)
                result.setdefault("end", None)
                result.setdefault("identity", None)
        for entry in report.get("outputs", {}).values():
            entry.setdefault("binary", False)
        report["version"] = REPORT_VERSION
    report.setdefault("drift", None)
    return report


def render_report(report: Mapping[str, Any], fmt: str, **text_options: Any) -> str:
    """Render a report dict as json, md, html or text.

    ``text_options`` go to ``render_text`` (``full``, ``max_groups``, ``max_lines``, ``see``, ``color``): the
    terminal summary is bounded by default, ``full=True`` prints everything.
    """
    renderers = {
        "json": lambda r: json.dumps(r, indent=1, ensure_ascii=False) + "\n",
        "md": render_markdown,
        "html": render_html,
        "text": lambda r: render_text(r, **text_options),
    }
    if fmt not in renderers:
        raise FleetUsageError(f"Report format {fmt!r}", f"unknown; choose one of {', '.join(renderers)}")
    return renderers[fmt](report)


def write_report(
    report: Mapping[str, Any], directory: str | os.PathLike[str], name: str, formats: Iterable[str] = FILE_FORMATS
) -> list[Path]:
    """Write the report files ``<directory>/<name>.<fmt>`` atomically (temp file + rename), mode 0600."""
    target = Path(directory).expanduser()
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = target / f"{name}.{fmt}"
        write_file_atomic(path, render_report(report, fmt))
        written.append(path)
    return written


def write_file_atomic(path: Path, text: str) -> None:
    """Write text to path through a same-directory temp file (created 0600) and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON report and check it is one this version understands."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as ex:
        raise FleetUsageError(
            f"Report {str(path)!r}", f"cannot be read ({ex.strerror or ex})", "Check the path."
        ) from ex
    try:
        report = json.loads(text)
    except ValueError as ex:
        raise FleetUsageError(
            f"Report {str(path)!r}",
            f"not valid JSON ({ex})",
            "Pass the .json file the fleet_report callback wrote.",
        ) from ex
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT:
        raise FleetUsageError(
            f"Report {str(path)!r}",
            f"not an {REPORT_FORMAT} file",
            "Pass the .json file the fleet_report callback wrote.",
        )
    if report.get("version") not in READABLE_VERSIONS:
        raise FleetUsageError(
            f"Report {str(path)!r}",
            f"schema version {report.get('version')!r} is not supported",
            f"This version reads versions {', '.join(map(str, READABLE_VERSIONS))}.",
        )
    report = upgrade_report(report)
    problems = validate_report(report)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise FleetUsageError(
            f"Report {str(path)!r}",
            "does not match the report schema: " + "; ".join(problems[:3]) + more,
            "Pass a .json file the fleet_report callback or report merge wrote, unchanged.",
        )
    return report
