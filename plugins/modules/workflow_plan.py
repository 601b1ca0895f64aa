#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
module: workflow_plan
short_description: Validate a workflow and build its execution plan, or judge a finished run, on the controller
version_added: 0.1.0
description:
  - Reads a workflow (O(file) or inline O(workflow)), validates it against the collection's one workflow schema and
    returns the execution plan. Nothing connects to any host; run it once (C(run_once), C(delegate_to=localhost))
    before the tasks that touch hosts, so a malformed workflow fails first.
  - Every problem is reported at once, each with its location (file, line and path) - unknown keys, wrong types,
    duplicate step names, unknown dependencies, dependency cycles (as a path such as C(a -> b -> a)), bad gate
    expressions in C(when), misused C(on_failure) steps, missing scripts.
  - With O(outcome), judges a finished run on each host instead, without connecting to it.
options:
  file:
    description: Path of the workflow YAML file. Relative C(script) paths are resolved against its directory.
    type: path
  workflow:
    description: The workflow as inline data (same schema as the file).
    type: dict
  targets:
    description: Host pattern that overrides the workflow's own C(targets).
    type: str
  hosts:
    description: The hosts the targets select, listed in the plan (what a dry run shows).
    type: list
    elements: str
  run:
    description:
      - The C(fleet_*) variables of an M(azlin.fleet.run) (command, timeout, retries, health, sequence, parallel,
        max_failures, become, chdir, environment). The run becomes a one-step workflow (step C(run)) and
        RV(fleet_run) says how hosts are dispatched.
    type: dict
  host_count:
    description: Number of hosts the run targets (resolves O(run) C(fleet_parallel) given as C(N%)).
    type: int
    default: 0
  outcome:
    description:
      - Judge this host after a run instead of planning. Fail it when any of its steps failed, timed out, was
        blocked or not started, with RV(fleet_status) set to the worst of those (so a host that never started is
        reported V(not_started), not V(failed)).
    type: bool
  states_var:
    description: Name of the registered variable holding each host's last step result.
    type: str
    default: fleet_step_last
  publish:
    description:
      - Also return the plan as the fact of this name (with C(delegate_facts=true) and C(delegate_to=localhost) it
        becomes C(hostvars['localhost']['ansible_facts'][NAME]), which later plays read even under C(--limit)), and
        print the plan lines.
      - The fact holds C(plan), C(run) (RV(fleet_run)), C(hosts) (O(hosts) that the targets select), C(targets),
        C(dry_run), C(routing), C(batched) and the host patterns of the plays that follow - C(probe_pattern),
        C(run_pattern), C(judge_pattern) (V(!all) when that play has nothing to do).
    type: str
  dry_run:
    description: The plan is for a dry run (no host runs). With O(run), C(fleet_dry_run) also says so.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Validate the workflow and build its plan
  azlin.fleet.workflow_plan:
    file: deploy.yaml
  register: fleet_workflow

- name: Validate once for the whole play, keep the plan as a fact of localhost
  azlin.fleet.workflow_plan:
    file: deploy.yaml
    hosts: "{{ ansible_play_hosts_all }}"
    publish: fleet_workflow_run
  run_once: true
  delegate_to: localhost
  delegate_facts: true

- name: Fail this host if any of its steps failed (runs on the controller)
  azlin.fleet.workflow_plan:
    outcome: true
"""

RETURN = r"""
fleet_workflow_plan:
  description: The execution plan.
  returned: when planning
  type: dict
  contains:
    name: {description: Workflow name., type: str, returned: always}
    targets: {description: Host pattern the workflow runs on., type: str, returned: always}
    layers: {description: Step names in dependency layers., type: list, elements: list, returned: always}
    order: {description: Regular steps in the order they run., type: list, elements: str, returned: always}
    handlers: {description: Steps that only run as C(on_failure)., type: list, elements: str, returned: always}
    steps: {description: The regular steps (canonical form) in run order., type: list, elements: dict, returned: always}
    workflow: {description: The whole workflow in canonical form., type: dict, returned: always}
fleet_run:
  description: Dispatch settings of a run (O(run)).
  returned: when O(run) is given
  type: dict
  contains:
    serial: {description: Batch size for the play's C(serial) (0 = all hosts at once)., type: raw, returned: always}
    throttle: {description: Hosts running at once inside a batch (0 = no limit)., type: int, returned: always}
    stop_on_failure: {description: Whether the first failed host stops the rollout., type: bool, returned: always}
    max_failures: {description: The error budget as given (N or N%)., type: raw, returned: always}
plan_lines:
  description: The plan as readable lines (what a dry run prints).
  returned: when planning
  type: list
  elements: str
ansible_facts:
  description: The plan under the name O(publish).
  returned: when O(publish) is given
  type: dict
fleet_status:
  description: V(ok), or the worst status among this host's failed steps.
  returned: when judging an outcome
  type: str
  sample: blocked
fleet_reason:
  description: The failed steps of this host with their status and reason.
  returned: when judging an outcome
  type: str
  sample: "deploy failed: exit code 1; restart blocked: requires 'deploy', which failed on this host"
"""
