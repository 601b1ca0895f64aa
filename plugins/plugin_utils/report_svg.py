# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pictures for the HTML report, as inline SVG (no scripts, no external assets, explicit fills so they print).

- ``render_plan_chart``: a routing plan as a bar chart, one bar per host (its score; hosts without metrics get a
  short dashed stub), gated and unmeasurable hosts marked, each gate limit drawn as a dashed line in score units.
- ``render_timeline``: one row per host, one span per timed result (a task or a workflow step) from its start to
  its end, coloured by status.

Every text that comes from a report (host, task and gate names) is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import compile_gate, parse_gate
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_fold import host_sort_key

STATUS_FILL = {
    "ok": "#2da44e",
    "changed": "#d4a72c",
    "selected": "#2da44e",
    "skipped": "#8c959f",
    "failed": "#cf222e",
    "timeout": "#a40e26",
    "unreachable": "#fa4549",
    "interrupted": "#bc4c00",
    "blocked": "#8250df",
    "not_started": "#c297ff",
    "gated": "#8250df",
    "unmeasurable": "#6e7781",
    "not_selected": "#afb8c1",
}
_DEFAULT_FILL = "#57606a"
_FONT = 'font-family="system-ui,sans-serif" font-size="11"'
# Gate limits in score units (the score is max(cpu %, mem %, 100 x load1 per CPU)).
_SCALE = {"cpu": 1.0, "mem": 1.0, "load_per_cpu": 100.0}


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _fill(status: Any) -> str:
    return STATUS_FILL.get(str(status), _DEFAULT_FILL)


def gate_lines(gate: Any) -> list[tuple[str, float]]:
    """The gate's limits that a score chart can show: (label, value in score units); none for an invalid gate."""
    if not isinstance(gate, str) or not gate.strip():
        return []
    try:
        limits = compile_gate(parse_gate(gate))
    except FleetError:
        return []
    lines = []
    for limit in limits:
        scale = _SCALE.get(str(limit.get("metric")))
        if scale is not None and isinstance(limit.get("below"), int | float):
            value = float(limit["below"]) * scale
            label = f"{limit['metric']} < {_num(float(limit['below']))}"
            lines.append((label, value))
    return lines


