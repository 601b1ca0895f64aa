# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch raw ARM list pages: one function per list call per subscription, each paging to the end.

Requests go through the generated SDK clients' ``send_request()``, so they use the SDK pipeline (bearer token,
ARM challenge handling, azure-core's RetryPolicy honouring Retry-After) but skip the typed-model
deserialization, which costs seconds per few thousand VMs. Results are plain JSON dicts, ready for
``azure_vms.normalize_vms`` and for the inventory cache. The number of requests grows with pages, never with VMs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_auth import AuthSettings, missing_sdk_error
from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_vms import has_vm_model
from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError, FleetError

try:
    from azure.core.exceptions import AzureError, ClientAuthenticationError
    from azure.core.pipeline.policies import RetryPolicy
    from azure.core.rest import HttpRequest
except ImportError as _ex:
    # The module still imports (ansible-doc, sanity); open_clients reports the missing SDK.
    AZURE_SDK_ERROR: ImportError | None = _ex

    class AzureError(Exception):  # type: ignore[no-redef]
        """Stand-in so the except clauses below stay valid without the SDK."""

    ClientAuthenticationError = AzureError  # type: ignore[misc,assignment]
    RetryPolicy = object  # type: ignore[misc,assignment]
else:
    AZURE_SDK_ERROR = None

# The newest stable api-versions, as used by azure-mgmt-compute 39 / azure-mgmt-network 33.1.
COMPUTE_API_VERSION = "2026-04-01"
NETWORK_API_VERSION = "2026-03-01"
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
# The scale-set NIC and public IP lists live under Microsoft.Compute paths but belong to the network API, whose
# newest version for them is 2018-10-01 (what azure-mgmt-network's list_virtual_machine_scale_set_* calls use).
VMSS_NETWORK_API_VERSION = "2018-10-01"
# Subscriptions in these states cannot be listed (ARM answers 403/409); they are skipped and reported.
_UNLISTABLE_STATES = frozenset({"disabled", "deleted"})


class AzureListError(FleetError):
    """A list call that failed after retries, for one subscription."""

    def __init__(self, subject: str, reason: str, *, subscription_id: str = "", status: int | None = None) -> None:
        self.subscription_id = subscription_id
        self.status = status
        super().__init__(subject, reason)


class RetryTimeExceeded(Exception):
    """Retry-After asks for a wait longer than the time left; raised instead of sleeping past the bound.

    Not an AzureError on purpose: RetryPolicy retries AzureErrors, and this must stop the request.
    """


class BoundedRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy (Retry-After honoured, 429/5xx retried) that never sleeps past its total time.

    The stock policy checks its ``timeout`` only after sleeping, so one long Retry-After could overrun it.
    It also counts retries, for the -vvvv summary.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self.retries = 0

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = super().configure_retries(options)
        settings["deadline"] = time.monotonic() + settings["timeout"]
        return settings

    def increment(self, settings: dict[str, Any], response: Any = None, error: Any = None) -> bool:
        with self._lock:
            self.retries += 1
        return super().increment(settings, response=response, error=error)

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        wait = self.get_retry_after(response) if response is not None else None
        left = settings["deadline"] - time.monotonic()
        if wait is not None and wait > left:
            raise RetryTimeExceeded(
                f"Retry-After asks for {wait:g}s but only {max(left, 0):.0f}s of retry time are left"
            )
        super().sleep(settings, transport, response=response)


@dataclass(frozen=True, slots=True)
class ArmClients:
    """The SDK clients whose pipelines carry the raw requests, and their shared retry policy."""

    compute: Any
    network: Any
    retry: BoundedRetryPolicy
    credential: Any = None

    def close(self) -> None:
        """Close the clients' and the credential's HTTP sessions."""
        self.compute.close()
        self.network.close()
        close = getattr(self.credential, "close", None)
        if close is not None:
            close()


def open_clients(credential: Any, settings: AuthSettings, *, max_retries: int, retry_timeout: float) -> ArmClients:
    """Create the compute and network clients for the ARM endpoint in ``settings`` (no request is made).

    One client of each kind serves every subscription and thread (SDK clients are thread-safe): the raw
    requests carry the subscription in their URL, so the client's own subscription id is never used.
    """
    if AZURE_SDK_ERROR is not None:
        raise missing_sdk_error(AZURE_SDK_ERROR)
    try:
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.network import NetworkManagementClient
    except ImportError as ex:
        raise missing_sdk_error(ex) from ex

    retry = BoundedRetryPolicy(retry_total=max_retries, timeout=retry_timeout)
    common = {
        "base_url": settings.arm_endpoint,
        "credential_scopes": settings.credential_scopes,
        "retry_policy": retry,
        **settings.transport_options,
    }
    return ArmClients(
        compute=ComputeManagementClient(credential, "", **common),
        network=NetworkManagementClient(credential, "", **common),
        retry=retry,
        credential=credential,
    )


