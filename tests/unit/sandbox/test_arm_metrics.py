"""The endpoint's metrics:getBatch answers (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from azlin_fleet_sandbox.arm.metrics import MetricsRequestError, batch_response, synthetic_load

NOW = datetime(2026, 12, 4, 18, 30, 40, tzinfo=UTC)
QUERY = {
    "metricnamespace": "Microsoft.Compute/virtualMachines",
    "metricnames": "Percentage CPU,Available Memory Percentage",
    "interval": "PT1M",
    "starttime": "2026-12-04T18:25:40Z",
    "endtime": "2026-12-04T18:30:40Z",
}
VMS = {
    "/subscriptions/s/vm/a": {"location": "eastus", "running": True, "load": {"cpu": 63.0, "mem": 30.0}},
    "/subscriptions/s/vm/b": {"location": "eastus", "running": False, "load": {"cpu": 5.0, "mem": 30.0}},
    "/subscriptions/s/vm/c": {"location": "westeurope", "running": True, "load": {"cpu": 5.0, "mem": 30.0}},
}


def test_points_up_to_the_last_complete_minute_from_the_set_load():
    body = batch_response(QUERY, ["/subscriptions/s/vm/a", "/subscriptions/s/vm/b"], VMS, "eastus", NOW)
    first, second = body["values"]
    assert first["resourceid"] == "/subscriptions/s/vm/a" and first["interval"] == "PT1M"
    cpu, mem = first["value"]
    assert cpu["name"]["value"] == "Percentage CPU" and cpu["unit"] == "Percent" and cpu["errorCode"] == "Success"
    points = cpu["timeseries"][0]["data"]
    assert [p["timeStamp"] for p in points] == [f"2026-12-04T18:{m}:00Z" for m in range(25, 30)]
    assert {p["average"] for p in points} == {63.0}
    assert {p["average"] for p in mem["timeseries"][0]["data"]} == {70.0}  # available = 100 - used
    assert second["value"][0]["timeseries"][0]["data"] == []  # not running: no data


@pytest.mark.parametrize(
    ("change", "ids", "match"),
    [
        ({}, [f"/subscriptions/s/vm/{i}" for i in range(51)], "exceeds the maximum of 50"),
        ({}, ["/subscriptions/s/vm/c"], "is in region westeurope, not eastus"),
        ({"metricnames": "Disk Read Bytes"}, ["/subscriptions/s/vm/a"], "Disk Read Bytes"),
        ({"interval": "PT2M"}, ["/subscriptions/s/vm/a"], "PT2M"),
        ({}, [], "empty"),
    ],
    ids=["51-resources", "other-region", "unknown-metric", "bad-interval", "empty"],
)
def test_requests_arm_refuses(change, ids, match):
    with pytest.raises(MetricsRequestError, match=match):
        batch_response(QUERY | change, ids, VMS, "eastus", NOW)


def test_synthetic_load_is_stable_and_in_range():
    assert synthetic_load("vm-00001") == synthetic_load("vm-00001")
    assert all(1 <= synthetic_load(f"vm-{i}")["cpu"] <= 99 for i in range(200))
