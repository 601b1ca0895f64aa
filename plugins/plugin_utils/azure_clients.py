# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SDK clients for the actions that write to ARM or read Azure Monitor (I/O; the decisions are elsewhere).

``ComputeClients`` hands out one ComputeManagementClient per subscription (power operations need it in the
client). ``MetricsQuery`` runs one getBatch call per MetricBatch, through azure-monitor-querymetrics'
``MetricsClient`` when it is installed, else through an azure-core pipeline (bearer token, the same retry policy)
and ``send_request``; both give the raw ``values`` items ``azure_metrics.host_metrics`` reads.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_auth import AuthSettings, missing_sdk_error
from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_fetch import BoundedRetryPolicy
from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_metrics import (
    METRIC_NAMES,
    METRICS_API_VERSION,
    NAMESPACE,
    MetricBatch,
    metrics_endpoint_for,
    query_window,
    result_to_answer,
)


class ComputeClients:
    """One ComputeManagementClient per subscription, created on first use (thread-safe), closed together."""

    def __init__(self, credential: Any, settings: AuthSettings, *, max_retries: int, retry_timeout: float) -> None:
        try:
            from azure.mgmt.compute import ComputeManagementClient
        except ImportError as ex:
            raise missing_sdk_error(ex) from ex
        self._factory = ComputeManagementClient
        self._credential = credential
        self.retry = BoundedRetryPolicy(retry_total=max_retries, timeout=retry_timeout)
        self._common = {
            "base_url": settings.arm_endpoint,
            "credential_scopes": settings.credential_scopes,
            "retry_policy": self.retry,
            **settings.transport_options,
        }
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, subscription_id: str) -> Any:
        with self._lock:
            key = subscription_id.lower()
            if key not in self._clients:
                self._clients[key] = self._factory(self._credential, subscription_id, **self._common)
            return self._clients[key]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        close = getattr(self._credential, "close", None)
        if close is not None:
            close()


def has_querymetrics() -> bool:
    """Whether the azure-monitor-querymetrics client is installed."""
    try:
        import azure.monitor.querymetrics  # noqa: F401
    except ImportError:
        return False
    return True


class MetricsQuery:
    """``query(batch) -> [values item, ...]``: one getBatch call for one batch, on its region's endpoint."""

    def __init__(
        self,
        credential: Any,
        settings: AuthSettings,
        *,
        endpoint_template: str,
        audience: str,
        keys: Sequence[str],
        window_minutes: int,
        granularity: str,
        now: dt.datetime,
        max_retries: int,
        retry_timeout: float,
        use_client: bool | None = None,
    ) -> None:
        self._credential = credential
        self._template = endpoint_template
        self._scopes = [f"{audience.rstrip('/')}/.default"]
        self._names = [METRIC_NAMES[k] for k in keys]
        self._window = query_window(now, window_minutes)
        self._granularity = granularity.upper()
        self.retry = BoundedRetryPolicy(retry_total=max_retries, timeout=retry_timeout)
        self._transport = settings.transport_options
        self.client_kind = "querymetrics" if (has_querymetrics() if use_client is None else use_client) else "pipeline"
        self._clients: dict[str, Any] = {}
        self._endpoints: dict[str, str] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def _client(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                endpoint = metrics_endpoint_for(self._template, region)
                self._endpoints[region] = endpoint
                if self.client_kind == "querymetrics":
                    from azure.monitor.querymetrics import MetricsClient

                    self._clients[region] = MetricsClient(
                        endpoint,
                        self._credential,
                        credential_scopes=self._scopes,
                        retry_policy=self.retry,
                        **self._transport,
                    )
                else:
                    self._clients[region] = _pipeline_client(endpoint, self._credential, self._scopes, self.retry)
            self.calls += 1
            return self._clients[region]

    def __call__(self, batch: MetricBatch) -> list[dict[str, Any]]:
        client = self._client(batch.region)
        if self.client_kind == "querymetrics":
            start, end = (dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in self._window)
            minutes = int(self._granularity.removeprefix("PT").removesuffix("M") or 1)
            results = client.query_resources(
                resource_ids=list(batch.resource_ids),
                metric_namespace=NAMESPACE,
                metric_names=self._names,
                timespan=(start, end),
                granularity=dt.timedelta(minutes=minutes),
                aggregations=["Average"],
            )
            # Results come back in the order of resource_ids; each carries no id of its own.
            return [result_to_answer(r, rid) for r, rid in zip(results, batch.resource_ids, strict=False)]
        endpoint = self._endpoints[batch.region]
        return _send_batch(client, endpoint, batch, self._names, self._window, self._granularity, self._transport)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        close = getattr(self._credential, "close", None)
        if close is not None:
            close()


def _pipeline_client(endpoint: str, credential: Any, scopes: list[str], retry: Any) -> Any:
    from azure.core import PipelineClient
    from azure.core.pipeline import policies

    return PipelineClient(
        base_url=endpoint,
        policies=[
            policies.HeadersPolicy(),
            policies.UserAgentPolicy("azlin-fleet"),
            retry,
            policies.BearerTokenCredentialPolicy(credential, *scopes),
            policies.ContentDecodePolicy(),
            policies.NetworkTraceLoggingPolicy(),
        ],
    )


def _send_batch(
    client: Any,
    endpoint: str,
    batch: MetricBatch,
    names: Sequence[str],
    window: tuple[str, str],
    granularity: str,
    transport: dict[str, Any],
) -> list[dict[str, Any]]:
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest

    query = (
        f"metricnamespace={quote(NAMESPACE, safe='')}&metricnames={quote(','.join(names), safe=',')}"
        f"&starttime={window[0]}&endtime={window[1]}&interval={granularity}&aggregation=average"
        f"&api-version={METRICS_API_VERSION}"
    )
    request = HttpRequest(
        "POST",
        f"{endpoint}/subscriptions/{batch.subscription_id}/metrics:getBatch?{query}",
        json={"resourceids": list(batch.resource_ids)},
    )
    response = client.send_request(request, **transport)
    if response.status_code >= 400:
        raise HttpResponseError(response=response)
    return list(response.json().get("values") or [])
