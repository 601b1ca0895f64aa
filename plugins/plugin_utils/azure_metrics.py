# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host metrics from Azure Monitor instead of SSH: ``Percentage CPU`` (and memory) via ``metrics:getBatch``.

Pure: ``plan_batches`` groups VMs by subscription and region in batches of at most 50 resources (the API's limit),
``host_metrics`` turns the answers into the probe's metrics dicts (``cpu``, ``mem``: the keys of the gate grammar)
with the metric's age and granularity, and ``azure_gate_problems`` names gate terms Azure cannot answer (load
average and interactive users stay SSH-only). I/O: ``fetch_metric_batches`` (named so), through the
azure-monitor-querymetrics client when installed, else through an azure-core pipeline's ``send_request``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import parse_gate

MAX_BATCH = 50
NAMESPACE = "Microsoft.Compute/virtualMachines"
CPU_METRIC = "Percentage CPU"
MEMORY_METRIC = "Available Memory Percentage"
# gate key -> Azure Monitor platform metric (memory is reported as available %, the gate wants used %)
METRIC_NAMES: dict[str, str] = {"cpu": CPU_METRIC, "mem": MEMORY_METRIC}
METRICS_API_VERSION = "2024-02-01"
# Regional endpoint of each cloud (the region is put in) and the token audience of the metrics API.
CLOUD_METRICS: dict[str, tuple[str, str]] = {
    "AzureCloud": ("https://{region}.metrics.monitor.azure.com", "https://metrics.monitor.azure.com"),
    "AzureUSGovernment": ("https://{region}.metrics.monitor.azure.us", "https://metrics.monitor.azure.us"),
    "AzureChinaCloud": ("https://{region}.metrics.monitor.azure.cn", "https://metrics.monitor.azure.cn"),
}
_GRANULARITY_MINUTES = {"PT1M": 1, "PT5M": 5, "PT15M": 15, "PT30M": 30, "PT1H": 60}
SSH_ONLY = {
    "load": "load average is not an Azure Monitor metric",
    "users": "interactive users are not an Azure Monitor metric",
    "idle": "'idle' needs the load average and interactive users, which Azure Monitor does not report",
}


@dataclass(frozen=True, slots=True)
class MetricTarget:
    """One host's VM: what a getBatch call needs."""

    host: str
    resource_id: str
    subscription_id: str
    region: str


@dataclass(frozen=True, slots=True)
class MetricBatch:
    """One getBatch call: up to 50 resources of one subscription and region."""

    subscription_id: str
    region: str
    resource_ids: tuple[str, ...]


def targets_from_hostvars(
    hosts: Sequence[str], hostvars: Mapping[str, Mapping[str, Any]]
) -> tuple[list[MetricTarget], dict[str, str]]:
    """MetricTargets from the azure_pools vars (azure_id, azure_subscription_id, azure_location), and the reason
    each other host cannot be measured through Azure."""
    targets, unmeasurable = [], {}
    for host in hosts:
        hv = hostvars.get(host) or {}
        resource_id = str(hv.get("azure_id") or "")
        subscription = str(hv.get("azure_subscription_id") or "")
        region = str(hv.get("azure_location") or "")
        if not (resource_id and subscription and region):
            unmeasurable[host] = (
                "no Azure VM id, subscription or location in its inventory vars (not from azure_pools): "
                "Azure Monitor cannot measure it"
            )
            continue
        targets.append(MetricTarget(host, resource_id, subscription, region.lower()))
    return targets, unmeasurable


def plan_batches(targets: Iterable[MetricTarget], max_batch: int = MAX_BATCH) -> list[MetricBatch]:
    """Group resources by (subscription, region) and cut each group into batches of at most ``max_batch``.

    The number of calls is the sum over groups of ceil(group size / max_batch): 1,000 VMs in one subscription and
    region take 20 calls.
    """
    size = max(1, min(int(max_batch), MAX_BATCH))
    groups: dict[tuple[str, str], list[str]] = {}
    for target in targets:
        groups.setdefault((target.subscription_id.lower(), target.region), []).append(target.resource_id)
    batches = []
    for (subscription, region), ids in sorted(groups.items()):
        unique = sorted(set(ids), key=str.lower)
        batches += [MetricBatch(subscription, region, tuple(unique[i : i + size])) for i in range(0, len(unique), size)]
    return batches


def azure_gate_problems(gate: str | None) -> list[str]:
    """Why a gate cannot be decided from Azure Monitor alone: one line per SSH-only term (empty when it can)."""
    if not gate:
        return []
    parsed = parse_gate(gate)
    seen = []
    for condition in parsed.conditions:
        if condition.metric in SSH_ONLY and condition.metric not in seen:
            seen.append(condition.metric)
    return [f"Gate term {m!r} needs SSH: {SSH_ONLY[m]}." for m in seen]


def metrics_endpoint_for(template: str, region: str) -> str:
    """The regional metrics endpoint: ``template`` with ``{region}`` filled in."""
    return template.replace("{region}", region.lower()).rstrip("/")


