"""Azure Monitor's regional batch metrics API (`metrics:getBatch`) answered from the sandbox hosts' set loads (pure).

Real endpoint: `POST https://{region}.metrics.monitor.azure.com/subscriptions/{sub}/metrics:getBatch
?metricnamespace=Microsoft.Compute/virtualMachines&metricnames=Percentage CPU&starttime=..&endtime=..&interval=PT1M
&aggregation=average&api-version=2024-02-01` with body `{"resourceids": [...]}` (up to 50 resources, all of the
path's subscription and of the endpoint's region). Here the region is a path prefix: `{base}/metrics/{region}`.

Answer shape (2024-02-01): `{"values": [{"starttime", "endtime", "interval", "namespace", "resourceregion",
"resourceid", "value": [{"id", "type": "Microsoft.Insights/metrics", "name": {"value", "localizedValue"},
"displayDescription", "unit": "Percent", "errorCode": "Success", "timeseries": [{"metadatavalues": [],
"data": [{"timeStamp", "average"}]}]}]}]}`. One point per interval up to the last complete minute; a VM that is
not running has no data points (as Azure shows a deallocated VM). `Percentage CPU` is the host's set cpu %,
`Available Memory Percentage` is 100 - its set memory used %. A VM with no sandbox host gets a fixed load derived
from its name (benchmark worlds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_RESOURCES = 50
NAMESPACE = "Microsoft.Compute/virtualMachines"
METRICS = {
    "percentage cpu": (
        "Percentage CPU",
        "The percentage of allocated compute units that are currently in use by the Virtual Machine(s)",
    ),
    "available memory percentage": (
        "Available Memory Percentage",
        "Amount of physical memory, in percentage, "
        "immediately available for allocation to a process or for other uses in the "
        "Virtual Machine",
    ),
}
_INTERVALS = {"PT1M": 1, "PT5M": 5, "PT15M": 15, "PT30M": 30, "PT1H": 60}


class MetricsRequestError(ValueError):
    """A request ARM answers with 400: (code, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def synthetic_load(name: str) -> dict[str, float]:
    """A fixed cpu/mem for a VM with no sandbox host: 1..99 % cpu from a hash of its name."""
    digest = hashlib.sha256(name.encode()).digest()
    return {"cpu": float(1 + digest[0] % 99), "mem": float(10 + digest[1] % 80)}


def batch_response(
    query: Mapping[str, str],
    resource_ids: Sequence[str],
    vms: Mapping[str, Mapping[str, Any]],
    region: str,
    now: datetime,
) -> dict[str, Any]:
    """The getBatch answer. `vms` maps lower-cased resource ids to {"location", "running", "load": {cpu, mem}}.

    Raises MetricsRequestError for what ARM refuses with 400 (too many resources, a resource of another region,
    an unknown metric or interval).
    """
    if not resource_ids:
        raise MetricsRequestError("BadRequest", "The resourceids list is empty.")
    if len(resource_ids) > MAX_RESOURCES:
        raise MetricsRequestError(
            "BadRequest", f"The number of resources ({len(resource_ids)}) exceeds the maximum of {MAX_RESOURCES}."
        )
    if (query.get("metricnamespace") or "").lower() != NAMESPACE.lower():
        raise MetricsRequestError("BadRequest", f"Metric namespace {query.get('metricnamespace')!r} is not served.")
    names = [n.strip() for n in (query.get("metricnames") or "").split(",") if n.strip()]
    unknown = [n for n in names if n.lower() not in METRICS]
    if not names or unknown:
        raise MetricsRequestError(
            "BadRequest",
            f"Failed to find metric configuration for provider: Microsoft.Compute, resource Type: virtualMachines, "
            f"metric: {', '.join(unknown) or '(none)'}, Valid metrics: {', '.join(m for m, _ in METRICS.values())}",
        )
    interval = query.get("interval") or "PT1M"
    if interval.upper() not in _INTERVALS:
        raise MetricsRequestError("BadRequest", f"Interval {interval!r} is not supported.")
    step = timedelta(minutes=_INTERVALS[interval.upper()])
    last_complete = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    end = min(_parse_time(query.get("endtime"), now), now)
    start = _parse_time(query.get("starttime"), end - timedelta(minutes=5))
    values = []
    for resource_id in resource_ids:
        vm = vms.get(resource_id.lower())
        if vm is not None and vm["location"].lower() != region.lower():
            raise MetricsRequestError(
                "BadRequest",
                f"Resource {resource_id} is in region {vm['location']}, not {region}: query each region's endpoint.",
            )
        metrics = []
        for name in names:
            display, description = METRICS[name.lower()]
            points = []
            if vm is not None and vm["running"]:
                value = vm["load"]["cpu"] if display == "Percentage CPU" else 100.0 - vm["load"]["mem"]
                moment = start.replace(second=0, microsecond=0)
                while moment + step <= end and moment <= last_complete:
                    points.append({"timeStamp": _iso(moment), "average": round(float(value), 2)})
                    moment += step
            metrics.append(
                {
                    "id": f"{resource_id}/providers/Microsoft.Insights/metrics/{display}",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": display, "localizedValue": display},
                    "displayDescription": description,
                    "unit": "Percent",
                    "errorCode": "Success",
                    "timeseries": [{"metadatavalues": [], "data": points}],
                }
            )
        values.append(
            {
                "starttime": _iso(start),
                "endtime": _iso(end),
                "interval": interval.upper(),
                "namespace": NAMESPACE,
                "resourceregion": region,
                "resourceid": resource_id,
                "value": metrics,
            }
        )
    return {"values": values}
