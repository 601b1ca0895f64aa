# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure authentication and endpoint options shared by azlin.fleet plugins that talk to ARM."""

from __future__ import annotations


class ModuleDocFragment:
    # Plugin (controller-side) variant: options come from the plugin's config file and the environment.
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - How to get an Azure token.
      - V(auto) uses the service principal given by O(client_id), O(tenant_id) and O(client_secret) when all three
        are set (from the file or the environment, AWX's variable names included), else the
        C(DefaultAzureCredential) chain (environment, workload identity, managed identity, Azure CLI, ...).
      - V(credential) uses the service principal O(client_id), O(tenant_id), O(client_secret) and fails when one is
        missing. V(env) is the same service principal, with the values expected from environment variables.
      - V(cli) uses the Azure CLI's login (C(az account get-access-token)); C(az) must be on E(PATH).
      - V(msi) uses the VM's managed identity (O(client_id) selects a user-assigned one).
      - V(workload_identity) uses a federated token file (O(federated_token_file)), as on AKS.
    type: str
    default: auto
    choices: [auto, cli, env, msi, workload_identity, credential]
    env:
      - name: AZLIN_FLEET_AUTH_SOURCE
    version_added: 0.1.0
  client_id:
    description:
      - Application (client) id of the service principal, or the client id of a user-assigned managed identity.
    type: str
    env:
      - name: AZURE_CLIENT_ID
    version_added: 0.1.0
  client_secret:
    description:
      - Secret of the service principal. Prefer the environment (AWX sets E(AZURE_SECRET)) over the file.
      - Never written to the inventory cache.
    type: str
    env:
      - name: AZURE_SECRET
      - name: AZURE_CLIENT_SECRET
    version_added: 0.1.0
  tenant_id:
    description:
      - Microsoft Entra tenant (directory) id.
    type: str
    env:
      - name: AZURE_TENANT
      - name: AZURE_TENANT_ID
    version_added: 0.1.0
  federated_token_file:
    description:
      - Path of the federated token for O(auth_source=workload_identity).
    type: path
    env:
      - name: AZURE_FEDERATED_TOKEN_FILE
    version_added: 0.1.0
  cloud_environment:
    description:
      - The Azure cloud; sets the default O(authority_host) and O(arm_endpoint).
    type: str
    default: AzureCloud
    choices: [AzureCloud, AzureUSGovernment, AzureChinaCloud]
    env:
      - name: AZURE_CLOUD_ENVIRONMENT
    version_added: 0.1.0
  authority_host:
    description:
      - Microsoft Entra authority, as a host name or an https URL. Defaults to the one of O(cloud_environment).
      - Set it for a private or sovereign authority; it then applies to every O(auth_source).
    type: str
    env:
      - name: AZURE_AUTHORITY_HOST
    version_added: 0.1.0
  disable_instance_discovery:
    description:
      - Skip the authority validation request that azure-identity sends to the public cloud.
      - When unset, it is skipped exactly when O(authority_host) is not a Microsoft cloud authority, because the
        public check cannot vouch for a private one (and fails offline).
    type: bool
    version_added: 0.1.0
  arm_endpoint:
    description:
      - Azure Resource Manager URL (https). Defaults to the one of O(cloud_environment).
      - Tokens are requested for the scope C(<arm_endpoint>/.default).
    type: str
    env:
      - name: AZLIN_FLEET_ARM_ENDPOINT
    version_added: 0.1.0
  ca_bundle:
    description:
      - PEM file of CA certificates to trust for the authority and ARM.
      - It is passed to the Azure SDK as C(connection_verify), so it wins over E(REQUESTS_CA_BUNDLE).
      - When unset, the system trust store (or E(REQUESTS_CA_BUNDLE)) applies.
    type: path
    env:
      - name: AZLIN_FLEET_CA_BUNDLE
    version_added: 0.1.0
  max_retries:
    description: How many times one request is retried on 429 (after its Retry-After), 5xx or a connection error.
    type: int
    default: 4
    version_added: 0.1.0
  retry_timeout:
    description:
      - Upper bound, in seconds, of the time one request may spend, retries and Retry-After waits included.
      - A Retry-After longer than what is left fails the request at once rather than waiting past the bound.
    type: float
    default: 120
    version_added: 0.1.0
  metrics_endpoint:
    description:
      - Regional Azure Monitor metrics endpoint, with C({region}) where the VM's region goes (lower case).
      - Read by M(azlin.fleet.azure_metrics), which takes it from the inventory file; the inventory itself ignores it.
      - Defaults to the one of O(cloud_environment), for example C(https://{region}.metrics.monitor.azure.com).
    type: str
    env:
      - name: AZLIN_FLEET_METRICS_ENDPOINT
    version_added: 0.1.0
  metrics_audience:
    description:
      - Token audience of the metrics endpoint; tokens are requested for C(<metrics_audience>/.default).
      - Defaults to the one of O(cloud_environment), for example C(https://metrics.monitor.azure.com).
    type: str
    env:
      - name: AZLIN_FLEET_METRICS_AUDIENCE
    version_added: 0.1.0
"""

    # Action variant (azlin.fleet.vm_power, azlin.fleet.azure_metrics): the same options as task arguments; an unset
    # one comes from the azure_pools inventory file, then from the environment.
    ACTIONS = r"""
options:
  inventory_file:
    description:
      - An C(azlin.fleet.azure_pools) inventory configuration whose Azure options (credentials, endpoints, CA
        bundle, retries) apply when the task does not set them.
      - Defaults to the first file of the play's inventory sources whose name ends with C(azure_pools.yml) or
        C(azure_pools.yaml), so hosts listed by the inventory are handled with the same credentials.
      - Options set neither on the task nor in that file come from the environment variables the inventory reads
        (E(AZURE_CLIENT_ID), E(AZURE_SECRET) or E(AZURE_CLIENT_SECRET), E(AZURE_TENANT) or E(AZURE_TENANT_ID),
        E(AZURE_AUTHORITY_HOST), E(AZLIN_FLEET_ARM_ENDPOINT),
        E(AZLIN_FLEET_CA_BUNDLE), E(AZLIN_FLEET_AUTH_SOURCE), E(AZURE_FEDERATED_TOKEN_FILE),
        E(AZURE_CLOUD_ENVIRONMENT), E(AZLIN_FLEET_METRICS_ENDPOINT), E(AZLIN_FLEET_METRICS_AUDIENCE)).
    type: path
    version_added: 0.1.0
  auth_source:
    description:
      - How to get an Azure token. When unset everywhere, V(auto).
      - V(auto) uses the service principal given by O(client_id), O(tenant_id) and O(client_secret) when all three
        are set (from the file or the environment, AWX's variable names included), else the
        C(DefaultAzureCredential) chain (environment, workload identity, managed identity, Azure CLI, ...).
      - V(credential) uses the service principal O(client_id), O(tenant_id), O(client_secret) and fails when one is
        missing. V(env) is the same service principal, with the values expected from environment variables.
      - V(cli) uses the Azure CLI's login (C(az account get-access-token)); C(az) must be on E(PATH).
      - V(msi) uses the VM's managed identity (O(client_id) selects a user-assigned one).
      - V(workload_identity) uses a federated token file (O(federated_token_file)), as on AKS.
    type: str
    choices: [auto, cli, env, msi, workload_identity, credential]
    version_added: 0.1.0
  client_id:
    description:
      - Application (client) id of the service principal, or the client id of a user-assigned managed identity.
    type: str
    version_added: 0.1.0
  client_secret:
    description:
      - Secret of the service principal. Prefer the environment (AWX sets E(AZURE_SECRET)) over the file.
      - Never written to the inventory cache.
    type: str
    version_added: 0.1.0
  tenant_id:
    description:
      - Microsoft Entra tenant (directory) id.
    type: str
    version_added: 0.1.0
  federated_token_file:
    description:
      - Path of the federated token for O(auth_source=workload_identity).
    type: path
    version_added: 0.1.0
  cloud_environment:
    description:
      - The Azure cloud; sets the default O(authority_host) and O(arm_endpoint).
    type: str
    choices: [AzureCloud, AzureUSGovernment, AzureChinaCloud]
    version_added: 0.1.0
  authority_host:
    description:
      - Microsoft Entra authority, as a host name or an https URL. Defaults to the one of O(cloud_environment).
      - Set it for a private or sovereign authority; it then applies to every O(auth_source).
    type: str
    version_added: 0.1.0
  disable_instance_discovery:
    description:
      - Skip the authority validation request that azure-identity sends to the public cloud.
      - When unset, it is skipped exactly when O(authority_host) is not a Microsoft cloud authority, because the
        public check cannot vouch for a private one (and fails offline).
    type: bool
    version_added: 0.1.0
  arm_endpoint:
    description:
      - Azure Resource Manager URL (https). Defaults to the one of O(cloud_environment).
      - Tokens are requested for the scope C(<arm_endpoint>/.default).
    type: str
    version_added: 0.1.0
  ca_bundle:
    description:
      - PEM file of CA certificates to trust for the authority and ARM.
      - It is passed to the Azure SDK as C(connection_verify), so it wins over E(REQUESTS_CA_BUNDLE).
      - When unset, the system trust store (or E(REQUESTS_CA_BUNDLE)) applies.
    type: path
    version_added: 0.1.0
  max_retries:
    description: How many times one request is retried on 429 (after its Retry-After), 5xx or a connection error.
    type: int
    version_added: 0.1.0
  retry_timeout:
    description:
      - Upper bound, in seconds, of the time one request may spend, retries and Retry-After waits included.
      - A Retry-After longer than what is left fails the request at once rather than waiting past the bound.
    type: float
    version_added: 0.1.0
  metrics_endpoint:
    description:
      - Regional Azure Monitor metrics endpoint, with C({region}) where the VM's region goes (lower case).
      - Read by M(azlin.fleet.azure_metrics), which takes it from the inventory file; the inventory itself ignores it.
      - Defaults to the one of O(cloud_environment), for example C(https://{region}.metrics.monitor.azure.com).
    type: str
    version_added: 0.1.0
  metrics_audience:
    description:
      - Token audience of the metrics endpoint; tokens are requested for C(<metrics_audience>/.default).
      - Defaults to the one of O(cloud_environment), for example C(https://metrics.monitor.azure.com).
    type: str
    version_added: 0.1.0
"""
