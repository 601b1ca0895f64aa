"""Entra ID (v2.0) endpoints: OpenID configuration and the client-credentials token grant.

Tokens are opaque random strings remembered in memory (ARM here never parses them), valid for an hour.
Errors use Entra's real body shape (`error`, `error_description` starting with an AADSTS code, `error_codes`, ...)
and status codes, so MSAL and azure-identity raise what they raise against the real service
(a wrong secret gives 401 `invalid_client` AADSTS7000215 -> `ClientAuthenticationError`).
"""

from __future__ import annotations

import datetime
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

TOKEN_LIFETIME = 3599
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class Issued:
    tenant_id: str
    client_id: str
    audience: str
    expires_on: float


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


def openid_configuration(base_url: str, tenant: str) -> dict[str, Any]:
    """What `/{tenant}/v2.0/.well-known/openid-configuration` returns (MSAL reads token_endpoint and issuer)."""
    root = f"{base_url}/{tenant}"
    return {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{root}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base_url}/oidc/userinfo",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"],
        "kerberos_endpoint": f"{root}/kerberos",
        "tenant_region_scope": "NA",
        "cloud_instance_name": "sandbox.local",
        "cloud_graph_host_name": "graph.sandbox.local",
        "msgraph_host": "graph.sandbox.local",
        "rbac_url": base_url,
    }


def entra_error(status: int, error: str, code: int, text: str) -> Reply:
    """An Entra error body as the real service writes it."""
    now = datetime.datetime.now(datetime.UTC)
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    description = (
        f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {now.strftime('%Y-%m-%d %H:%M:%SZ')}"
    )
    return Reply(
        status,
        {
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": now.strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": f"https://login.sandbox.local/error?code={code}",
        },
    )


class Entra:
    """One tenant with one app registration (client id + secret, plus a federated credential for workload identity)."""

    def __init__(
        self, base_url: str, tenant_id: str, client_id: str, client_secret: str, federated_token: str | None = None
    ) -> None:
        self.base_url = base_url
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.federated_token = federated_token
        self._tokens: dict[str, Issued] = {}
        self._lock = threading.Lock()

    def known_tenant(self, tenant: str) -> bool:
        return tenant.lower() in (self.tenant_id.lower(), "organizations")

    def unknown_tenant(self, tenant: str) -> Reply:
        return entra_error(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud.",
        )

    def token(self, tenant: str, form: dict[str, str]) -> Reply:
        """Handle a POST to the token endpoint (form already parsed to single values)."""
        if not self.known_tenant(tenant):
            return self.unknown_tenant(tenant)
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return entra_error(
                400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
            )
        client_id = form.get("client_id", "")
        if client_id.lower() != self.client_id.lower():
            return entra_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{self.tenant_id}'.",
            )
        if "client_secret" in form:
            if not hmac.compare_digest(form["client_secret"].encode(), self.client_secret.encode()):
                return entra_error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is "
                    f"the client secret value, not the client secret ID, for a secret added to app "
                    f"'{self.client_id}'.",
                )
        elif form.get("client_assertion_type") == JWT_BEARER and form.get("client_assertion"):
            if not self.federated_token or not hmac.compare_digest(
                form["client_assertion"].encode(), self.federated_token.encode()
            ):
                return entra_error(
                    400,
                    "invalid_client",
                    700213,
                    "No matching federated identity record found for presented assertion.",
                )
        else:
            return entra_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        scope = form.get("scope", "")
        audience = self._audience(scope)
        if audience is None:
            return entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must "
                "have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        if audience.rstrip("/").replace("://localhost:", "://127.0.0.1:") != self.base_url:
            return entra_error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {audience} was not found in the tenant named {self.tenant_id}.",
            )
        access_token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[access_token] = Issued(self.tenant_id, self.client_id, audience, time.time() + TOKEN_LIFETIME)
        return Reply(
            200,
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "ext_expires_in": TOKEN_LIFETIME,
                "access_token": access_token,
            },
        )

    @staticmethod
    def _audience(scope: str) -> str | None:
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return None
        return scopes[0][: -len("/.default")]

    def check_bearer(self, header: str | None) -> str | None:
        """None when the Authorization header holds a live token, else the ARM error code to answer 401 with."""
        if not header:
            return "AuthenticationFailed"
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return "AuthenticationFailed"
        with self._lock:
            issued = self._tokens.get(value.strip())
        if issued is None:
            return "InvalidAuthenticationToken"
        if issued.expires_on < time.time():
            return "ExpiredAuthenticationToken"
        return None

    def revoke_all(self) -> int:
        with self._lock:
            n = len(self._tokens)
            self._tokens.clear()
            return n
