"""The ``azlin-fleet probe`` table: one line per host from the routing plan in the report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (column title, fleet_probe metric keys to try in order, format)
_METRIC_COLUMNS = (
    ("CPU%", ("cpu",), "{:.0f}"),
    ("MEM%", ("mem",), "{:.0f}"),
    ("LOAD1", ("load1",), "{:.2f}"),
    ("CPUS", ("cpus",), "{}"),
    ("USERS", ("users",), "{}"),
)


def _metric(metrics: Mapping[str, Any] | None, keys: tuple[str, ...], fmt: str) -> str:
    if not metrics:
        return "-"
    for key in keys:
        value = metrics.get(key)
        if isinstance(value, list):
            value = len(value)
        if value is not None:
            try:
                return fmt.format(value)
            except (TypeError, ValueError):
                return str(value)
    return "-"


def render_probe_table(report: Mapping[str, Any]) -> str:
    """Hosts in route order (then the rest by name) with metrics, score, verdict and reasons."""
    plans = report.get("plans") or []
    if not plans:
        return "no probe results (no host matched)\n"
    plan = plans[-1]
    hosts = sorted(plan.get("hosts", []), key=lambda h: (h.get("order") is None, h.get("order") or 0, h["host"]))
    header = ["ORDER", "HOST", *[title for title, _, _ in _METRIC_COLUMNS], "SCORE", "VERDICT", "REASONS"]
    rows = [header]
    for host in hosts:
        score = host.get("score")
        rows.append(
            [
                str(host["order"]) if host.get("order") is not None else "-",
                host["host"],
                *[_metric(host.get("metrics"), keys, fmt) for _, keys, fmt in _METRIC_COLUMNS],
                f"{score:.1f}" if isinstance(score, int | float) else "-",
                str(host.get("status", "")),
                "; ".join(host.get("reasons") or []),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    gate = plan.get("gate") or "none"
    lines.append(f"gate: {gate} · route by: {plan.get('route_by', 'score')} · count: {plan.get('count') or 'all'}")
    return "\n".join(line.rstrip() for line in lines) + "\n"