def _parse_time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _latest_point(points: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    valued = [p for p in points if p.get("average") is not None]
    return max(valued, key=lambda p: _parse_time(str(p["timeStamp"]))) if valued else None


def host_metrics(
    targets: Iterable[MetricTarget],
    answers: Iterable[Mapping[str, Any]],
    *,
    now: dt.datetime,
    keys: Sequence[str] = ("cpu",),
    max_age: float | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Per-host metrics dicts and the reason each unmeasured host has none.

    ``answers`` are raw getBatch ``values`` items (``resourceid``, ``interval``, ``value[].name.value``,
    ``value[].timeseries[].data[]``). A host's metrics: ``cpu`` (Percentage CPU), ``mem`` (100 - Available Memory
    Percentage) when asked, ``source: azure``, ``granularity`` (e.g. PT1M), ``time`` (start of the newest point),
    ``age`` (seconds from the end of that point's interval to ``now``). A host with no point for a wanted key, or
    whose newest point is older than ``max_age`` seconds, is unmeasurable.
    """
    by_resource: dict[str, Mapping[str, Any]] = {}
    for answer in answers:
        by_resource[str(answer.get("resourceid") or "").lower()] = answer
    metrics: dict[str, dict[str, Any]] = {}
    unmeasurable: dict[str, str] = {}
    for target in targets:
        answer = by_resource.get(target.resource_id.lower())
        if answer is None:
            unmeasurable[target.host] = "Azure Monitor returned nothing for this VM"
            continue
        granularity = str(answer.get("interval") or "PT1M").upper()
        series = {str((m.get("name") or {}).get("value") or "").lower(): m for m in answer.get("value") or []}
        found: dict[str, Any] = {"source": "azure", "granularity": granularity}
        observed: dt.datetime | None = None  # the oldest of the newest points: the age is the worst case
        missing = []
        for key in keys:
            metric = series.get(METRIC_NAMES[key].lower())
            points = [p for ts in (metric or {}).get("timeseries") or [] for p in ts.get("data") or []]
            point = _latest_point(points)
            if point is None:
                missing.append(METRIC_NAMES[key])
                continue
            value = float(point["average"])
            found[key] = round(value if key == "cpu" else 100.0 - value, 2)
            moment = _parse_time(str(point["timeStamp"]))
            observed = moment if observed is None or moment < observed else observed
        if missing or observed is None:
            unmeasurable[target.host] = (
                f"no {' or '.join(missing)} data from Azure Monitor in the queried window "
                "(the VM is not running, or its metrics are late)"
            )
            continue
        end = observed + dt.timedelta(minutes=_GRANULARITY_MINUTES.get(granularity, 1))
        age = max(0.0, round((now - end).total_seconds(), 1))
        if max_age is not None and age > max_age:
            unmeasurable[target.host] = f"its newest Azure Monitor point is {age:g} s old (max_age {max_age:g} s)"
            continue
        found.update(time=observed.strftime("%Y-%m-%dT%H:%M:%SZ"), age=age)
        metrics[target.host] = found
    return metrics, unmeasurable


def query_window(now: dt.datetime, minutes: int) -> tuple[str, str]:
    """(starttime, endtime) ISO strings of the last ``minutes`` minutes."""
    start = now - dt.timedelta(minutes=minutes)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ"), now.strftime("%Y-%m-%dT%H:%M:%SZ")


def result_to_answer(result: Any, resource_id: str) -> dict[str, Any]:
    """A querymetrics ``MetricsQueryResult`` as the raw getBatch ``values`` item it came from (plain data)."""
    granularity = result.granularity
    interval = "PT1M"
    if isinstance(granularity, dt.timedelta):
        interval = f"PT{int(granularity.total_seconds() // 60)}M"
    metrics = []
    for metric in result.metrics or []:
        data = []
        for series in metric.timeseries or []:
            for point in series.data or []:
                stamp = point.timestamp
                text = stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if stamp else ""
                data.append({"timeStamp": text, "average": point.average})
        metrics.append({"name": {"value": metric.name}, "timeseries": [{"data": data}]})
    return {"resourceid": resource_id, "interval": interval if interval != "PT60M" else "PT1H", "value": metrics}


def fetch_metric_batches(
    query_batch: Callable[[MetricBatch], list[dict[str, Any]]],
    batches: Sequence[MetricBatch],
    *,
    max_concurrency: int = 4,
) -> tuple[list[dict[str, Any]], dict[MetricBatch, str]]:
    """Run ``query_batch`` on every batch (I/O, at most ``max_concurrency`` at once): all answers, and the error
    message of each failed batch (its hosts become unmeasurable; the other batches still count)."""
    answers: list[dict[str, Any]] = []
    failures: dict[MetricBatch, str] = {}
    if not batches:
        return answers, failures
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(batches)))) as pool:
        futures = {batch: pool.submit(query_batch, batch) for batch in batches}
        for batch, future in futures.items():
            try:
                answers += future.result()
            except Exception as ex:  # noqa: BLE001 - one failed call must not hide the other batches' hosts
                message = str(ex).strip().splitlines()
                failures[batch] = message[0] if message else type(ex).__name__
    return answers, failures
