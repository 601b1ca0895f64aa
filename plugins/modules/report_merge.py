#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/report_merge.py.

from __future__ import annotations

DOCUMENTATION = r"""
module: report_merge
short_description: Merge fleet reports (runs, AWX job slices) into one report
version_added: "0.1.0"
description:
  - Reads JSON reports written by the P(azlin.fleet.fleet_report#callback) callback, regroups every task's results
    across all of them (identical outputs of hosts from different slices fold into one group, with diffs against
    the largest group), and writes the merged report as JSON, Markdown and HTML.
  - Made for the last node of an AWX workflow that follows a sliced job (or several jobs), and needs no CLI, only
    the collection. A host found in several reports keeps its result from the later one, with a warning.
  - Runs on the controller; the report paths are controller paths (shared storage, or files downloaded first).
options:
  reports:
    description: JSON reports to merge, as paths or glob patterns (expanded on the controller, sorted).
    type: list
    elements: str
    required: true
  output_dir:
    description: Directory for the merged report files (created 0700 if missing).
    type: path
    required: true
  name:
    description: Base name of the merged report files.
    type: str
    default: fleet-report-merged
  formats:
    description: File formats to write.
    type: list
    elements: str
    choices: [json, md, html]
    default: [json, md, html]
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
  - module: azlin.fleet.report_upload
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Merge the slice reports of a sliced job
  azlin.fleet.report_merge:
    reports:
      - "/shared/fleet/fleet-report-wf{{ awx_workflow_job_id }}-job*.json"
    output_dir: /shared/fleet
    name: "fleet-report-wf{{ awx_workflow_job_id }}-merged"
  register: fleet_merged

- name: Show who failed across all slices
  ansible.builtin.debug:
    msg: "{{ fleet_merged.hosts_by_status }}"
"""

RETURN = r"""
sources:
  description: The report files merged, in order.
  returned: always
  type: list
  elements: str
  sample: ["/shared/fleet/fleet-report-wf41-job42.json", "/shared/fleet/fleet-report-wf41-job43.json"]
files:
  description: The merged report files written (none in check mode).
  returned: always
  type: list
  elements: str
  sample: ["/shared/fleet/fleet-report-wf41-merged.json"]
name:
  description: Base name of the merged report.
  returned: always
  type: str
  sample: fleet-report-wf41-merged
hosts:
  description: Number of hosts in the merged report.
  returned: always
  type: int
  sample: 8
counts:
  description: Hosts by overall status.
  returned: always
  type: dict
  sample: {"ok": 7, "failed": 1}
hosts_by_status:
  description: Each overall status with its hosts, folded.
  returned: always
  type: dict
  sample: {"ok": "ci-[1-2],stage-[1-3],web-[1-2]", "failed": "web-3"}
complete:
  description: Whether every merged report was complete.
  returned: always
  type: bool
  sample: true
"""
