"""Fault rules, counters and the Entra token logic of the local Azure endpoint (no server)."""

from __future__ import annotations

import pytest

from azlin_fleet_sandbox.arm.entra import Entra
from azlin_fleet_sandbox.arm.faults import Control, parse_rule

BASE = "https://127.0.0.1:4443"


def test_429_rule_is_consumed_after_count_requests():
    control = Control(page_size=10)
    control.add_rule({"status": 429, "count": 2, "retry_after": 3})
    answers = [control.take_fault("vms", "sub") for _ in range(3)]
    assert [(rule.status, rule.retry_after) if rule else None for _, rule in answers] == [(429, 3), (429, 3), None]
    assert control.rules() == []


def test_403_persists_and_only_hits_its_subscription_until_reset():
    control = Control(page_size=10)
    control.add_rule({"status": 403, "subscription": "SUB-1"})
    assert all(control.take_fault("nics", "sub-1")[1].status == 403 for _ in range(5))
    assert control.take_fault("nics", "sub-2")[1] is None
    control.reset()
    assert control.take_fault("nics", "sub-1")[1] is None


def test_rule_without_kind_spares_the_token_endpoint_and_kind_narrows():
    control = Control(page_size=10)
    control.add_rule({"status": 500, "count": None})
    assert control.take_fault("token", None)[1] is None
    assert control.take_fault("public_ips", "s")[1].status == 500
    control.reset()
    control.add_rule({"status": 500, "kind": "token"})
    assert control.take_fault("vms", "s")[1] is None
    assert control.take_fault("token", None)[1].status == 500


def test_slow_rule_delays_then_succeeds():
    control = Control(page_size=10)
    control.add_rule({"delay": 0.25, "count": 1, "kind": "vms"})
    assert control.take_fault("vms", "s") == (0.25, None)
    assert control.take_fault("vms", "s") == (0.0, None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"status": 404}, "not a fault status", id="status-not-a-fault"),
        pytest.param({}, "needs a 'status' or a positive 'delay'", id="nothing-to-do"),
        pytest.param({"status": 429, "kind": "disks"}, "kind 'disks' is unknown", id="unknown-kind"),
        pytest.param({"status": 429, "count": 0}, "must be a positive integer", id="zero-count"),
        pytest.param({"status": 429, "retry": 1}, r"unknown fault field\(s\) \['retry'\]", id="typo-field"),
    ],
)
def test_bad_rules_are_refused_with_the_reason(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_rule(1, spec)


def test_counts_and_reset_restore_page_size():
    control = Control(page_size=1000)
    control.page_size = 2
    for kind, status in (("token", 200), ("vms", 429), ("vms", 200), ("nics", 200)):
        control.count(kind, status)
    counts = control.counts()
    assert (counts["token"], counts["vms"], counts["nics"], counts["public_ips"], counts["total"]) == (1, 2, 1, 0, 4)
    assert counts["by_status"] == {"200": 3, "429": 1}
    control.reset()
    assert control.counts()["total"] == 0 and control.page_size == 1000


@pytest.fixture
def entra() -> Entra:
    return Entra(BASE, "tenant-1", "client-1", "s3cret", federated_token="fed-token")


def form(**overrides: str) -> dict[str, str]:
    base = {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": "s3cret",
        "scope": BASE + "/.default",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v != ""}


def test_token_grant_and_bearer_check(entra):
    reply = entra.token("tenant-1", form())
    assert reply.status == 200 and reply.body["token_type"] == "Bearer" and reply.body["expires_in"] > 3000
    assert entra.check_bearer(f"Bearer {reply.body['access_token']}") is None
    assert entra.check_bearer(None) == "AuthenticationFailed"
    assert entra.check_bearer("Bearer nope") == "InvalidAuthenticationToken"
    entra.revoke_all()
    assert entra.check_bearer(f"Bearer {reply.body['access_token']}") == "InvalidAuthenticationToken"


@pytest.mark.parametrize(
    ("tenant", "fields", "status", "error", "code"),
    [
        pytest.param("tenant-1", {"client_secret": "wrong"}, 401, "invalid_client", 7000215, id="wrong-secret"),
        pytest.param("tenant-9", {}, 400, "invalid_tenant", 90002, id="unknown-tenant"),
        pytest.param("tenant-1", {"client_id": "other"}, 400, "unauthorized_client", 700016, id="unknown-client"),
        pytest.param(
            "tenant-1",
            {"scope": "https://management.azure.com/.default"},
            400,
            "invalid_resource",
            500011,
            id="other-resource",
        ),
        pytest.param("tenant-1", {"scope": BASE}, 400, "invalid_scope", 1002012, id="scope-without-default"),
        pytest.param("tenant-1", {"grant_type": "password"}, 400, "unsupported_grant_type", 70003, id="grant"),
    ],
)
def test_token_errors_use_entra_codes(entra, tenant, fields, status, error, code):
    reply = entra.token(tenant, form(**fields))
    assert (reply.status, reply.body["error"], reply.body["error_codes"]) == (status, error, [code])
    assert reply.body["error_description"].startswith(f"AADSTS{code}: ")


def test_workload_identity_assertion(entra):
    fields = {"client_secret": "", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    assert entra.token("tenant-1", form(**fields, client_assertion="fed-token")).status == 200
    assert entra.token("tenant-1", form(**fields, client_assertion="forged")).body["error_codes"] == [700213]
