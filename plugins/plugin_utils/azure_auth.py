# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure credentials and cloud endpoints from plain option values.

``resolve_auth`` validates the options (no I/O) and ``build_credential`` turns them into an azure-identity
credential. Option values arrive already resolved by Ansible's config system, which is where both AWX's
environment names (AZURE_SECRET, AZURE_TENANT) and azure-identity's (AZURE_CLIENT_SECRET, AZURE_TENANT_ID)
are read; nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError

AuthSource = Literal["auto", "cli", "env", "msi", "workload_identity", "credential"]
AUTH_SOURCES: tuple[str, ...] = ("auto", "cli", "env", "msi", "workload_identity", "credential")
# The options resolve_auth reads (azlin.fleet.azure_auth doc fragment).
AUTH_OPTIONS: tuple[str, ...] = (
    "auth_source",
    "cloud_environment",
    "authority_host",
    "arm_endpoint",
    "disable_instance_discovery",
    "client_id",
    "tenant_id",
    "client_secret",
    "federated_token_file",
    "ca_bundle",
)

# cloud_environment -> (authority host, ARM endpoint)
CLOUDS: dict[str, tuple[str, str]] = {
    "AzureCloud": ("login.microsoftonline.com", "https://management.azure.com"),
    "AzureUSGovernment": ("login.microsoftonline.us", "https://management.usgovcloudapi.net"),
    "AzureChinaCloud": ("login.chinacloudapi.cn", "https://management.chinacloudapi.cn"),
}
_KNOWN_AUTHORITY_HOSTS = frozenset(endpoints[0] for endpoints in CLOUDS.values())

