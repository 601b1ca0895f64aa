"""Azure credentials and endpoints from plain option values."""

from __future__ import annotations

import pytest
from azure import identity

from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_auth import AuthSettings, build_credential, resolve_auth
from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError

SP = {"client_id": "app", "tenant_id": "tenant", "client_secret": "s3cret-value"}


def test_defaults_are_the_public_cloud_with_instance_discovery():
    settings = resolve_auth({})
    assert (settings.auth_source, settings.authority, settings.arm_endpoint, settings.disable_instance_discovery) == (
        "auto",
        "https://login.microsoftonline.com",
        "https://management.azure.com",
        False,
    )
    assert settings.credential_scopes == ["https://management.azure.com/.default"]
    assert settings.transport_options == {}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"cloud_environment": "AzureUSGovernment"},
            ("https://login.microsoftonline.us", "https://management.usgovcloudapi.net", False),
        ),
        (
            {"authority_host": "https://127.0.0.1:8443/", "arm_endpoint": "https://127.0.0.1:8443/"},
            ("https://127.0.0.1:8443", "https://127.0.0.1:8443", True),
        ),
        (
            {"authority_host": "login.example.internal", "disable_instance_discovery": False},
            ("https://login.example.internal", "https://management.azure.com", False),
        ),
        (
            {"authority_host": "LOGIN.microsoftonline.com"},
            ("https://LOGIN.microsoftonline.com", "https://management.azure.com", False),
        ),
    ],
    ids=["sovereign-cloud", "private-authority-disables-discovery", "explicit-discovery-wins", "known-host-any-case"],
)
def test_endpoints(options, expected):
    settings = resolve_auth(options)
    assert (settings.authority, settings.arm_endpoint, settings.disable_instance_discovery) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"auth_source": "magic"},
            r"Invalid auth_source: 'magic' is not one of auto, cli, env, msi, workload_identity, credential",
        ),
        ({"cloud_environment": "Mars"}, r"Invalid cloud_environment: 'Mars'"),
        ({"arm_endpoint": "http://arm"}, r"Invalid arm_endpoint: 'http://arm' is not an https URL"),
        (
            {"auth_source": "credential", "client_id": "a", "tenant_id": "t"},
            r"Missing Azure credential for auth_source 'credential': "
            r"client_secret \(or AZURE_SECRET / AZURE_CLIENT_SECRET\) not set\. Set it",
        ),
        (
            {"auth_source": "env"},
            r"client_id \(or AZURE_CLIENT_ID\), tenant_id \(or AZURE_TENANT / AZURE_TENANT_ID\), client_secret",
        ),
        (
            {"auth_source": "workload_identity", "client_id": "a", "tenant_id": "t"},
            r"federated_token_file \(or AZURE_FEDERATED_TOKEN_FILE\)",
        ),
    ],
    ids=["bad-source", "bad-cloud", "http-arm", "missing-secret", "env-needs-all-three", "workload-needs-token-file"],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(FleetConfigError, match=message):
        resolve_auth(options)


def test_settings_never_show_the_secret():
    settings = resolve_auth({"auth_source": "credential", **SP, "ca_bundle": "/ca.pem"})
    assert "s3cret-value" not in repr(settings)
    assert settings.transport_options == {"connection_verify": "/ca.pem"}


@pytest.mark.parametrize(
    ("options", "kind"),
    [
        ({"auth_source": "credential", **SP}, identity.ClientSecretCredential),
        ({"auth_source": "env", **SP}, identity.ClientSecretCredential),
        ({"auth_source": "auto", **SP}, identity.ClientSecretCredential),
        ({"auth_source": "auto", "client_id": "app"}, identity.DefaultAzureCredential),
        ({"auth_source": "cli", "tenant_id": "tenant"}, identity.AzureCliCredential),
        ({"auth_source": "msi", "client_id": "app"}, identity.ManagedIdentityCredential),
        (
            {"auth_source": "workload_identity", "client_id": "a", "tenant_id": "t", "federated_token_file": "/tok"},
            identity.WorkloadIdentityCredential,
        ),
    ],
    ids=["credential", "env", "auto-with-service-principal", "auto-chain", "cli", "msi", "workload-identity"],
)
def test_build_credential(options, kind):
    assert isinstance(build_credential(resolve_auth({"authority_host": "https://127.0.0.1:1", **options})), kind)


def test_settings_are_frozen():
    settings = resolve_auth({})
    with pytest.raises(AttributeError):
        settings.auth_source = "cli"  # type: ignore[misc]
    assert isinstance(settings, AuthSettings)


def test_action_options_come_from_args_then_inventory_file_then_environment():
    from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_auth import auth_options_for

    options = auth_options_for(
        {"client_id": "from-task", "max_retries": 0},
        {"client_id": "from-file", "tenant_id": "tenant-file", "metrics_endpoint": "https://m/{region}"},
        {
            "AZURE_TENANT_ID": "tenant-env",
            "AZURE_SECRET": "s-awx",
            "AZURE_CLIENT_SECRET": "s-sdk",
            "AZURE_CLIENT_ID": "e",
        },
    )
    assert options["client_id"] == "from-task"
    assert options["tenant_id"] == "tenant-file"
    assert options["client_secret"] == "s-awx"  # AWX's name first, as in the inventory
    assert options["max_retries"] == 0  # a falsy task value still wins
    assert options["metrics_endpoint"] == "https://m/{region}"
    assert options["arm_endpoint"] is None and options["retry_timeout"] is None


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (["/etc/ansible/hosts", "/x/fleet.azure_pools.yml", "/y/b.azure_pools.yaml"], "/x/fleet.azure_pools.yml"),
        (["/x/static.yml"], None),
        ([], None),
    ],
    ids=["first-azure-pools-file", "none", "no-sources"],
)
def test_inventory_config_path(sources, expected):
    from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_auth import inventory_config_path

    assert inventory_config_path(sources) == expected