def _plan_order(hosts: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    def key(entry: Mapping[str, Any]) -> tuple[int, float, list[tuple[int, int | str]]]:
        order = entry.get("order")
        ranked = isinstance(order, int | float) and not isinstance(order, bool)
        return (0 if ranked else 1, float(order) if ranked else 0.0, host_sort_key(str(entry.get("host", ""))))

    return sorted(hosts, key=key)


def render_plan_chart(plan: Mapping[str, Any], index: int = 1) -> str:
    """One routing plan as an SVG bar chart: score per host in dispatch order, then the others."""
    hosts = _plan_order([h for h in plan.get("hosts") or [] if isinstance(h, Mapping)])
    if not hosts:
        return ""
    scores = [float(h["score"]) for h in hosts if _is_number(h.get("score"))]
    limits = gate_lines(plan.get("gate"))
    top = max([100.0, *scores, *(value for _label, value in limits)])
    count = len(hosts)
    bar_width = 22 if count <= 40 else max(2, 880 // count)
    gap = max(1, bar_width // 4)
    labels = count <= 60
    left, right, head, plot = 44, 110, 24, 180  # the right margin holds the gate labels
    foot = 90 if labels else 20
    width = max(left + count * (bar_width + gap) + right, 520)
    plot_right = left + count * (bar_width + gap)
    height = head + plot + foot

    def y(value: float) -> float:
        return head + plot - plot * min(value, top) / top

    title = f"Routing plan {index}: score per host" + (f", gate {plan['gate']}" if plan.get("gate") else "")
    out = [
        f'<svg class="plan-chart" id="plan-chart-{index}" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" data-hosts="{count}" {_FONT}>',
        f"<title>{_e(title)}</title>",
        f'<text x="{left}" y="14" font-weight="bold">{_e(title)}</text>',
    ]
    for tick in (0.0, top / 2, top):
        out.append(
            f'<line class="grid" x1="{left}" x2="{plot_right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#d0d7de" stroke-width="1"/>'
        )
        out.append(f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{_num(tick)}</text>')
    for position, entry in enumerate(hosts):
        x = left + position * (bar_width + gap)
        status = str(entry.get("status", ""))
        host = _e(entry.get("host", ""))
        score = entry.get("score")
        tip = f"{entry.get('host', '')}: {status}" + (f", score {_num(float(score))}" if _is_number(score) else "")
        reasons = entry.get("reasons") or []
        if reasons:
            tip += " (" + "; ".join(str(r) for r in reasons) + ")"
        if _is_number(score):
            top_y = y(float(score))
            fill = _fill(status)
            bar_height = head + plot - top_y
            extra = ' stroke="#8250df" stroke-width="2" stroke-dasharray="3,2"' if status == "gated" else ""
        else:
            # No metrics: a short outlined stub (no external or url() references, so the page stays self-contained).
            top_y, bar_height, fill = head + plot - 8, 8, "#ffffff"
            extra = ' stroke="#6e7781" stroke-width="1.5" stroke-dasharray="2,2"'
        out.append(
            f'<rect class="bar st-{_e(status)}" data-host="{host}" data-status="{_e(status)}" '
            f'data-score="{_e(score if _is_number(score) else "")}" x="{x}" y="{top_y:.1f}" width="{bar_width}" '
            f'height="{max(bar_height, 1):.1f}" fill="{fill}"{extra}><title>{_e(tip)}</title></rect>'
        )
        if status in ("gated", "unmeasurable", "not_selected"):
            mark = {"gated": "G", "unmeasurable": "?", "not_selected": "-"}[status]
            out.append(
                f'<text class="mark" x="{x + bar_width / 2:.1f}" y="{top_y - 3:.1f}" text-anchor="middle">{mark}</text>'
            )
        if labels:
            cx, cy = x + bar_width / 2, head + plot + 8
            out.append(
                f'<text class="host-label" x="{cx:.1f}" y="{cy}" text-anchor="end" '
                f'transform="rotate(-60 {cx:.1f} {cy})">{host}</text>'
            )
    for label, value in limits:
        out.append(
            f'<line class="threshold" data-gate="{_e(label)}" data-value="{_num(value)}" x1="{left}" '
            f'x2="{plot_right}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#cf222e" stroke-width="1.5" '
            f'stroke-dasharray="6,3"/>'
        )
        out.append(
            f'<text class="threshold-label" x="{plot_right + 4}" y="{y(value) + 4:.1f}" '
            f'fill="#cf222e">{_e(label)}</text>'
        )
    out.append(f'<line x1="{left}" x2="{plot_right}" y1="{head + plot}" y2="{head + plot}" stroke="#57606a"/></svg>')
    return "\n".join(out)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def timed_spans(tasks: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each host's results that have a start and an end, in start order: {host: [{task, status, start, end}]}."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        for result in task.get("results") or []:
            start, end = result.get("start"), result.get("end")
            if _is_number(start) and _is_number(end):
                label = result.get("step") or task.get("name", "")
                rows.setdefault(str(result["host"]), []).append(
                    {"task": str(label), "status": str(result["status"]), "start": float(start), "end": float(end)}
                )
    for spans in rows.values():
        spans.sort(key=lambda span: (span["start"], span["end"]))
    return {host: rows[host] for host in sorted(rows, key=host_sort_key)}


def render_timeline(tasks: Iterable[Mapping[str, Any]]) -> str:
    """Every host's timed tasks or steps as SVG rows on one time axis (seconds since the first start)."""
    rows = timed_spans(tasks)
    if not rows:
        return ""
    first = min(span["start"] for spans in rows.values() for span in spans)
    last = max(span["end"] for spans in rows.values() for span in spans)
    total = max(last - first, 0.001)
    labels = len(rows) <= 200
    row = 16 if labels else 4
    left = 110 if labels else 10
    axis, head, right = 880, 24, 16
    width = left + axis + right
    height = head + len(rows) * row + 24

    def x(moment: float) -> float:
        return left + axis * (moment - first) / total

    out = [
        f'<svg class="timeline" id="timeline" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" data-rows="{len(rows)}" {_FONT}>',
        "<title>Timeline: each host's tasks and steps</title>",
        f'<text x="{left}" y="14" font-weight="bold">Timeline ({_num(total)} s)</text>',
    ]
    bar_height = row - 4 if labels else row
    for number, (host, spans) in enumerate(rows.items()):
        top = head + number * row
        out.append(f'<g class="timeline-row" data-host="{_e(host)}">')
        if labels:
            out.append(f'<text x="{left - 6}" y="{top + row - 4}" text-anchor="end">{_e(host)}</text>')
        for span in spans:
            start, end = x(span["start"]), x(span["end"])
            tip = f"{host}: {span['task']} {span['status']} ({_num(span['end'] - span['start'])} s)"
            out.append(
                f'<rect class="span st-{_e(span["status"])}" data-task="{_e(span["task"])}" '
                f'data-status="{_e(span["status"])}" data-start="{span["start"]:.3f}" data-end="{span["end"]:.3f}" '
                f'x="{start:.1f}" y="{top + 2}" width="{max(end - start, 1.5):.1f}" height="{bar_height}" '
                f'fill="{_fill(span["status"])}" stroke="#ffffff" stroke-width="0.5"><title>{_e(tip)}</title></rect>'
            )
        out.append("</g>")
    bottom = head + len(rows) * row
    out.append(f'<line x1="{left}" x2="{left + axis}" y1="{bottom + 2}" y2="{bottom + 2}" stroke="#57606a"/>')
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<text x="{left + axis * fraction:.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{_num(total * fraction)} s</text>"
        )
    out.append("</svg>")
    return "\n".join(out)
