"""The probe table: route order first, then unplaced hosts by name; metrics, score, verdict, reasons."""

from __future__ import annotations

from azlin_fleet_cli.probe_table import render_probe_table


def test_probe_table() -> None:
    report = {
        "plans": [
            {
                "version": 1,
                "gate": "cpu<50",
                "route_by": "score",
                "count": None,
                "hosts": [
                    {
                        "host": "web-2",
                        "status": "gated",
                        "order": None,
                        "score": 63.0,
                        "metrics": {"cpu": 63.0, "mem": 30.0, "load1": 0.5, "cpus": 2, "users": 0},
                        "reasons": ["cpu 63% >= 50%"],
                    },
                    {
                        "host": "web-3",
                        "status": "unmeasurable",
                        "order": None,
                        "score": None,
                        "metrics": None,
                        "reasons": ["probe failed: /proc/stat unreadable"],
                    },
                    {
                        "host": "web-1",
                        "status": "selected",
                        "order": 1,
                        "score": 30.0,
                        "metrics": {"cpu": 5.0, "mem": 30.0, "load1": 0.05, "cpus": 4, "users": 0},
                        "reasons": [],
                    },
                ],
            }
        ]
    }
    assert render_probe_table(report).splitlines() == [
        "ORDER  HOST   CPU%  MEM%  LOAD1  CPUS  USERS  SCORE  VERDICT       REASONS",
        "1      web-1  5     30    0.05   4     0      30.0   selected",
        "-      web-2  63    30    0.50   2     0      63.0   gated         cpu 63% >= 50%",
        "-      web-3  -     -     -      -     -      -      unmeasurable  probe failed: /proc/stat unreadable",
        "gate: cpu<50 · route by: score · count: all",
    ]


def test_probe_table_without_plan() -> None:
    assert render_probe_table({"plans": []}) == "no probe results (no host matched)\n"
