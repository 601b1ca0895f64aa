#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
module: run_step
short_description: Run one workflow step on a host, if its dependencies and the rollout allow it
version_added: 0.1.0
description:
  - Decides, from the step states every host of the play has recorded, whether the step may start on this host
    (all O(workflow) C(requires) satisfied here, fleet-wide dependencies satisfied on every host, the rollout not
    stopped and the error budget not exhausted). The decision rules live in the collection's workflow schema.
  - If it may start, runs the command (or script) on the host with a time limit enforced on the host by coreutils
    C(timeout) (the command is killed at the limit and reported as V(timeout)), retries command failures and
    unreachable hosts with exponential backoff, then waits for the step's health check.
  - Otherwise returns without touching the host, with RV(fleet_status) V(blocked), V(skipped) or V(not_started)
    and a reason that names the failed dependency or the host that stopped the rollout.
  - Every result carries RV(fleet_states), this host's step states so far; register it as C(fleet_step_last) so
    the next step (and other hosts) can read it.
  - Used by the M(azlin.fleet.run) and M(azlin.fleet.workflow) playbooks.
options:
  workflow:
    description: The canonical workflow (RV(azlin.fleet.workflow_plan#module:fleet_workflow_plan.workflow)).
    type: dict
    required: true
  step:
    description: Name of the step to run.
    type: str
    required: true
  trigger:
    description: The failed step this O(step) runs for, as its C(on_failure) step.
    type: str
  hosts:
    description: Every host of the run, in dispatch order; their recorded states decide barriers and rollouts.
    type: list
    elements: str
    required: true
  stop_on_failure:
    description: Do not start this host if any host of the run already failed (a rolling rollout).
    type: bool
    default: false
  max_failures:
    description: Error budget; once more hosts than this failed, no further host starts. Empty means no budget.
    type: raw
  retry_delay:
    description: Seconds before the first retry; each further retry waits twice as long (at most 60 s).
    type: float
    default: 2
  states_var:
    description: Name of the registered variable that holds each host's previous result.
    type: str
    default: fleet_step_last
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Run step build
  azlin.fleet.run_step:
    workflow: "{{ fleet_workflow_plan.workflow }}"
    step: build
    hosts: "{{ ansible_play_hosts_all }}"
  register: fleet_step_last
"""

RETURN = r"""
fleet_step:
  description: The step name.
  returned: always
  type: str
  sample: build
fleet_status:
  description: What happened to the step on this host.
  returned: always
  type: str
  sample: blocked
fleet_reason:
  description: Why, when the step did not simply succeed.
  returned: always
  type: str
  sample: "requires 'build', which failed on this host"
fleet_attempts:
  description: How many times the command ran (0 when it never started).
  returned: always
  type: int
  sample: 2
fleet_states:
  description: This host's states of every step decided so far, each with status, reason and root cause.
  returned: always
  type: dict
  sample: {"build": {"status": "failed", "reason": "exit code 2", "cause": "build"}}
rc:
  description: Exit code of the last attempt.
  returned: when the command ran
  type: int
  sample: 0
stdout:
  description: Standard output of the last attempt.
  returned: when the command ran
  type: str
  sample: done
"""
