#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/job_artifacts.py.

from __future__ import annotations

DOCUMENTATION = r"""
module: job_artifacts
short_description: Summarize a fleet run as small job artifacts for AWX / Automation Controller
version_added: "0.1.0"
description:
  - Runs once, on the controller, after the fleet pipeline. It reads the registered C(fleet_outcome) of every
    targeted host (C({"fleet_status", "fleet_reason"})) and the plan fact
    C(hostvars['localhost']['ansible_facts']['fleet_run']), and returns RV(fleet_artifacts), a summary whose size
    is bounded whatever the fleet size. Publish it with M(ansible.builtin.set_stats) (C(aggregate=true),
    C(per_host=false)), as the play C(azlin.fleet.artifacts) does; AWX then shows it as the job's artifacts and
    passes it to the next nodes of a workflow as the extra var C(fleet_artifacts).
  - A host without a recorded outcome counts as V(unknown) and makes the run V(incomplete).
  - The report name is O(report_name); when unset and AWX launched the job (C(awx_job_id)), it is the name the
    report gets from the job id (C(fleet-report-wf<workflow job>-job<job>)).
  - The upload destination is O(report_upload), else the container named by E(AZLIN_FLEET_UPLOAD_CONTAINER) and
    the account of E(AZLIN_FLEET_UPLOAD_ACCOUNT_URL) or E(AZURE_STORAGE_CONNECTION_STRING), without secrets.
options:
  hosts:
    description:
      - The targeted hosts of the run. Defaults to the plan's C(hosts); for a plan without a host list, to the hosts
        of the plan's C(targets) pattern that have an outcome, the rest of the plan's C(host_count) counting as
        V(unknown). None when no plan was made (no host matched the targets).
    type: list
    elements: str
  outcome_var:
    description: Name of the registered outcome to read on each host.
    type: str
    default: fleet_outcome
  report_name:
    description: Base name of the report files (E(AZLIN_FLEET_REPORT_NAME) in C(azlin.fleet.artifacts)).
    type: str
  report_dir:
    description: Directory the report files are written to (E(AZLIN_FLEET_REPORT_DIR) in C(azlin.fleet.artifacts)).
    type: str
  report_upload:
    description: Where the report files are uploaded, as a URL without secrets.
    type: str
  empty_slice_ok:
    description:
      - Whether a run that selects no host (no targeted host, or every one gated, unmeasurable or not selected)
        is a successful no-op (run status V(empty_slice)) rather than V(nothing_selected).
      - Defaults to the extra var C(fleet_slice_ok_when_empty); when that is unset or null, to true exactly for a
        slice of an AWX sliced job (C(fleet_slice) set, or an AWX workflow job named after the job template).
    type: bool
  refused:
    description:
      - The plan's refusal lines (C(fleet_refused)) when the input was refused; the run status is then V(refused).
    type: list
    elements: str
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
seealso:
  - module: ansible.builtin.set_stats
  - module: azlin.fleet.report_upload
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
# The last play of a job: the same as importing azlin.fleet.artifacts.
- name: Publish the job artifacts
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Summarize the run
      azlin.fleet.job_artifacts:
      register: fleet_job_artifacts

    - name: Publish the summary as job artifacts
      ansible.builtin.set_stats:
        data:
          fleet_artifacts: "{{ fleet_job_artifacts.fleet_artifacts }}"
        aggregate: true
        per_host: false

# In an AWX workflow, a later node can branch on the artifacts it receives as extra vars.
- name: Page someone when hosts failed
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Fail the node when the fleet run failed
      ansible.builtin.fail:
        msg: "Fleet run {{ fleet_artifacts.status }}: {{ fleet_artifacts.failed }}"
      when: fleet_artifacts.status not in ['successful', 'empty_slice']
"""

RETURN = r"""
fleet_artifacts:
  description: The run summary (JSON-ready, bounded in size).
  returned: always
  type: dict
  contains:
    version:
      description: Format version of this dict.
      type: int
      sample: 1
    status:
      description:
        - Run status. V(successful); V(failed) (a host failed, timed out, was blocked, interrupted or not started);
          V(unreachable) (the only failures are unreachable hosts); V(nothing_selected) (no host matched, or every
          one was gated, unmeasurable or not selected); V(empty_slice) (the same, as a successful no-op of a
          slice); V(refused) (bad input, nothing ran); V(incomplete) (a host has no recorded outcome); V(dry_run).
      type: str
      sample: failed
    reason:
      description: Why, in one line.
      type: str
      sample: 1 host(s) failed, timed out, were blocked, interrupted or not started
    exit_code:
      description: The exit code C(azlin-fleet) gives for this status (0, 1, 2, 3, 4 or 5).
      type: int
      sample: 1
    hosts:
      description: Number of targeted hosts.
      type: int
      sample: 3
    counts:
      description: Hosts by status (worst first; statuses with no host left out).
      type: dict
      sample: {"failed": 1, "ok": 2}
    failed:
      description: Failed, timed out, blocked and interrupted hosts, folded; cut at 256 characters.
      type: str
      sample: web-[1,3]
    unreachable:
      description: Unreachable hosts, folded; cut at 256 characters.
      type: str
      sample: ""
    not_started:
      description: Hosts not started (a stopped rollout or a spent error budget), folded; cut at 256 characters.
      type: str
      sample: stage-[2-3]
    hosts_left_out:
      description: For each host list that was cut, how many hosts it leaves out.
      type: dict
      sample: {}
    targets:
      description: The host pattern of the run, from the plan (null without a plan).
      type: str
      sample: pool_web_servers
    dry_run:
      description: Whether the run was a dry run.
      type: bool
      sample: false
    report:
      description: The report's base name, its directory and its upload destination (each null when not known).
      type: dict
      sample: {"name": "fleet-report-wf41-job42", "dir": "/runner/artifacts/fleet", "upload": null}
    job:
      description: The AWX job id, workflow job id, slice number and slice count (each null when not known).
      type: dict
      sample: {"job_id": "42", "workflow_job_id": "41", "slice": null, "slice_count": null}
"""
