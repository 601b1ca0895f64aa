"""fleet_probe's measuring functions on this machine's real /proc (the sandbox integration tests cover the module)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.azlin.fleet.plugins.modules import fleet_probe


def test_measure_reads_this_machine() -> None:
    metrics = fleet_probe.measure(0.05)
    assert metrics["cpus"] == os.cpu_count()  # the cpuN lines of /proc/stat
    assert 0.0 <= metrics["cpu"] <= 100.0
    assert 0.0 < metrics["mem"] < 100.0
    assert metrics["load1"] >= 0.0 and metrics["uptime"] > 0.0
    assert metrics["users"] == len(metrics["sessions"])
    assert metrics["interval"] == 0.05


def test_wait_for_returns_at_once_when_limits_hold() -> None:
    metrics, met, waited = fleet_probe.wait_for([{"metric": "cpu", "below": 101}], 0.05, 10)
    assert met is True and waited < 5


def test_wait_for_gives_up_after_the_timeout() -> None:
    metrics, met, waited = fleet_probe.wait_for([{"metric": "cpu", "below": -1}], 0.05, 0.2)
    assert met is False and waited >= 0.2
    assert "cpu" in metrics


def test_unreadable_file_names_the_path(tmp_path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(fleet_probe.ProbeError, match=f"Cannot read {missing}: No such file or directory"):
        fleet_probe._read(str(missing))
