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
- Scale sets: `Microsoft.Compute/virtualMachineScaleSets` list(-all), and per scale set its `virtualMachines`
  (`$expand=instanceView` for power states), `networkInterfaces` and `publicipaddresses` (api-version 2018-10-01, as
  azure-mgmt-network sends). Uniform instances are only there; Flexible members are VMs with
  `properties.virtualMachineScaleSet`. `ArmAdmin.make_scale_set(name, hosts, orchestration=..., tags=...)` turns
  sandbox hosts' VMs into a scale set (undone by reset).
- VM power: `POST .../virtualMachines/{vm}/start|deallocate|powerOff` (and under a scale set's
  `virtualMachines/{id}`) as long-running operations: 202 + `Azure-AsyncOperation` + `Location` + `Retry-After`;
  the operation stops or starts the sandbox host's sshd (through `Sandbox.fault`) when the endpoint serves a
  sandbox. `ArmAdmin.fail_next_start(name, error)` makes the next start of a VM end `Failed` with that ARM error.
- Azure Monitor: `POST /metrics/{region}/subscriptions/{sub}/metrics:getBatch` (the regional endpoint as a path),
  `Percentage CPU` and `Available Memory Percentage` from the sandbox hosts' set loads (metrics.py).
- Fault kinds for all of these (`scale_sets`, `vmss_vms`, `vmss_nics`, `vmss_public_ips`, `power`, `operations`,
  `metrics`): 429 with Retry-After, 5xx, 403.
- Admin (loopback, no auth) under `/_sandbox/`: GET health, requests, faults, world; POST faults, reset, config,
  power, scale_sets, power_failures, tokens/revoke. `ArmAdmin` wraps them.

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
