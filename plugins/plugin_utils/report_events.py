# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lines of the live events file (JSON lines) the fleet_report callback appends for progress displays.

Format (docs/events.md): every line is one JSON object with an ``event`` key.

- ``{"event": "plan", "source": "play", "play": str, "hosts": [str]}``: a play started on these hosts (its whole
  host list, all serial batches, after ``--limit``).
- ``{"event": "plan", "source": "route", "hosts": [str]}``: a routing plan selected these hosts, in dispatch order.
- ``{"event": "result", "host": str, "task": str, "status": str, "ts": str, "step": str}``: one host finished one
  task (``step`` only for workflow steps). Never any output or reason.

The last plan line is the current expectation of which hosts will run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import HostResult


def format_event(record: HostResult, task_name: str, ts: str) -> str:
    """One ``result`` line: host, task, status, timestamp (never output)."""
    event: dict[str, Any] = {
        "event": "result",
        "host": record.host,
        "task": task_name,
        "status": record.status,
        "ts": ts,
    }
    if record.step:
        event["step"] = record.step
    return json.dumps(event, sort_keys=True)


def format_play_plan_event(play: str, hosts: Iterable[str]) -> str:
    """One ``plan`` line for a play that starts on ``hosts``."""
    return json.dumps(
        {"event": "plan", "hosts": [str(h) for h in hosts], "play": play, "source": "play"}, sort_keys=True
    )


def format_route_plan_event(plan: Mapping[str, Any]) -> str:
    """One ``plan`` line for a routing plan: its selected hosts in dispatch order."""
    return json.dumps({"event": "plan", "hosts": selected_hosts(plan), "source": "route"}, sort_keys=True)


def selected_hosts(plan: Mapping[str, Any]) -> list[str]:
    """The hosts a routing plan selected, by their dispatch order (hosts without an order keep plan order, last)."""
    selected = []
    for index, host in enumerate(plan.get("hosts") or []):
        if isinstance(host, Mapping) and host.get("status") == "selected":
            order = host.get("order")
            rank = (0, order) if isinstance(order, int | float) and not isinstance(order, bool) else (1, 0)
            selected.append((rank, index, str(host.get("host"))))
    return [entry[2] for entry in sorted(selected)]
