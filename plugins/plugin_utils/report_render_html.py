# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a report as one self-contained HTML page: inline CSS and SVG, no scripts, no external assets.

Every value taken from the report is escaped (``_e``), numbers included, so a report written by anyone cannot put
markup or script into the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_render_text import error_text
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_svg import render_plan_chart, render_timeline

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #d0d7de}h3{font-size:1em;margin:.3em 0}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left}
th{background:#f6f8fa}td.num{text-align:right}
pre{background:#f6f8fa;padding:.6em;overflow:auto;max-height:40em;margin:.3em 0}
.group{border-left:4px solid #8c959f;padding:.2em .8em;margin:.8em 0}
.badge{display:inline-block;padding:0 .5em;border-radius:.8em;background:#eaeef2;font-size:.9em}
.st-ok,.st-changed,.st-selected{border-color:#1a7f37}.st-changed .badge{background:#fff8c5}
.st-ok .badge,.st-selected .badge{background:#dafbe1}
.st-failed,.st-timeout,.st-unreachable,.st-interrupted{border-color:#cf222e}
.st-failed .badge,.st-timeout .badge,.st-unreachable .badge,.st-interrupted .badge{background:#ffebe9}
.st-gated,.st-unmeasurable,.st-not_selected,.st-blocked,.st-not_started{border-color:#8250df}
pre.diff span{display:block;min-height:1.2em}
.diff-add{background:#dafbe1}.diff-del{background:#ffebe9}.diff-hunk{color:#0969da}.diff-file{font-weight:bold}
.warning{background:#fff8c5;padding:.4em .8em}.muted{color:#57606a}
figure{margin:.5em 0;overflow-x:auto}svg{max-width:100%;height:auto}
@media print{body{margin:0;font-size:11px}pre{max-height:none;overflow:visible;white-space:pre-wrap}
details>*{display:block}figure,table,.group{break-inside:avoid}}
"""
# Metrics columns of the hosts table: (plan metrics key, header, unit).
_METRICS = (
    ("cpu", "CPU", "%"),
    ("mem", "Mem", "%"),
    ("load1", "Load1", ""),
    ("cpus", "CPUs", ""),
    ("users", "Users", ""),
)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def render_html(report: Mapping[str, Any]) -> str:
    """Render the whole report as a self-contained HTML page."""
    name = _e(report["name"])
    run = report.get("run") or {}
    state = "complete" if report["complete"] else "incomplete"
    if run.get("internal_errors"):
        state = "incomplete: internal errors (listed below) may have hidden or misstated results"
    if report.get("interrupted"):
        state = f"interrupted by {report['interrupted']}: hosts still running are marked interrupted"
    counts = " ".join(f'<span class="badge st-{_e(s)}">{_e(s)} {_e(n)}</span>' for s, n in report["counts"].items())
    out = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Fleet report {name}</title>\n<style>{_CSS}</style>\n</head>\n<body>",
        f'<h1>Fleet report <code>{name}</code></h1>\n<p class="state" id="state">{_e(state)}</p>',
        f'<p class="counts" id="counts">Hosts {len(report["hosts"])}: {counts}</p>',
    ]
    out += [f'<p class="warning">{_e(w)}</p>' for w in report.get("warnings", [])]
    out += _run_section(run)
    out += _errors_list(report.get("errors", []))
    out += _drift_section(report.get("drift"))
    out += _pictures(report)
    out += _summary_table(report["tasks"])
    out += _hosts_table(report["hosts"], report.get("plans") or [])
    for index, task in enumerate(report["tasks"], 1):
        out += _task_section(task, index, report["outputs"])
    out.append("</body>\n</html>\n")
    return "\n".join(out)


def _title(task: Mapping[str, Any]) -> str:
    return f"{task['play']}: {task['name']}" if task.get("play") else str(task["name"])


def _pictures(report: Mapping[str, Any]) -> list[str]:
    out = []
    charts = [render_plan_chart(plan, index) for index, plan in enumerate(report.get("plans") or [], 1)]
    charts = [chart for chart in charts if chart]
    if charts:
        out.append('<h2 id="routing">Routing</h2>')
        out += [f"<figure>{chart}</figure>" for chart in charts]
    timeline = render_timeline(t for t in report["tasks"] if t.get("kind") != "plan")
    if timeline:
        out += ['<h2 id="timeline-title">Timeline</h2>', f"<figure>{timeline}</figure>"]
    return out


def _summary_table(tasks: list[Mapping[str, Any]]) -> list[str]:
    out = [
        '<h2 id="summary">Tasks</h2>\n<table class="summary">',
        "<tr><th>Task</th><th>Hosts</th><th>Statuses</th><th>Groups</th></tr>",
    ]
    for index, task in enumerate(tasks, 1):
        statuses = " ".join(f'<span class="badge">{_e(s)} {_e(n)}</span>' for s, n in task["counts"].items())
        out.append(
            f'<tr><td><a href="#task-{index}">{_e(_title(task))}</a></td><td class="num">{_e(task["hosts"])}</td>'
            f'<td>{statuses}</td><td class="num">{len(task["groups"])}</td></tr>'
        )
    return out + ["</table>"]


def _run_section(run: Mapping[str, Any]) -> list[str]:
    out = []
    if run.get("refused"):
        items = "".join(f"<li>{_e(line)}</li>" for line in run["refused"])
        out.append(f'<h2 id="refused">Input refused (nothing ran)</h2>\n<ul class="refused">{items}</ul>')
    if run.get("nothing_selected"):
        empty = run["nothing_selected"]
        out.append(
            f'<p class="warning" id="nothing-selected">Nothing selected in <code>{_e(empty["targets"])}</code>: '
            f"{_e(empty['reason'])}</p>"
        )
    if run.get("internal_errors"):
        items = "".join(
            f'<li><span class="nodeset">{_e(e["host"])}</span>: {_e(e["task"])}: {_e(e["error"])}</li>'
            for e in run["internal_errors"]
        )
        out.append(f'<h2 id="internal-errors">Internal errors</h2>\n<ul class="internal-errors">{items}</ul>')
    return out


def _drift_section(drift: Mapping[str, Any] | None) -> list[str]:
    if not drift:
        return []
    out = [f'<section class="drift" id="drift"><h2>Changed since <code>{_e(drift["compared_to"])}</code></h2>']
    if not drift["tasks"]:
        out.append(f'<p class="muted">No drift in {_e(drift["tasks_compared"])} tasks compared.</p>')
    for task in drift["tasks"]:
        out.append(f"<h3>{_e(_title(task))}</h3>\n<ul>")
        for item in task["changed"]:
            what = f"{_e(item['before']['status'])} &rarr; {_e(item['after']['status'])}"
            out.append(f'<li class="drift-changed" data-host="{_e(item["host"])}">{_e(item["host"])}: {what}')
            if item["diff"]:
                out.append(
                    '<pre class="diff">' + "".join(_diff_line(line) for line in item["diff"].split("\n")) + "</pre>"
                )
            out.append("</li>")
        out += [_drift_item("appeared", item["host"]) for item in task["appeared"]]
        out += [_drift_item("disappeared", item["host"]) for item in task["disappeared"]]
        out.append("</ul>")
    out += [f'<p class="warning">{_e(w)}</p>' for w in drift.get("warnings", [])]
    return out + ["</section>"]


def _drift_item(kind: str, host: Any) -> str:
    return f'<li class="drift-{kind}" data-host="{_e(host)}">{_e(host)}: {kind}</li>'


def _errors_list(errors: list[Mapping[str, Any]]) -> list[str]:
    if not errors:
        return []
    items = "".join(
        f'<li class="st-{_e(e["status"])}"><span class="nodeset">{_e(e["host"])}</span>: {_e(e["task"])}: '
        f"{_e(error_text(e))}</li>"
        for e in errors
    )
    return [f'<h2 id="errors">Failures of internal tasks</h2>\n<ul class="errors">{items}</ul>']


def _plan_entries(plans: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Each host's entry in the last routing plan that lists it (a later plan re-probed it)."""
    entries: dict[str, Mapping[str, Any]] = {}
    for plan in plans:
        for entry in plan.get("hosts") or []:
            if isinstance(entry, Mapping) and "host" in entry:
                entries[str(entry["host"])] = entry
    return entries


def _metric(value: Any, unit: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return _e(f"{value:g}{unit}")


def _hosts_table(hosts: list[Mapping[str, Any]], plans: list[Mapping[str, Any]]) -> list[str]:
    planned = _plan_entries(plans)
    metrics_header = "".join(f"<th>{label}</th>" for _key, label, _unit in _METRICS) if planned else ""
    plan_header = "<th>Score</th><th>Rank</th><th>Verdict</th>" if planned else ""
    out = [
        '<h2 id="hosts">Hosts</h2>\n<table class="hosts">',
        f"<tr><th>Host</th><th>Status</th><th>Attempts</th>{metrics_header}{plan_header}<th>Reasons</th></tr>",
    ]
    for host in hosts:
        attempts = "" if host.get("attempts") is None else _e(host["attempts"])
        reasons = "<br>".join(_e(r) for r in host.get("reasons", []))
        cells = ""
        if planned:
            entry = planned.get(str(host["host"]), {})
            metrics = entry.get("metrics") if isinstance(entry.get("metrics"), Mapping) else {}
            cells = "".join(
                f'<td class="num metric-{key}">{_metric(metrics.get(key), unit)}</td>' for key, _label, unit in _METRICS
            )
            cells += f'<td class="num score">{_metric(entry.get("score"), "")}</td>'
            cells += f'<td class="num rank">{_metric(entry.get("order"), "")}</td>'
            cells += f'<td class="verdict">{_e(entry.get("status", ""))}</td>'
        out.append(
            f'<tr class="st-{_e(host["status"])}" data-host="{_e(host["host"])}"><td>{_e(host["host"])}</td>'
            f'<td><span class="badge">{_e(host["status"])}</span></td><td class="num">{attempts}</td>'
            f"{cells}<td>{reasons}</td></tr>"
        )
    return out + ["</table>"]


def _task_section(task: Mapping[str, Any], index: int, outputs: Mapping[str, Any]) -> list[str]:
    out = [
        f'<section class="task" id="task-{index}" data-kind="{_e(task.get("kind", "task"))}">',
        f'<h2>{_e(_title(task))} <span class="muted">'
        f"({_e(task['hosts'])} hosts, {len(task['groups'])} groups)</span></h2>",
    ]
    has_diff = any(g["diff"] is not None for g in task["groups"])
    identities = {r["host"]: r["identity"] for r in task.get("results", []) if r.get("identity")}
    for group in task["groups"]:
        out += _group(group, outputs, has_diff, identities)
    return out + ["</section>"]


def _group(
    group: Mapping[str, Any], outputs: Mapping[str, Any], has_diff: bool, identities: Mapping[str, Any]
) -> list[str]:
    status = _e(group["status"])
    rc = f" rc={_e(group['rc'])}" if group["rc"] is not None else ""
    role = ' <span class="badge">baseline</span>' if group["baseline"] and has_diff else ""
    out = [
        f'<div class="group st-{status}" data-status="{status}" data-count="{_e(group["count"])}" '
        f'data-nodeset="{_e(group["nodeset"])}" data-baseline="{str(bool(group["baseline"])).lower()}">',
        f'<h3><span class="nodeset">{_e(group["nodeset"])}</span> ({_e(group["count"])}) '
        f'<span class="badge">{status}</span>{rc}{role}</h3>',
        f'<details><summary>hosts</summary><p class="hosts">{_e(" ".join(map(str, group["hosts"])))}</p></details>',
    ]
    named = [(host, identities[host]) for host in group["hosts"] if host in identities]
    if named:
        rows = "".join(
            f"<tr><td>{_e(host)}</td><td>{_e(', '.join(dict.fromkeys(str(n) for n in names)))}</td></tr>"
            for host, names in named
        )
        out.append(
            '<details class="identity"><summary>{host} stands for each host\'s own name</summary>'
            f'<table class="identity"><tr><th>Host</th><th>{{host}} is</th></tr>{rows}</table></details>'
        )
    if group["reasons"]:
        out.append(
            '<ul class="reasons">'
            + "".join(
                f'<li><span class="nodeset">{_e(r["nodeset"])}</span>: {_e(r["reason"])}</li>' for r in group["reasons"]
            )
            + "</ul>"
        )
    entry = outputs.get(group["output"]) if group["output"] else None
    if group["no_log"]:
        out.append('<p class="muted nolog">Output hidden (no_log).</p>')
    elif group["diff"] is not None:
        out.append('<pre class="diff">' + "".join(_diff_line(line) for line in group["diff"].split("\n")) + "</pre>")
    elif not group["baseline"] and entry:
        out.append('<p class="muted">Same output as the baseline.</p>')
    elif entry and entry["text"]:
        binary = ' data-binary="true"' if entry.get("binary") else ""
        out.append(f'<pre class="output"{binary}>{_e(entry["text"])}</pre>')
    return out + ["</div>"]


def _diff_line(line: str) -> str:
    if line.startswith(("+++", "---")):
        css = "diff-file"
    elif line.startswith("@@"):
        css = "diff-hunk"
    elif line.startswith("+"):
        css = "diff-add"
    elif line.startswith("-"):
        css = "diff-del"
    else:
        css = "diff-ctx"
    return f'<span class="{css}">{_e(line)}</span>'