def _authentication_failed(ex: ClientAuthenticationError) -> FleetConfigError:
    # Fatal for every subscription alike, so it is a config error rather than a partial failure.
    return FleetConfigError(
        "Failed to authenticate to Azure",
        str(ex).splitlines()[0],
        "Check the credential options (auth_source, client_id, tenant_id, client_secret).",
    )


def _error_text(response: Any) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    detail = f" ({error.get('code')}: {error.get('message')})" if error.get("code") else ""
    return f"{response.status_code} {response.reason or ''}".strip() + detail


def fetch_pages(client: Any, url: str, *, what: str, subscription_id: str = "") -> tuple[list[dict[str, Any]], int]:
    """GET ``url`` and every ``nextLink`` after it; return all ``value`` items and the number of pages.

    Raises AzureListError naming ``what`` and the subscription when a page fails after retries.
    """
    where = f" in subscription {subscription_id!r}" if subscription_id else ""
    subject = f"Failed to list {what}{where}"
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        try:
            response = client.send_request(HttpRequest("GET", next_url))
        except ClientAuthenticationError:
            raise
        except (AzureError, RetryTimeExceeded) as ex:
            raise AzureListError(subject, str(ex).splitlines()[0], subscription_id=subscription_id) from ex
        pages += 1
        if response.status_code >= 400:
            raise AzureListError(
                subject, _error_text(response), subscription_id=subscription_id, status=response.status_code
            )
        body = response.json()
        items.extend(body.get("value") or [])
        # ARM's nextLink is absolute and carries api-version; follow it verbatim.
        next_url = body.get("nextLink")
    return items, pages


def fetch_subscriptions(clients: ArmClients) -> tuple[list[dict[str, Any]], int]:
    """List the subscriptions the credential can see."""
    return fetch_pages(clients.compute, f"/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}", what="subscriptions")


