"""Local Azure endpoint: Entra + ARM over HTTPS on 127.0.0.1, for the real azure-identity / azure-mgmt-* clients.

Use it as the real clients would (DESIGN.md section 4), with BASE = endpoint["base_url"]:
    ClientSecretCredential(tenant, client, secret, authority=BASE, disable_instance_discovery=True)
    ComputeManagementClient(cred, sub, base_url=BASE, credential_scopes=[BASE + "/.default"])
with the CA trusted through `REQUESTS_CA_BUNDLE=<ca.pem>` or `connection_verify=<ca.pem>`.

Served:
- Entra v2.0: `/{tenant}/v2.0/.well-known/openid-configuration`, `/{tenant}/oauth2/v2.0/token` (client_credentials
  with client_secret, or client_assertion = the contents of `azure/federated-token` for workload identity).
- ARM (bearer token required): `GET /subscriptions`, `/subscriptions/{sub}`, and per subscription (optionally
  `/resourceGroups/{rg}`-scoped) lists of `Microsoft.Compute/virtualMachines` (`statusOnly=true` supported),
  `Microsoft.Network/networkInterfaces`, `Microsoft.Network/publicIPAddresses`; paged by `page_size` (default 1000:
  10,000 VMs over 4 subscriptions = 12 pages per list kind) with an absolute `nextLink` that keeps `api-version`.
- Admin (loopback, no auth) under `/_sandbox/`: GET health, requests, faults, world; POST faults, reset, config,
  power, tokens/revoke. `ArmAdmin` wraps them.

statusOnly=true shape (a choice: no official example shows this body): by default each item carries only `id`,
`name`, `type`, `location` and `properties.vmId` + `properties.instanceView` (`statuses`: `ProvisioningState/succeeded`
and `PowerState/<state>`) -- no tags, no networkProfile, no osProfile. So a consumer must also list without
statusOnly and join by id (case-insensitively), which is the stricter of the two shapes it has to handle. Start with
`status_only_shape="full"` (or POST /_sandbox/config) to get the full model plus instanceView instead.

What the world holds is described in `world.py`; fault rules in `faults.py`.
"""

from __future__ import annotations

from .launcher import ArmAdmin, is_running, launch, read_endpoint, reset, stop

__all__ = ["ArmAdmin", "is_running", "launch", "read_endpoint", "reset", "stop"]
