from __future__ import annotations

import json

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import HostResult
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_events import (
    format_event,
    format_play_plan_event,
    format_route_plan_event,
    selected_hosts,
)

TS = "2026-01-01T00:00:00+00:00"


def test_result_line_has_no_output_and_names_its_event() -> None:
    record = HostResult("web-1", "t1", "failed", 1, "f" * 64, "secret reason", step="build")
    assert json.loads(format_event(record, "Run command", TS)) == {
        "event": "result",
        "host": "web-1",
        "task": "Run command",
        "status": "failed",
        "ts": TS,
        "step": "build",
    }
    assert "step" not in json.loads(format_event(HostResult("web-1", "t1", "ok"), "Run command", TS))


def test_play_plan_line_lists_the_play_hosts() -> None:
    assert json.loads(format_play_plan_event("Run the command", ["web-1", "web-2"])) == {
        "event": "plan",
        "source": "play",
        "play": "Run the command",
        "hosts": ["web-1", "web-2"],
    }


def test_route_plan_line_lists_selected_hosts_in_dispatch_order() -> None:
    plan = {
        "version": 1,
        "hosts": [
            {"host": "web-1", "status": "selected", "order": 2},
            {"host": "web-2", "status": "gated", "order": None},
            {"host": "web-3", "status": "selected", "order": 1},
            {"host": "web-4", "status": "not_selected", "order": None},
            {"host": "web-5", "status": "selected", "order": None},
        ],
    }
    assert json.loads(format_route_plan_event(plan)) == {
        "event": "plan",
        "source": "route",
        "hosts": ["web-3", "web-1", "web-5"],
    }


def test_selected_hosts_of_a_plan_selecting_nothing() -> None:
    assert selected_hosts({"hosts": [{"host": "a", "status": "gated"}, "junk"]}) == []
    assert selected_hosts({}) == []