def listable_subscription_ids(subscriptions: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Split subscription list items into ids that can be listed and ids skipped for their state."""
    listable, skipped = [], []
    for item in subscriptions:
        sub = item.get("subscriptionId") or str(item.get("id", "")).rsplit("/", 1)[-1]
        (skipped if str(item.get("state", "")).lower() in _UNLISTABLE_STATES else listable).append(sub)
    return sorted(listable), sorted(skipped)


def fetch_vms(clients: ArmClients, subscription_id: str, *, status_only: bool = True) -> tuple[list[dict], int]:
    """List every VM of a subscription; with ``status_only`` each item carries its instance-view statuses."""
    url = f"/subscriptions/{subscription_id}/providers/Microsoft.Compute/virtualMachines"
    url += f"?api-version={COMPUTE_API_VERSION}"
    if status_only:
        url += "&statusOnly=true"
    return fetch_pages(clients.compute, url, what="virtual machines", subscription_id=subscription_id)


def fetch_nics(clients: ArmClients, subscription_id: str) -> tuple[list[dict], int]:
    """List every network interface of a subscription."""
    url = f"/subscriptions/{subscription_id}/providers/Microsoft.Network/networkInterfaces"
    url += f"?api-version={NETWORK_API_VERSION}"
    return fetch_pages(clients.network, url, what="network interfaces", subscription_id=subscription_id)


def fetch_public_ips(clients: ArmClients, subscription_id: str) -> tuple[list[dict], int]:
    """List every public IP address of a subscription."""
    url = f"/subscriptions/{subscription_id}/providers/Microsoft.Network/publicIPAddresses"
    url += f"?api-version={NETWORK_API_VERSION}"
    return fetch_pages(clients.network, url, what="public IP addresses", subscription_id=subscription_id)


def fetch_scale_sets(clients: ArmClients, subscription_id: str) -> tuple[list[dict], int]:
    """List every virtual machine scale set of a subscription (their models carry tags and orchestration mode)."""
    url = f"/subscriptions/{subscription_id}/providers/Microsoft.Compute/virtualMachineScaleSets"
    url += f"?api-version={COMPUTE_API_VERSION}"
    return fetch_pages(clients.compute, url, what="virtual machine scale sets", subscription_id=subscription_id)


def _path_of(resource_id: str) -> str:
    # Ids come from ARM already URL-safe; keep them verbatim (ARM matches the path case-insensitively).
    return resource_id.rstrip("/")


def fetch_scale_set_vms(clients: ArmClients, scale_set_id: str, subscription_id: str) -> tuple[list[dict], int]:
    """List the instances of one Uniform scale set, each with its instance view (power state)."""
    url = f"{_path_of(scale_set_id)}/virtualMachines?api-version={COMPUTE_API_VERSION}&$expand=instanceView"
    return fetch_pages(
        clients.compute,
        url,
        what=f"instances of scale set {scale_set_id.rsplit('/', 1)[-1]!r}",
        subscription_id=subscription_id,
    )


def fetch_scale_set_nics(clients: ArmClients, scale_set_id: str, subscription_id: str) -> tuple[list[dict], int]:
    """List the network interfaces of every instance of one Uniform scale set."""
    url = f"{_path_of(scale_set_id)}/networkInterfaces?api-version={VMSS_NETWORK_API_VERSION}"
    return fetch_pages(
        clients.network,
        url,
        what=f"network interfaces of scale set {scale_set_id.rsplit('/', 1)[-1]!r}",
        subscription_id=subscription_id,
    )


def fetch_scale_set_public_ips(clients: ArmClients, scale_set_id: str, subscription_id: str) -> tuple[list[dict], int]:
    """List the instance-level public IP addresses of one Uniform scale set."""
    url = f"{_path_of(scale_set_id)}/publicipaddresses?api-version={VMSS_NETWORK_API_VERSION}"
    return fetch_pages(
        clients.network,
        url,
        what=f"public IP addresses of scale set {scale_set_id.rsplit('/', 1)[-1]!r}",
        subscription_id=subscription_id,
    )


_LISTS: dict[str, Callable[[ArmClients, str], tuple[list[dict], int]]] = {
    "vms": fetch_vms,
    "nics": fetch_nics,
    "public_ips": fetch_public_ips,
    "scale_sets": fetch_scale_sets,
}
_SCALE_SET_LISTS: dict[str, Callable[[ArmClients, str, str], tuple[list[dict], int]]] = {
    "vmss_vms": fetch_scale_set_vms,
    "vmss_nics": fetch_scale_set_nics,
    "vmss_public_ips": fetch_scale_set_public_ips,
}


def uniform_scale_set_lists(scale_sets: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(scale set id, list kind) pairs to fetch: VMs and NICs of each Uniform scale set, plus its public IPs only
    when its model gives instances public addresses. Flexible members are in the subscription's own lists."""
    wanted = []
    for scale_set in scale_sets:
        props = scale_set.get("properties") or {}
        if str(props.get("orchestrationMode") or "Uniform").lower() != "uniform" or not scale_set.get("id"):
            continue
        wanted += [(scale_set["id"], "vmss_vms"), (scale_set["id"], "vmss_nics")]
        if _has_instance_public_ips(props):
            wanted.append((scale_set["id"], "vmss_public_ips"))
    return wanted


def _has_instance_public_ips(props: Mapping[str, Any]) -> bool:
    network = (props.get("virtualMachineProfile") or {}).get("networkProfile") or {}
    for nic in network.get("networkInterfaceConfigurations") or []:
        for config in (nic.get("properties") or {}).get("ipConfigurations") or []:
            if (config.get("properties") or {}).get("publicIPAddressConfiguration"):
                return True
    return False


def fetch_fleet(clients: ArmClients, subscription_ids: Sequence[str], *, max_workers: int = 8) -> dict[str, Any]:
    """Fetch VMs (with power state), NICs and public IPs of every subscription, concurrently.

    Returns plain data for the cache::

        {"subscriptions": {sub: {"vms": [...], "vm_models": [...] | None, "nics": [...], "public_ips": [...],
                                 "scale_sets": [...], "vmss_vms": [...], "vmss_nics": [...], "vmss_public_ips": [...]}},
         "failures": {sub: "message"}, "pages": int}

    Uniform scale-set instances are not in the subscription's VM list: each Uniform scale set adds its own VM and
    NIC lists (and public IPs when its model has them), so requests grow with scale sets and pages, not instances.

    ``vm_models`` is fetched only when the status-only items lack the VM model (``networkProfile``); the
    statusOnly body is not documented, so both shapes are handled, still in O(pages) requests. A failing
    subscription lands in ``failures``; a credential that cannot get a token raises FleetConfigError.
    """
    results: dict[str, dict[str, Any]] = {
        sub: {"vm_models": None, "vmss_vms": [], "vmss_nics": [], "vmss_public_ips": []} for sub in subscription_ids
    }
    failures: dict[str, str] = {}
    pages = 0

    def collect(futures: dict[tuple[str, str], Any]) -> None:
        nonlocal pages
        for (sub, kind), future in futures.items():
            try:
                items, count = future.result()
            except ClientAuthenticationError as ex:
                raise _authentication_failed(ex) from ex
            except AzureListError as ex:
                failures.setdefault(sub, ex.message)
                continue
            pages += count
            if kind.startswith("vmss_"):
                results[sub][kind.split("#", 1)[0]].extend(items)
            else:
                results[sub][kind] = items

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(_LISTS) * len(subscription_ids)))) as pool:
        collect({(sub, kind): pool.submit(fn, clients, sub) for sub in subscription_ids for kind, fn in _LISTS.items()})
        need_models = [
            sub
            for sub in subscription_ids
            if sub not in failures and results[sub]["vms"] and not has_vm_model(results[sub]["vms"])
        ]
        second: dict[tuple[str, str], Any] = {
            (sub, "vm_models"): pool.submit(fetch_vms, clients, sub, status_only=False) for sub in need_models
        }
        for sub in subscription_ids:
            if sub in failures:
                continue
            for n, (scale_set_id, kind) in enumerate(uniform_scale_set_lists(results[sub]["scale_sets"])):
                # Keyed by position: collect() walks the keys, and one subscription has many scale-set lists.
                second[(sub, f"{kind}#{n}")] = pool.submit(_SCALE_SET_LISTS[kind], clients, scale_set_id, sub)
        collect(second)
    return {
        "subscriptions": {sub: data for sub, data in sorted(results.items()) if sub not in failures},
        "failures": dict(sorted(failures.items())),
        "pages": pages,
    }


