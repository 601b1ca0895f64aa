from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_upload import (
    blob_name_for,
    destination_of,
    options_with_env,
    resolve_upload,
    upload_report_files,
)

AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


def test_arguments_win_over_the_environment_and_awx_names_are_read() -> None:
    options = options_with_env(
        {"container": "from-args", "client_id": None},
        {
            "AZLIN_FLEET_UPLOAD_CONTAINER": "from-env",
            "AZURE_CLIENT_ID": "app",
            "AZURE_SECRET": "awx-secret",
            "AZURE_CLIENT_SECRET": "sdk-secret",
            "AZURE_TENANT": "tenant",
        },
    )
    assert (options["container"], options["client_id"], options["client_secret"], options["tenant_id"]) == (
        "from-args",
        "app",
        "awx-secret",
        "tenant",
    )


@pytest.mark.parametrize(
    ("options", "mode"),
    [
        pytest.param({"connection_string": AZURITE}, "connection_string", id="connection-string"),
        pytest.param(
            {"connection_string": AZURITE, "sas_token": "sv=1", "account_url": "https://a.blob.x"},
            "connection_string",
            id="connection-string-first",
        ),
        pytest.param({"sas_token": "?sv=1&sig=x", "account_url": "https://a.blob.core.windows.net"}, "sas", id="sas"),
        pytest.param(
            {
                "account_url": "https://a.blob.core.windows.net",
                "client_id": "c",
                "tenant_id": "t",
                "client_secret": "s",
            },
            "credential",
            id="entra-service-principal",
        ),
        pytest.param({"account_url": "https://a.blob.core.windows.net"}, "credential", id="entra-default-chain"),
    ],
)
def test_credential_mode(options: dict, mode: str) -> None:
    settings = resolve_upload({"container": "fleet-reports", **options})
    assert settings.mode == mode
    if mode == "sas":
        assert settings.sas_token == "sv=1&sig=x"


def test_repr_hides_secrets() -> None:
    settings = resolve_upload({"container": "fleet-reports", "connection_string": AZURITE})
    assert "AccountKey" not in repr(settings)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({}, "Report upload container: not set", id="no-container"),
        pytest.param({"container": "Bad_Name"}, "not a valid container name", id="bad-container"),
        pytest.param({"container": "ab"}, "not a valid container name", id="too-short"),
        pytest.param({"container": "fleet-reports"}, "no storage account", id="no-account"),
        pytest.param({"container": "fleet-reports", "account_url": "ftp://x"}, "not an http", id="bad-url"),
        pytest.param(
            {"container": "fleet-reports", "account_url": "https://a.blob.x", "auth_source": "credential"},
            "Missing Azure credential",
            id="incomplete-service-principal",
        ),
    ],
)
def test_bad_settings_name_the_problem(options: dict, message: str) -> None:
    with pytest.raises(FleetConfigError, match=message):
        resolve_upload(options)


def test_destination_and_blob_names_carry_no_secret() -> None:
    settings = resolve_upload({"container": "fleet-reports", "prefix": "/wf41/", "connection_string": AZURITE})
    assert destination_of(settings) == "http://127.0.0.1:9/devstoreaccount1/fleet-reports/wf41"
    assert blob_name_for(settings, "/tmp/x/fleet-report-job42.json") == "wf41/fleet-report-job42.json"
    sas = resolve_upload(
        {"container": "c-1", "account_url": "https://a.blob.core.windows.net?sv=1&sig=s", "sas_token": "sv=1&sig=s"}
    )
    assert destination_of(sas) == "https://a.blob.core.windows.net/c-1"


def test_account_from_a_connection_string_without_blob_endpoint() -> None:
    settings = resolve_upload(
        {
            "container": "c-1",
            "connection_string": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
            "EndpointSuffix=core.windows.net",
        }
    )
    assert destination_of(settings) == "https://acct.blob.core.windows.net/c-1"


def test_a_missing_file_is_an_outcome_not_an_exception(tmp_path: Path) -> None:
    settings = resolve_upload({"container": "fleet-reports", "connection_string": AZURITE})
    outcomes = upload_report_files([tmp_path / "gone.json"], settings)
    assert [(o["uploaded"], o["blob"]) for o in outcomes] == [(False, "gone.json")]
    assert outcomes[0]["error"].startswith(f"Upload of {str(tmp_path / 'gone.json')!r} to container 'fleet-reports'")
    assert "FileNotFoundError" in outcomes[0]["error"] and outcomes[0]["error"].endswith("The local file is kept.")
