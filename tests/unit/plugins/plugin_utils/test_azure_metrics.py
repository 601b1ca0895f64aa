"""Azure Monitor as a probe source: batching, answers to gate metrics, SSH-only gate terms."""

from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils import azure_metrics
from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_metrics import MetricBatch, MetricTarget
from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import evaluate_gate, parse_gate

S1, S2 = "sub-1", "sub-2"
NOW = dt.datetime(2026, 12, 4, 18, 30, 40, tzinfo=dt.UTC)


def rid(sub: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"


def targets(n: int, sub: str = S1, region: str = "eastus", prefix: str = "vm") -> list[MetricTarget]:
    return [MetricTarget(f"{prefix}-{i}", rid(sub, f"{prefix}-{i}"), sub, region) for i in range(n)]


@pytest.mark.parametrize(
    ("groups", "expected_calls"),
    [
        ([(1000, S1, "eastus")], 20),
        ([(50, S1, "eastus")], 1),
        ([(51, S1, "eastus")], 2),
        ([(30, S1, "eastus"), (30, S1, "westeurope"), (30, S2, "eastus")], 3),
        ([(600, S1, "eastus"), (400, S2, "westeurope")], 12 + 8),
    ],
    ids=["1000-one-region", "exactly-50", "51", "three-groups", "1000-two-groups"],
)
def test_plan_batches_needs_one_call_per_50_resources_per_subscription_and_region(groups, expected_calls):
    all_targets = [t for n, sub, region in groups for t in targets(n, sub, region, prefix=f"{sub}-{region}")]
    batches = azure_metrics.plan_batches(all_targets)
    assert len(batches) == expected_calls
    assert all(len(b.resource_ids) <= 50 for b in batches)
    assert all(r.lower().startswith(f"/subscriptions/{b.subscription_id}/") for b in batches for r in b.resource_ids)
    assert sorted(r for b in batches for r in b.resource_ids) == sorted(t.resource_id for t in all_targets)


def test_targets_from_hostvars_names_hosts_azure_cannot_measure():
    hostvars = {
        "web-1": {"azure_id": rid(S1, "web-1"), "azure_subscription_id": S1, "azure_location": "EastUS"},
        "static": {"ansible_host": "10.0.0.9"},
    }
    found, unmeasurable = azure_metrics.targets_from_hostvars(["web-1", "static"], hostvars)
    assert found == [MetricTarget("web-1", rid(S1, "web-1"), S1, "eastus")]
    assert "not from azure_pools" in unmeasurable["static"]


def answer(name: str, cpu_points: list[tuple[str, float | None]], mem_points=None, interval: str = "PT1M") -> dict:
    value = [
        {
            "name": {"value": "Percentage CPU"},
            "timeseries": [{"data": [{"timeStamp": t, "average": v} for t, v in cpu_points]}],
        }
    ]
    if mem_points is not None:
        value.append(
            {
                "name": {"value": "Available Memory Percentage"},
                "timeseries": [{"data": [{"timeStamp": t, "average": v} for t, v in mem_points]}],
            }
        )
    return {"resourceid": rid(S1, name), "interval": interval, "value": value}


def test_host_metrics_takes_the_newest_point_and_says_how_old_it_is():
    web = targets(3, prefix="web")
    answers = [
        answer(
            "web-0", [("2026-12-04T18:28:00Z", 40.0), ("2026-12-04T18:29:00Z", 63.5)], [("2026-12-04T18:29:00Z", 70.0)]
        ),
        answer("web-1", [("2026-12-04T18:29:00Z", None)], [("2026-12-04T18:29:00Z", 90.0)]),  # deallocated: no value
    ]
    metrics, unmeasurable = azure_metrics.host_metrics(web, answers, now=NOW, keys=("cpu", "mem"))
    assert metrics == {
        "web-0": {
            "source": "azure",
            "granularity": "PT1M",
            "cpu": 63.5,
            "mem": 30.0,
            "time": "2026-12-04T18:29:00Z",
            "age": 40.0,
        },
    }
    assert "no Percentage CPU data" in unmeasurable["web-1"]
    assert unmeasurable["web-2"] == "Azure Monitor returned nothing for this VM"
    verdict = evaluate_gate(parse_gate("cpu<50"), metrics["web-0"])
    assert not verdict.passed and verdict.reasons == ("cpu 63.5% >= 50%",)


def test_host_metrics_refuses_points_older_than_max_age():
    web = targets(1, prefix="web")
    metrics, unmeasurable = azure_metrics.host_metrics(
        web, [answer("web-0", [("2026-12-04T18:20:00Z", 5.0)], interval="PT5M")], now=NOW, max_age=120
    )
    assert metrics == {}
    assert unmeasurable["web-0"] == "its newest Azure Monitor point is 340 s old (max_age 120 s)"


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        ("cpu<50", []),
        ("cpu<50 and mem<80", []),
        ("cpu<50 and load<0.7", ["Gate term 'load' needs SSH: load average is not an Azure Monitor metric."]),
        (
            "idle",
            [
                "Gate term 'idle' needs SSH: 'idle' needs the load average and interactive users, which Azure "
                "Monitor does not report."
            ],
        ),
        ("users==0 and users==0", ["Gate term 'users' needs SSH: interactive users are not an Azure Monitor metric."]),
        (None, []),
    ],
    ids=["cpu", "cpu-mem", "load", "idle", "users-once", "no-gate"],
)
def test_azure_gate_problems(gate, expected):
    assert azure_metrics.azure_gate_problems(gate) == expected


def test_azure_gate_problems_rejects_a_bad_gate():
    with pytest.raises(FleetUsageError, match="cpu<<5"):
        azure_metrics.azure_gate_problems("cpu<<5")


def test_fetch_metric_batches_keeps_the_other_batches_when_one_fails():
    batches = azure_metrics.plan_batches(targets(120))

    def query(batch: MetricBatch) -> list[dict]:
        if batch is batches[1]:
            raise RuntimeError("(TooManyRequests) throttled\nmore")
        return [{"resourceid": r} for r in batch.resource_ids]

    answers, failures = azure_metrics.fetch_metric_batches(query, batches, max_concurrency=2)
    assert len(answers) == 120 - len(batches[1].resource_ids)
    assert failures == {batches[1]: "(TooManyRequests) throttled"}


def test_metrics_endpoint_for_fills_the_region():
    assert azure_metrics.metrics_endpoint_for(azure_metrics.CLOUD_METRICS["AzureCloud"][0], "EastUS") == (
        "https://eastus.metrics.monitor.azure.com"
    )
    assert azure_metrics.metrics_endpoint_for("https://127.0.0.1:9/metrics/{region}/", "westeurope") == (
        "https://127.0.0.1:9/metrics/westeurope"
    )
