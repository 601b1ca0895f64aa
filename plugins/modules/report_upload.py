#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/report_upload.py.

from __future__ import annotations

DOCUMENTATION = r"""
module: report_upload
short_description: Upload fleet report files to Azure Blob Storage so they outlive the job
version_added: "0.1.0"
description:
  - Uploads report files from the controller to a blob container, one blob per file, named
    C(<prefix>/<file name>) and overwritten if present (report names are unique per job and slice).
  - An AWX job keeps its events and its C(set_stats) artifacts, not the files written on the execution node; an
    upload is how the report files outlive the job.
  - Credentials, first match wins, are O(connection_string), then O(sas_token) with O(account_url), then an Entra
    credential for O(account_url) chosen by O(auth_source), the same sources as the inventory plugin
    P(azlin.fleet.azure_pools#inventory).
  - Each option falls back to the environment variable its description names, so AWX's Azure credential (which
    sets E(AZURE_CLIENT_ID), E(AZURE_SECRET) and E(AZURE_TENANT)) works unchanged.
  - A failed upload is a warning naming the file and the cause, never an error, unless O(fail_on_error); the
    local files are never changed or removed.
  - Runs on the controller; the files are controller paths.
options:
  paths:
    description: Files to upload. Mutually exclusive with O(report_dir) and O(report_name).
    type: list
    elements: path
  report_dir:
    description: Directory of a report; with O(report_name), uploads the C(.json), C(.md) and C(.html) files found.
    type: path
  report_name:
    description: Base name of a report in O(report_dir).
    type: str
  container:
    description:
      - Blob container (3-63 lowercase letters, digits and hyphens). Defaults to E(AZLIN_FLEET_UPLOAD_CONTAINER).
    type: str
  prefix:
    description:
      - Blob name prefix (a virtual folder), e.g. the AWX workflow job. Defaults to E(AZLIN_FLEET_UPLOAD_PREFIX).
    type: str
  account_url:
    description:
      - Blob service URL, e.g. V(https://myaccount.blob.core.windows.net). Defaults to
        E(AZLIN_FLEET_UPLOAD_ACCOUNT_URL). Not needed with O(connection_string).
    type: str
  connection_string:
    description: Storage account connection string. Defaults to E(AZURE_STORAGE_CONNECTION_STRING).
    type: str
  sas_token:
    description:
      - Shared access signature for O(account_url) (with write and create permissions).
      - Defaults to E(AZURE_STORAGE_SAS_TOKEN).
    type: str
  create_container:
    description: Create the container when it does not exist (needs the permission to).
    type: bool
    default: false
  fail_on_error:
    description: Fail the task when an upload fails or the settings are incomplete, instead of warning.
    type: bool
    default: false
  auth_source:
    description:
      - Entra credential when neither O(connection_string) nor O(sas_token) is set, as in
        P(azlin.fleet.azure_pools#inventory); defaults to E(AZLIN_FLEET_AUTH_SOURCE), else V(auto).
    type: str
    choices: [auto, cli, env, msi, workload_identity, credential]
  client_id:
    description: Service principal (or user-assigned identity) client id. Defaults to E(AZURE_CLIENT_ID).
    type: str
  client_secret:
    description: Service principal secret. Defaults to E(AZURE_SECRET), then E(AZURE_CLIENT_SECRET).
    type: str
  tenant_id:
    description: Entra tenant id. Defaults to E(AZURE_TENANT), then E(AZURE_TENANT_ID).
    type: str
  federated_token_file:
    description: Federated token file for V(workload_identity). Defaults to E(AZURE_FEDERATED_TOKEN_FILE).
    type: path
  cloud_environment:
    description: Azure cloud of the authority. Defaults to E(AZURE_CLOUD_ENVIRONMENT), else V(AzureCloud).
    type: str
    choices: [AzureCloud, AzureUSGovernment, AzureChinaCloud]
  authority_host:
    description: Entra authority host or URL. Defaults to E(AZURE_AUTHORITY_HOST).
    type: str
  disable_instance_discovery:
    description: Skip azure-identity's authority validation; when unset, skipped for a non-Microsoft authority.
    type: bool
  arm_endpoint:
    description: Resource Manager URL, checked as in the inventory plugin (not used for the upload itself).
    type: str
  ca_bundle:
    description:
      - PEM file of CA certificates for the authority and the blob endpoint. Defaults to E(AZLIN_FLEET_CA_BUNDLE).
    type: path
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
requirements:
  - azure-storage-blob (on the controller)
  - azure-identity for an Entra credential
notes:
  - Set C(no_log) on the task when it passes O(connection_string), O(sas_token) or O(client_secret) as arguments;
    from the environment they never appear in the task's arguments.
seealso:
  - module: azlin.fleet.job_artifacts
  - module: azlin.fleet.report_merge
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
# Upload one report; the credential comes from the environment (AWX's Azure credential or a connection string).
- name: Upload the fleet report
  azlin.fleet.report_upload:
    report_dir: /runner/artifacts/fleet
    report_name: fleet-report-wf41-job42
    container: fleet-reports
    account_url: https://myaccount.blob.core.windows.net

# Upload the merged report of a sliced job, grouped under the workflow job id.
- name: Upload the merged report
  azlin.fleet.report_upload:
    paths: "{{ fleet_merged.files }}"
    container: fleet-reports
    prefix: "awx-{{ awx_workflow_job_id }}"
    create_container: true
"""

RETURN = r"""
uploads:
  description: One entry per file, in order.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: The local file.
      type: str
      sample: /runner/artifacts/fleet/fleet-report-wf41-job42.json
    blob:
      description: The blob name.
      type: str
      sample: awx-41/fleet-report-wf41-job42.json
    url:
      description: The blob's URL, without any SAS.
      type: str
      sample: https://myaccount.blob.core.windows.net/fleet-reports/awx-41/fleet-report-wf41-job42.json
    uploaded:
      description: Whether the upload succeeded.
      type: bool
      sample: true
    error:
      description: What failed and why (null on success).
      type: str
      sample: null
uploaded:
  description: Number of files uploaded.
  returned: always
  type: int
  sample: 3
not_uploaded:
  description: Number of files not uploaded (each warned about).
  returned: always
  type: int
  sample: 0
destination:
  description: Account URL, container and prefix the files go to (no secrets); null when the settings are incomplete.
  returned: always
  type: str
  sample: https://myaccount.blob.core.windows.net/fleet-reports/awx-41
"""
