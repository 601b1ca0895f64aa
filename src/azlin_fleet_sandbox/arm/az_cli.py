"""A stand-in for the Azure CLI (`az`), enough for azure-identity's AzureCliCredential.

This file is copied verbatim to `state_dir/azure/bin/az` (stdlib only, so it runs under any Python 3.8+) and reads
`../endpoint.json` beside it. It answers:
  az account get-access-token [--output json] [--resource R | --scope S] [--tenant T] [--subscription S]
  az account show [--output json]
by getting a real token from the local endpoint's token URL with the app's client secret.
Failures print `ERROR: ...` on stderr and exit 1, like the real CLI.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime


def _fail(message: str) -> None:
    sys.stderr.write(f"ERROR: {message}\n")
    sys.exit(1)


def _options(args: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            _fail(f"unrecognized arguments: {arg}")
        if "=" in arg:
            key, value = arg[2:].split("=", 1)
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            key, value = arg[2:], args[i + 1]
            i += 1
        else:
            key, value = arg[2:], ""
        opts[key] = value
        i += 1
    return opts


def _endpoint() -> dict:
    here = os.path.dirname(os.path.realpath(__file__))
    path = os.path.join(os.path.dirname(here), "endpoint.json")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError:
        _fail(f"Please run 'az login' to setup account. (no sandbox endpoint at {path})")
    raise AssertionError("unreachable")


def _token(endpoint: dict, opts: dict[str, str]) -> dict:
    if "scope" in opts:
        scope = opts["scope"]
    else:
        scope = opts.get("resource") or endpoint["base_url"]
        scope = scope.rstrip("/") + "/.default"
    tenant = opts.get("tenant") or endpoint["tenant_id"]
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": endpoint["client_id"],
            "client_secret": endpoint["client_secret"],
            "scope": scope,
        }
    ).encode()
    url = f"{endpoint['base_url']}/{tenant}/oauth2/v2.0/token"
    context = ssl.create_default_context(cafile=endpoint["ca_bundle"])
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=form), context=context, timeout=30) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as ex:
        try:
            detail = json.load(ex).get("error_description", "")
        except ValueError:
            detail = ""
        _fail(f"Get Token request returned http error: {ex.code} and server response: {detail}")
    except (OSError, ValueError) as ex:
        _fail(f"Failed to reach the sandbox token endpoint {url}: {ex}")
    expires_on = int(time.time()) + int(body["expires_in"])
    return {
        "accessToken": body["access_token"],
        "expiresOn": datetime.fromtimestamp(expires_on).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "expires_on": expires_on,
        "subscription": opts.get("subscription") or endpoint["subscriptions"][0],
        "tenant": tenant,
        "tokenType": "Bearer",
    }


def _show(endpoint: dict, opts: dict[str, str]) -> dict:
    sub = opts.get("subscription") or endpoint["subscriptions"][0]
    number = endpoint["subscriptions"].index(sub) + 1 if sub in endpoint["subscriptions"] else 0
    return {
        "environmentName": "AzureCloud",
        "homeTenantId": endpoint["tenant_id"],
        "id": sub,
        "isDefault": True,
        "managedByTenants": [],
        "name": f"azlin-fleet sandbox {number}",
        "state": "Enabled",
        "tenantId": endpoint["tenant_id"],
        "user": {"name": endpoint["client_id"], "type": "servicePrincipal"},
    }


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "account" and argv[1] in ("get-access-token", "show"):
        opts = _options(argv[2:])
        if opts.get("output", "json") not in ("json", ""):
            _fail("the sandbox az only writes --output json")
        endpoint = _endpoint()
        result = _token(endpoint, opts) if argv[1] == "get-access-token" else _show(endpoint, opts)
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return 0
    if argv[:1] == ["version"] or argv[:1] == ["--version"]:
        sys.stdout.write(json.dumps({"azure-cli": "2.99.0-sandbox"}) + "\n")
        return 0
    _fail(f"the sandbox az answers only 'account get-access-token' and 'account show', not {' '.join(argv)!r}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
