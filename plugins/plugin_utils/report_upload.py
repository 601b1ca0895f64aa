# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Upload report files to Azure Blob Storage, so a report outlives the job (an AWX execution node's files do not).

Credentials, first match wins: a storage connection string; a SAS token with the account URL; else an Entra
credential built by ``azure_auth`` from the same options and environment names as the inventory (AWX's Azure
credential: AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT). ``resolve_upload`` validates without I/O;
``upload_report_files`` does the I/O and never raises for a failed upload: each file's outcome names the cause,
and the local files are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_auth import AUTH_OPTIONS, AuthSettings, resolve_auth
from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError, FleetError

UPLOAD_OPTIONS: tuple[str, ...] = (
    "account_url",
    "container",
    "prefix",
    "connection_string",
    "sas_token",
    "create_container",
    *AUTH_OPTIONS,
)
# Option -> environment variables that give its default, first set wins (AWX's Azure credential names included).
ENV_SOURCES: dict[str, tuple[str, ...]] = {
    "account_url": ("AZLIN_FLEET_UPLOAD_ACCOUNT_URL",),
    "container": ("AZLIN_FLEET_UPLOAD_CONTAINER",),
    "prefix": ("AZLIN_FLEET_UPLOAD_PREFIX",),
    "connection_string": ("AZURE_STORAGE_CONNECTION_STRING",),
    "sas_token": ("AZURE_STORAGE_SAS_TOKEN",),
    "auth_source": ("AZLIN_FLEET_AUTH_SOURCE",),
    "client_id": ("AZURE_CLIENT_ID",),
    "client_secret": ("AZURE_SECRET", "AZURE_CLIENT_SECRET"),
    "tenant_id": ("AZURE_TENANT", "AZURE_TENANT_ID"),
    "federated_token_file": ("AZURE_FEDERATED_TOKEN_FILE",),
    "cloud_environment": ("AZURE_CLOUD_ENVIRONMENT",),
    "authority_host": ("AZURE_AUTHORITY_HOST",),
    "ca_bundle": ("AZLIN_FLEET_CA_BUNDLE",),
}
CONTENT_TYPES = {
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
# Container names: 3-63 of lowercase letters, digits and single hyphens, starting and ending alphanumeric.
_CONTAINER = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")


@dataclass(frozen=True, slots=True)
class UploadSettings:
    """Where report files go and how to authenticate; holds secrets, so it is never logged."""

    container: str
    prefix: str
    account_url: str | None
    mode: str  # connection_string | sas | credential
    connection_string: str | None = None
    sas_token: str | None = None
    auth: AuthSettings | None = None
    create_container: bool = False

    def __repr__(self) -> str:
        return f"UploadSettings(container={self.container!r}, prefix={self.prefix!r}, mode={self.mode!r})"


def options_with_env(args: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The upload options: each given argument, else the first environment variable of ``ENV_SOURCES`` set."""
    options = {name: args.get(name) for name in UPLOAD_OPTIONS}
    for name, variables in ENV_SOURCES.items():
        if options.get(name) in (None, ""):
            options[name] = next((environ[v] for v in variables if environ.get(v)), None)
    return options


def resolve_upload(options: Mapping[str, Any]) -> UploadSettings:
    """Validate the upload options (no I/O); raise FleetConfigError naming what is wrong or missing."""
    container = options.get("container")
    if not container or not _CONTAINER.match(str(container)):
        raise FleetConfigError(
            f"Report upload container {container!r}" if container else "Report upload container",
            "not a valid container name" if container else "not set",
            "Name a container of 3-63 lowercase letters, digits and hyphens (container, or "
            "AZLIN_FLEET_UPLOAD_CONTAINER).",
        )
    prefix = str(options.get("prefix") or "").strip("/")
    account_url = (options.get("account_url") or "").rstrip("/") or None
    if account_url and not re.match(r"^https?://", account_url):
        raise FleetConfigError(
            f"Report upload account_url {account_url!r}",
            "not an http(s) URL",
            "Write it as https://<account>.blob.core.windows.net.",
        )
    create = bool(options.get("create_container"))
    if options.get("connection_string"):
        return UploadSettings(
            container,
            prefix,
            account_url,
            "connection_string",
            connection_string=str(options["connection_string"]),
            create_container=create,
        )
    if not account_url:
        raise FleetConfigError(
            "Report upload",
            "no storage account: neither a connection string nor account_url is set",
            "Set connection_string (or AZURE_STORAGE_CONNECTION_STRING), or account_url with a SAS token or an "
            "Azure credential.",
        )
    if options.get("sas_token"):
        return UploadSettings(
            container,
            prefix,
            account_url,
            "sas",
            sas_token=str(options["sas_token"]).lstrip("?"),
            create_container=create,
        )
    return UploadSettings(
        container, prefix, account_url, "credential", auth=resolve_auth(options), create_container=create
    )


def blob_name_for(settings: UploadSettings, path: str | Path) -> str:
    """The blob name of a report file: ``<prefix>/<file name>`` (or the file name without a prefix)."""
    name = Path(path).name
    return f"{settings.prefix}/{name}" if settings.prefix else name


def destination_of(settings: UploadSettings) -> str:
    """Where the files go, without secrets: ``<account url>/<container>[/<prefix>]``."""
    account = settings.account_url
    if account is None and settings.connection_string:
        fields = dict(part.split("=", 1) for part in settings.connection_string.split(";") if "=" in part)
        account = fields.get("BlobEndpoint") or (
            f"{fields.get('DefaultEndpointsProtocol', 'https')}://{fields.get('AccountName', '?')}.blob."
            f"{fields.get('EndpointSuffix', 'core.windows.net')}"
        )
    where = f"{_public_url(str(account)).rstrip('/')}/{settings.container}"
    return f"{where}/{settings.prefix}" if settings.prefix else where


def upload_report_files(paths: Iterable[str | Path], settings: UploadSettings) -> list[dict[str, Any]]:
    """Upload each file to its blob (overwriting: names are unique per job); one outcome per file, in order.

    Outcome: ``{"file", "blob", "url", "uploaded", "error"}``; ``error`` says what failed and why, and the local
    file is never touched, so a failed upload loses nothing.
    """
    paths = [Path(p) for p in paths]
    try:
        container = _container_client(settings)
        if settings.create_container and not container.exists():
            container.create_container()
    except FleetError as ex:
        return [_failed(path, settings, None, str(ex)) for path in paths]
    except (ImportError, ValueError, OSError, _azure_error()) as ex:
        why = f"cannot reach container {settings.container!r} ({type(ex).__name__}: {_first_line(ex)})"
        return [_failed(path, settings, None, why) for path in paths]
    from azure.storage.blob import ContentSettings

    outcomes = []
    for path in paths:
        blob = blob_name_for(settings, path)
        client = container.get_blob_client(blob)
        try:
            with path.open("rb") as handle:
                client.upload_blob(
                    handle,
                    overwrite=True,
                    content_settings=ContentSettings(content_type=CONTENT_TYPES.get(path.suffix, "text/plain")),
                )
        except (OSError, ValueError, _azure_error()) as ex:
            outcomes.append(_failed(path, settings, client.url, f"{type(ex).__name__}: {_first_line(ex)}"))
            continue
        outcomes.append(
            {"file": str(path), "blob": blob, "url": _public_url(client.url), "uploaded": True, "error": None}
        )
    return outcomes


def _failed(path: Path, settings: UploadSettings, url: str | None, why: str) -> dict[str, Any]:
    return {
        "file": str(path),
        "blob": blob_name_for(settings, path),
        "url": _public_url(url) if url else None,
        "uploaded": False,
        "error": f"Upload of {str(path)!r} to container {settings.container!r} failed: {why}. The local file is kept.",
    }


def _first_line(ex: BaseException) -> str:
    text = str(ex).strip()
    return text.splitlines()[0] if text else "no detail"


def _public_url(url: str) -> str:
    # A SAS in the URL is a secret: outcomes and artifacts show the blob's address only.
    return url.split("?", 1)[0]


def _azure_error() -> type[BaseException]:
    try:
        from azure.core.exceptions import AzureError
    except ImportError:
        return OSError
    return AzureError


def _container_client(settings: UploadSettings) -> Any:
    try:
        from azure.storage.blob import BlobServiceClient
    except ImportError as ex:
        raise FleetConfigError(
            "Report upload",
            f"the azure-storage-blob library is not installed on the controller ({ex})",
            "Install azure-storage-blob (it is in the collection's requirements.txt).",
        ) from ex
    client_options: dict[str, Any] = {"retry_total": 3, "connection_timeout": 20, "read_timeout": 60}
    if settings.mode == "connection_string":
        service = BlobServiceClient.from_connection_string(str(settings.connection_string), **client_options)
    elif settings.mode == "sas":
        service = BlobServiceClient(str(settings.account_url), credential=settings.sas_token, **client_options)
    else:
        from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_auth import build_credential

        auth = settings.auth
        if auth is None:
            raise FleetConfigError(
                "Report upload", "no Azure credential settings", "Build the settings with resolve_upload."
            )
        service = BlobServiceClient(
            str(settings.account_url), credential=build_credential(auth), **client_options, **auth.transport_options
        )
    return service.get_container_client(settings.container)