def fetch_inventory(
    clients: ArmClients, subscription_ids: Sequence[str] = (), *, max_workers: int = 8
) -> dict[str, Any]:
    """Everything the inventory needs, as plain data: ``fetch_fleet`` of the given subscriptions, or of every
    subscription the credential sees when none are given (then ``skipped`` lists those in a state that cannot be
    listed). Failing to list subscriptions or to authenticate raises a FleetError: there is nothing to return.
    """
    skipped: list[str] = []
    pages = 0
    if not subscription_ids:
        try:
            items, pages = fetch_subscriptions(clients)
        except ClientAuthenticationError as ex:
            raise _authentication_failed(ex) from ex
        subscription_ids, skipped = listable_subscription_ids(items)
        if not subscription_ids:
            raise FleetConfigError(
                "No Azure subscription to list",
                "the credential sees no enabled subscription",
                "Grant the identity Reader on a subscription, or set the subscriptions option.",
            )
    fetched = fetch_fleet(clients, sorted(set(subscription_ids)), max_workers=max_workers)
    fetched["pages"] += pages
    fetched["skipped"] = skipped
    return fetched


def partial_failure_warnings(fetched: Mapping[str, Any], *, fail_on_partial: bool) -> list[str]:
    """Warnings for skipped and failed subscriptions of a ``fetch_inventory`` result.

    Raises FleetError instead when a subscription failed and ``fail_on_partial`` is set, or when none could be
    listed: the inventory must never be silently short.
    """
    failures = fetched["failures"]
    if failures and (fail_on_partial or not fetched["subscriptions"]):
        why = "fail_on_partial is true" if fetched["subscriptions"] else "no subscription could be listed"
        raise FleetError(
            f"Failed to list {len(failures)} Azure subscription(s)",
            "; ".join(failures.values()),
            f"The inventory fails because {why}.",
        )
    warnings = [
        f"Skipped Azure subscription {sub!r}: it is disabled or deleted, so it cannot be listed."
        for sub in fetched.get("skipped", [])
    ]
    warnings += [
        f"{message}. Skipped subscription {sub!r}: its VMs are missing from this inventory. "
        "Set fail_on_partial: true to fail instead."
        for sub, message in failures.items()
    ]
    return warnings