# Where each credential field can come from, for error messages.
_SOURCES_OF = {
    "client_id": "client_id (or AZURE_CLIENT_ID)",
    "tenant_id": "tenant_id (or AZURE_TENANT / AZURE_TENANT_ID)",
    "client_secret": "client_secret (or AZURE_SECRET / AZURE_CLIENT_SECRET)",
    "federated_token_file": "federated_token_file (or AZURE_FEDERATED_TOKEN_FILE)",
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "credential": ("client_id", "tenant_id", "client_secret"),
    "env": ("client_id", "tenant_id", "client_secret"),
    "workload_identity": ("client_id", "tenant_id", "federated_token_file"),
}


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Everything needed to authenticate and reach ARM; holds the secret, so it is never cached or logged."""

    auth_source: str
    authority: str
    arm_endpoint: str
    disable_instance_discovery: bool
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = None
    federated_token_file: str | None = None
    ca_bundle: str | None = None

    @property
    def credential_scopes(self) -> list[str]:
        """The token scope for the ARM endpoint."""
        return [f"{self.arm_endpoint}/.default"]

    @property
    def transport_options(self) -> dict[str, Any]:
        """Keyword arguments for SDK clients and credentials: the CA bundle via connection_verify.

        connection_verify goes on every request, so it wins over REQUESTS_CA_BUNDLE.
        """
        return {"connection_verify": self.ca_bundle} if self.ca_bundle else {}

    def __repr__(self) -> str:
        # Keep the secret out of tracebacks and debug output.
        return (
            f"AuthSettings(auth_source={self.auth_source!r}, authority={self.authority!r}, "
            f"arm_endpoint={self.arm_endpoint!r})"
        )


def missing_sdk_error(ex: ImportError) -> FleetConfigError:
    """The error for a controller without the Azure SDK."""
    return FleetConfigError(
        "The Azure SDK is not installed on the controller",
        str(ex),
        "Install azure-identity, azure-mgmt-compute and azure-mgmt-network (see requirements/runtime.txt).",
    )


def _host_of(authority: str) -> str:
    return authority.split("://", 1)[-1].split("/", 1)[0].lower()


def resolve_auth(options: Mapping[str, Any]) -> AuthSettings:
    """Validate the auth options and fill in cloud defaults; raise FleetConfigError naming what is wrong or missing.

    ``options`` holds auth_source, cloud_environment, authority_host, arm_endpoint, disable_instance_discovery,
    client_id, tenant_id, client_secret, federated_token_file and ca_bundle (missing keys count as unset).
    """
    source = options.get("auth_source") or "auto"
    if source not in AUTH_SOURCES:
        raise FleetConfigError(
            "Invalid auth_source",
            f"{source!r} is not one of {', '.join(AUTH_SOURCES)}",
            "Set auth_source to one of those values.",
        )
    cloud = options.get("cloud_environment") or "AzureCloud"
    if cloud not in CLOUDS:
        raise FleetConfigError(
            "Invalid cloud_environment",
            f"{cloud!r} is not one of {', '.join(CLOUDS)}",
            "Pick a cloud, or set authority_host and arm_endpoint for any other one.",
        )
    default_authority, default_arm = CLOUDS[cloud]
    authority = (options.get("authority_host") or default_authority).rstrip("/")
    if "://" not in authority:
        authority = f"https://{authority}"
    arm_endpoint = (options.get("arm_endpoint") or default_arm).rstrip("/")
    if not arm_endpoint.startswith("https://"):
        raise FleetConfigError(
            "Invalid arm_endpoint",
            f"{arm_endpoint!r} is not an https URL",
            "Write it as https://host[:port].",
        )
    discovery = options.get("disable_instance_discovery")
    if discovery is None:
        # Instance discovery asks the public cloud about the authority; a private authority fails that offline.
        discovery = _host_of(authority) not in _KNOWN_AUTHORITY_HOSTS
    missing = [name for name in _REQUIRED.get(source, ()) if not options.get(name)]
    if missing:
        raise FleetConfigError(
            f"Missing Azure credential for auth_source {source!r}",
            f"{', '.join(_SOURCES_OF[m] for m in missing)} not set",
            "Set it in the inventory file or the environment, or choose another auth_source.",
        )
    return AuthSettings(
        auth_source=source,
        authority=authority,
        arm_endpoint=arm_endpoint,
        disable_instance_discovery=bool(discovery),
        client_id=options.get("client_id") or None,
        tenant_id=options.get("tenant_id") or None,
        client_secret=options.get("client_secret") or None,
        federated_token_file=options.get("federated_token_file") or None,
        ca_bundle=options.get("ca_bundle") or None,
    )


def build_credential(settings: AuthSettings) -> Any:
    """The azure-identity credential for ``settings.auth_source``.

    ``auto`` uses the explicit service principal when client_id, tenant_id and client_secret are all set (so
    AWX's variable names work), else the DefaultAzureCredential chain.
    """
    # azure.identity is imported here so that option errors show without it being installed.
    try:
        from azure import identity
    except ImportError as ex:
        raise missing_sdk_error(ex) from ex

    authority_kwargs = {
        "authority": settings.authority,
        "disable_instance_discovery": settings.disable_instance_discovery,
        **settings.transport_options,
    }
    source = settings.auth_source
    has_secret = bool(settings.client_id and settings.tenant_id and settings.client_secret)
    if source in ("credential", "env") or (source == "auto" and has_secret):
        return identity.ClientSecretCredential(
            settings.tenant_id,
            settings.client_id,
            settings.client_secret,
            **authority_kwargs,
        )
    if source == "cli":
        return identity.AzureCliCredential(tenant_id=settings.tenant_id or "")
    if source == "msi":
        return identity.ManagedIdentityCredential(client_id=settings.client_id, **settings.transport_options)
    if source == "workload_identity":
        return identity.WorkloadIdentityCredential(
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            token_file_path=settings.federated_token_file,
            **authority_kwargs,
        )
    # Pass only what is set: DefaultAzureCredential's own defaults come from the environment.
    chain_kwargs = {
        key: value
        for key, value in (
            ("managed_identity_client_id", settings.client_id),
            ("workload_identity_client_id", settings.client_id),
            ("workload_identity_tenant_id", settings.tenant_id),
        )
        if value
    }
    return identity.DefaultAzureCredential(**chain_kwargs, **authority_kwargs)


# Environment variables the plugin variant of the azure_auth fragment reads (Ansible's config system resolves them
# for the inventory); actions have no such config source, so they apply the same names through auth_options_for.
AUTH_ENV: dict[str, tuple[str, ...]] = {
    "auth_source": ("AZLIN_FLEET_AUTH_SOURCE",),
    "client_id": ("AZURE_CLIENT_ID",),
    "client_secret": ("AZURE_SECRET", "AZURE_CLIENT_SECRET"),
    "tenant_id": ("AZURE_TENANT", "AZURE_TENANT_ID"),
    "federated_token_file": ("AZURE_FEDERATED_TOKEN_FILE",),
    "cloud_environment": ("AZURE_CLOUD_ENVIRONMENT",),
    "authority_host": ("AZURE_AUTHORITY_HOST",),
    "arm_endpoint": ("AZLIN_FLEET_ARM_ENDPOINT",),
    "ca_bundle": ("AZLIN_FLEET_CA_BUNDLE",),
    "metrics_endpoint": ("AZLIN_FLEET_METRICS_ENDPOINT",),
    "metrics_audience": ("AZLIN_FLEET_METRICS_AUDIENCE",),
}
# Options besides AUTH_OPTIONS that actions take from the same places (arguments, inventory file, environment).
CONNECTION_OPTIONS: tuple[str, ...] = ("max_retries", "retry_timeout", "metrics_endpoint", "metrics_audience")
INVENTORY_FILE_SUFFIXES = ("azure_pools.yml", "azure_pools.yaml")


def inventory_config_path(sources: Sequence[str]) -> str | None:
    """The first azure_pools inventory configuration among a play's inventory sources, or None."""
    for source in sources or ():
        if str(source).endswith(INVENTORY_FILE_SUFFIXES):
            return str(source)
    return None


def auth_options_for(
    args: Mapping[str, Any], inventory_config: Mapping[str, Any] | None, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The auth and connection options of an action, each from the first place that sets it: the task's arguments,
    the azure_pools inventory file the hosts came from, then the environment (the inventory's variable names).
    Unset options are None."""
    options: dict[str, Any] = {}
    config = inventory_config or {}
    for name in AUTH_OPTIONS + CONNECTION_OPTIONS:
        value = args.get(name)
        if value is None:
            value = config.get(name)
        if value is None:
            value = next((environ[v] for v in AUTH_ENV.get(name, ()) if environ.get(v)), None)
        options[name] = value
    return options
