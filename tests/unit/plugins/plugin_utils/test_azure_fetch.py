"""Fetching ARM list pages through the real SDK clients and azure-core pipeline (auth, retry), answered from fixture
pages by a requests transport adapter instead of the network."""

from __future__ import annotations

import copy
import io
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import urllib3
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from ansible_collections.azlin.fleet.plugins.plugin_utils import azure_fetch, azure_vms
from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_fetch import (
    ArmClients,
    AzureListError,
    BoundedRetryPolicy,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError, FleetError

ARM = Path(__file__).resolve().parents[2] / "fixtures" / "arm"
BASE = "https://arm.test"
S1 = "11111111-1111-4111-8111-111111111111"
S2 = "22222222-2222-4222-8222-222222222222"
PATHS = {
    "vms": "/providers/Microsoft.Compute/virtualMachines",
    "nics": "/providers/Microsoft.Network/networkInterfaces",
    "public_ips": "/providers/Microsoft.Network/publicIPAddresses",
    "scale_sets": "/providers/Microsoft.Compute/virtualMachineScaleSets",
}


class Reply:
    def __init__(self, status: int = 200, body: dict | None = None, headers: dict | None = None) -> None:
        self.status, self.body, self.headers = status, body or {}, headers or {}


class ArmPages(requests.adapters.BaseAdapter):
    """Answers ARM GETs from a table {(path, frozenset of query items): [Reply, ...]}; the last reply repeats."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[tuple[str, frozenset], list[Reply]] = {}
        self.calls: list[tuple[str, dict, str]] = []

    def add(self, url: str, *replies: Reply) -> None:
        self.routes[self._key(url)] = list(replies)

    @staticmethod
    def _key(url: str) -> tuple[str, frozenset]:
        parts = urlsplit(url)
        query = frozenset((k, v[0]) for k, v in parse_qs(parts.query).items())
        return parts.path, query

    def send(self, request, **kwargs):  # noqa: ARG002 - requests' adapter signature
        key = self._key(request.url)
        self.calls.append((key[0], dict(key[1]), request.headers.get("Authorization", "")))
        replies = self.routes.get(key)
        reply = (
            (replies.pop(0) if len(replies) > 1 else replies[0])
            if replies
            else Reply(404, {"error": {"code": "NotFound"}})
        )
        response = requests.Response()
        response.status_code = reply.status
        response.reason = {
            200: "OK",
            403: "Forbidden",
            404: "Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
        }[reply.status]
        response.headers.update({"Content-Type": "application/json", **reply.headers})
        content = json.dumps(reply.body).encode()
        response.raw = urllib3.HTTPResponse(body=io.BytesIO(content), status=reply.status, preload_content=False)
        response._content = content
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


class StaticToken:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls = 0

    def get_token(self, *scopes, **kwargs):
        self.calls += 1
        if self.fail:
            raise ClientAuthenticationError("the token endpoint said no\nmore lines")
        return AccessToken("unit-token", int(time.time()) + 3600)


def make_clients(pages: ArmPages, credential=None, *, max_retries: int = 2, retry_timeout: float = 30) -> ArmClients:
    session = requests.Session()
    session.mount("https://", pages)
    retry = BoundedRetryPolicy(retry_total=max_retries, timeout=retry_timeout, retry_backoff_factor=0.01)
    common = {
        "base_url": BASE,
        "credential_scopes": [f"{BASE}/.default"],
        "retry_policy": retry,
        "transport": RequestsTransport(session=session, session_owner=False),
    }
    credential = credential or StaticToken()
    return ArmClients(
        compute=ComputeManagementClient(credential, "", **common),
        network=NetworkManagementClient(credential, "", **common),
        retry=retry,
    )


def list_url(sub: str, kind: str, **query: str) -> str:
    version = azure_fetch.COMPUTE_API_VERSION if kind in ("vms", "scale_sets") else azure_fetch.NETWORK_API_VERSION
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"{BASE}/subscriptions/{sub}{PATHS[kind]}?api-version={version}{extra}"


def serve_fleet(pages: ArmPages) -> None:
    """Route the hand-made fleet pages; 'NEXT' becomes an absolute nextLink with a $skiptoken, as ARM sends."""
    doc = json.loads((ARM / "fleet_pages.json").read_text())
    for sub, data in doc["subscriptions"].items():
        lists = [
            ("vms", data["vms_status_pages"], {"statusOnly": "true"}),
            ("vms", data["vm_model_pages"], {}),
            ("nics", data["nic_pages"], {}),
            ("public_ips", data["pip_pages"], {}),
            # These subscriptions have no scale set: one empty page each.
            ("scale_sets", [{"value": []}], {}),
        ]
        for kind, kind_pages, query in lists:
            for index, page in enumerate(kind_pages or []):
                page = copy.deepcopy(page)
                skip = {"$skiptoken": str(index)} if index else {}
                if page.get("nextLink") == "NEXT":
                    page["nextLink"] = list_url(sub, kind, **query, **{"$skiptoken": str(index + 1)})
                pages.add(list_url(sub, kind, **query, **skip), Reply(body=page))


def test_fetch_vms_pages_to_the_end_with_status_only_and_a_bearer_token():
    pages = ArmPages()
    serve_fleet(pages)
    items, count = azure_fetch.fetch_vms(make_clients(pages), S1)
    assert [vm["name"] for vm in items] == ["web-1", "db-1", "old-1"]
    assert count == 2
    assert [call[1] for call in pages.calls] == [
        {"api-version": "2026-04-01", "statusOnly": "true"},
        {"api-version": "2026-04-01", "statusOnly": "true", "$skiptoken": "1"},
    ]
    assert all(call[2] == "Bearer unit-token" for call in pages.calls)


def test_fetch_fleet_makes_list_calls_only_and_lists_models_only_when_needed():
    pages = ArmPages()
    serve_fleet(pages)
    fetched = azure_fetch.fetch_fleet(make_clients(pages), [S1, S2], max_workers=4)
    assert fetched["failures"] == {}
    # S1's status-only items lack networkProfile -> one model list; S2's carry the full model -> none.
    assert [vm["name"] for vm in fetched["subscriptions"][S1]["vm_models"]] == ["web-1", "db-1", "old-1"]
    assert fetched["subscriptions"][S2]["vm_models"] is None
    # S1: 2 status pages + 1 model page + 1 NIC page + 1 public IP page + 1 scale set page; S2: 2 + 2 NIC pages + 1 + 1.
    assert fetched["pages"] == 12 == len(pages.calls)
    assert not any("instanceView" in path or "/virtualMachines/" in path for path, _, _ in pages.calls)
    names = [(r.subscription_id, r.name, r.private_ip) for r in azure_vms.normalize_fleet(fetched)]
    assert names == [
        (S2, "app-1", "10.1.0.4"),
        (S1, "db-1", "10.0.1.5"),
        (S1, "old-1", "10.0.0.9"),
        (S1, "web-1", "10.0.0.4"),
        (S2, "web-1", "10.1.9.4"),
    ]
    assert json.loads(json.dumps(fetched)) == fetched  # plain data, ready for the cache


def test_429_is_retried_after_retry_after():
    pages = ArmPages()
    url = list_url(S1, "nics")
    pages.add(
        url,
        Reply(429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "1"}),
        Reply(body={"value": [{"id": "n"}]}),
    )
    clients = make_clients(pages)
    start = time.monotonic()
    items, count = azure_fetch.fetch_nics(clients, S1)
    assert (items, count, len(pages.calls), clients.retry.retries) == ([{"id": "n"}], 1, 2, 1)
    assert time.monotonic() - start >= 1.0


def test_retry_after_beyond_the_retry_time_fails_at_once():
    pages = ArmPages()
    pages.add(list_url(S1, "nics"), Reply(429, {}, {"Retry-After": "100"}))
    start = time.monotonic()
    with pytest.raises(AzureListError, match=r"network interfaces in subscription '1111.*Retry-After asks for 100s"):
        azure_fetch.fetch_nics(make_clients(pages, retry_timeout=5), S1)
    assert time.monotonic() - start < 5


def test_persistent_500_fails_after_the_retries():
    pages = ArmPages()
    pages.add(list_url(S1, "public_ips"), Reply(500, {"error": {"code": "InternalError", "message": "boom"}}))
    with pytest.raises(
        AzureListError,
        match=r"public IP addresses in subscription '1111.*: 500 Internal Server Error \(InternalError: boom\)",
    ):
        azure_fetch.fetch_public_ips(make_clients(pages, max_retries=1), S1)
    assert len(pages.calls) == 2


def test_a_forbidden_subscription_is_a_failure_and_the_others_are_returned():
    pages = ArmPages()
    serve_fleet(pages)
    pages.add(
        list_url(S2, "vms", statusOnly="true"),
        Reply(403, {"error": {"code": "AuthorizationFailed", "message": "no read on it"}}),
    )
    fetched = azure_fetch.fetch_fleet(make_clients(pages), [S1, S2])
    assert list(fetched["subscriptions"]) == [S1]
    assert fetched["failures"] == {
        S2: f"Failed to list virtual machines in subscription '{S2}': "
        "403 Forbidden (AuthorizationFailed: no read on it)"
    }


def test_a_credential_that_cannot_get_a_token_is_a_config_error():
    pages = ArmPages()
    serve_fleet(pages)
    with pytest.raises(FleetConfigError, match=r"Failed to authenticate to Azure: the token endpoint said no\. Check"):
        azure_fetch.fetch_fleet(make_clients(pages, StaticToken(fail=True)), [S1])
    assert pages.calls == []


def test_fetch_inventory_lists_subscriptions_when_none_are_given():
    pages = ArmPages()
    serve_fleet(pages)
    body = json.loads((ARM / "2022-12-01_GetSubscriptions.json").read_text())["responses"]["200"]["body"]
    # The official example's nextLink ("http://nextlink") stands for a second page: serve one, with ours in it.
    body["nextLink"] = f"{BASE}/subscriptions?api-version=2022-12-01&$skiptoken=1"
    second = {"value": [{"subscriptionId": S1, "state": "Enabled"}, {"subscriptionId": S2, "state": "Disabled"}]}
    pages.add(f"{BASE}/subscriptions?api-version=2022-12-01", Reply(body=body))
    pages.add(f"{BASE}/subscriptions?api-version=2022-12-01&$skiptoken=1", Reply(body=second))
    fetched = azure_fetch.fetch_inventory(make_clients(pages), [])
    assert fetched["skipped"] == [S2]
    # The example's two subscriptions have nothing behind them here (404): they fail, S1 is listed.
    assert list(fetched["subscriptions"]) == [S1]
    assert sorted(fetched["failures"]) == [
        "291bba3f-e0a5-47bc-a099-3bdcb2a50a05",
        "72ac930a-f34e-42d8-b06d-dc2a9e12ed71",
    ]


def test_fetch_inventory_with_no_listable_subscription_is_an_error():
    pages = ArmPages()
    pages.add(f"{BASE}/subscriptions?api-version=2022-12-01", Reply(body={"value": []}))
    with pytest.raises(FleetConfigError, match="No Azure subscription to list"):
        azure_fetch.fetch_inventory(make_clients(pages), [])


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([{"subscriptionId": "b", "state": "Enabled"}, {"subscriptionId": "a", "state": "Warned"}], (["a", "b"], [])),
        ([{"id": "/subscriptions/c", "state": "Deleted"}], ([], ["c"])),
    ],
    ids=["sorted", "id-fallback-and-deleted"],
)
def test_listable_subscription_ids(items, expected):
    assert azure_fetch.listable_subscription_ids(items) == expected


def test_partial_failure_warns_naming_the_subscription():
    fetched = {
        "subscriptions": {S1: {}},
        "failures": {S2: f"Failed to list VMs in subscription '{S2}': 403"},
        "skipped": ["old-sub"],
    }
    assert azure_fetch.partial_failure_warnings(fetched, fail_on_partial=False) == [
        "Skipped Azure subscription 'old-sub': it is disabled or deleted, so it cannot be listed.",
        f"Failed to list VMs in subscription '{S2}': 403. Skipped subscription '{S2}': its VMs are missing from this "
        "inventory. Set fail_on_partial: true to fail instead.",
    ]


@pytest.mark.parametrize(
    ("listed", "fail_on_partial", "why"),
    [({S1: {}}, True, "fail_on_partial is true"), ({}, False, "no subscription could be listed")],
    ids=["fail-on-partial", "nothing-listed"],
)
def test_partial_failure_is_an_error_when_asked_or_when_nothing_is_left(listed, fail_on_partial, why):
    fetched = {"subscriptions": listed, "failures": {S2: "Failed to list VMs in subscription 'x': 500"}, "skipped": []}
    with pytest.raises(
        FleetError, match=rf"Failed to list 1 Azure subscription\(s\): .*500\. The inventory fails because {why}"
    ):
        azure_fetch.partial_failure_warnings(fetched, fail_on_partial=fail_on_partial)


def test_no_failure_no_warning():
    assert azure_fetch.partial_failure_warnings({"subscriptions": {S1: {}}, "failures": {}}, fail_on_partial=True) == []


# -- scale sets ----------------------------------------------------------------------------------------------------
VMSS = json.loads((ARM / "vmss_pages.json").read_text())


def serve_scale_sets(pages: ArmPages) -> str:
    """One subscription with the fixture's scale sets; the Uniform one's instance list comes in two pages."""
    sub = VMSS["subscription"]
    pages.add(list_url(sub, "vms", statusOnly="true"), Reply(body={"value": VMSS["vms"]}))
    pages.add(list_url(sub, "nics"), Reply(body={"value": VMSS["nics"]}))
    pages.add(list_url(sub, "public_ips"), Reply(body={"value": []}))
    pages.add(list_url(sub, "scale_sets"), Reply(body={"value": VMSS["scale_sets"]}))
    uniform = VMSS["scale_sets"][0]["id"]
    compute_q = f"api-version={azure_fetch.COMPUTE_API_VERSION}"
    network_q = f"api-version={azure_fetch.VMSS_NETWORK_API_VERSION}"
    first = f"{BASE}{uniform}/virtualMachines?{compute_q}&$expand=instanceView"
    pages.add(first, Reply(body={"value": VMSS["vmss_vms"][:2], "nextLink": f"{first}&$skiptoken=2"}))
    pages.add(f"{first}&$skiptoken=2", Reply(body={"value": VMSS["vmss_vms"][2:]}))
    pages.add(
        f"{BASE}{uniform}/networkInterfaces?{network_q}",
        Reply(429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "1"}),
        Reply(body={"value": VMSS["vmss_nics"]}),
    )
    pages.add(f"{BASE}{uniform}/publicipaddresses?{network_q}", Reply(body={"value": VMSS["vmss_public_ips"]}))
    return sub


def test_uniform_scale_sets_add_their_own_lists_and_flexible_ones_none():
    pages = ArmPages()
    sub = serve_scale_sets(pages)
    fetched = azure_fetch.fetch_fleet(make_clients(pages), [sub])
    assert fetched["failures"] == {}
    paths = [path for path, _, _ in pages.calls]
    # 4 subscription lists + 2 instance pages + NICs (one 429, retried) + public IPs; nothing for Web-Flex.
    assert len(pages.calls) == 4 + 2 + 2 + 1
    assert fetched["pages"] == 4 + 2 + 1 + 1
    assert not any("web-flex" in p.lower() for p in paths)
    assert not any(p.rstrip("/").split("/")[-1].isdigit() for p in paths)  # never one instance at a time
    data = fetched["subscriptions"][sub]
    assert [v["name"] for v in data["vmss_vms"]] == ["ci-runners_0", "ci-runners_1", "ci-runners_2"]
    names = {r.name: r for r in azure_vms.normalize_fleet(fetched)}
    assert sorted(names) == ["ci-runners_0", "ci-runners_1", "ci-runners_2", "web-flex-a1"]
    assert names["ci-runners_1"].public_ip == "198.51.100.21" and names["ci-runners_2"].power_state == "deallocated"


@pytest.mark.parametrize(
    ("scale_set", "expected"),
    [
        (VMSS["scale_sets"][0], ["vmss_vms", "vmss_nics", "vmss_public_ips"]),
        (VMSS["scale_sets"][1], []),
        ({**VMSS["scale_sets"][0], "properties": {"orchestrationMode": "Uniform"}}, ["vmss_vms", "vmss_nics"]),
    ],
    ids=["uniform-with-public-ips", "flexible", "uniform-without-public-ips"],
)
def test_uniform_scale_set_lists(scale_set, expected):
    assert [kind for _, kind in azure_fetch.uniform_scale_set_lists([scale_set])] == expected


def test_a_failing_scale_set_list_fails_its_subscription_by_name():
    pages = ArmPages()
    sub = serve_scale_sets(pages)
    uniform = VMSS["scale_sets"][0]["id"]
    pages.add(
        f"{BASE}{uniform}/publicipaddresses?api-version={azure_fetch.VMSS_NETWORK_API_VERSION}",
        Reply(403, {"error": {"code": "AuthorizationFailed", "message": "no"}}),
    )
    fetched = azure_fetch.fetch_fleet(make_clients(pages), [sub])
    assert fetched["subscriptions"] == {}
    assert "public IP addresses of scale set 'ci-runners'" in fetched["failures"][sub]
    assert "403" in fetched["failures"][sub]
