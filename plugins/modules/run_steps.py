#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
module: run_steps
short_description: Walk one host through its steps of one segment of a fleet run
version_added: 0.2.0
description:
  - Runs, on this host, the steps of one segment of the plan published by M(azlin.fleet.plan), in dependency
    order. A step starts as soon as all its C(requires) succeeded on this host; it never waits for other hosts
    (segments end only at fleet-wide steps, which the playbook turns into barriers). A failed step marks its
    dependents C(blocked) on this host only, naming the failed step, and runs its C(on_failure) step here.
  - A step's command runs as one SSH exec of C(/bin/sh -s) with the command, its environment and a script body on
    stdin (no Python needed on the host, no secret in any argv); a cancelled run stops it on the host. A step
    with C(become) runs the same exec under the task's become settings (as Ansible pipelines a module); only a
    become method that cannot take stdin (C(su)) falls back to the command module. C(when) gates probe the host
    first; C(health) waits for health after the command; C(retries) retry with doubling backoff from the plan's
    C(retry_delay).
  - A step with C(throttle) N runs on at most N hosts at once (slots held by file locks of this run on the
    controller), without making the other hosts wait.
  - Before its first step a host checks the rollout rules (stop at the first failure, error budget) against the
    hosts that failed in earlier batches (O(tally)).
options:
  plan:
    description: The plan, C(hostvars['localhost']['ansible_facts']['fleet_run']).
    type: dict
    required: true
  segment:
    description: Index of the segment in the plan's C(segments).
    type: int
    required: true
  tally:
    description: The run's tally so far (M(azlin.fleet.tally)) - failed hosts and fleet-wide steps that failed.
    type: dict
  wake:
    description:
      - This host's entry of the wake step (M(azlin.fleet.vm_power)'s C(vm_power)), when the run woke VMs. A host
        whose VM failed to wake records every step V(unreachable) with the ARM error and is never contacted.
    type: dict
  states_var:
    description: Name of the registered variable holding this host's previous result (its step states).
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
- name: Run this host's steps of the segment
  azlin.fleet.run_steps:
    plan: "{{ fleet_run }}"
    segment: 0
    tally: "{{ fleet_tally }}"
  register: fleet_step_last
"""

RETURN = r"""
fleet_steps:
  description:
    - One entry per step decided in this segment on this host - C(step), C(status) (V(ok), V(failed), V(timeout),
      V(unreachable), V(blocked), V(skipped), V(gated), V(not_started)), C(reason), C(cause) (the failed step at
      the root of a block), C(ignored) (a C(continue_on_error) failure), and when the command ran C(rc),
      C(stdout), C(stderr), C(start), C(end), C(delta), C(duration), C(attempts).
  returned: always
  type: list
  elements: dict
  sample: [{"step": "build", "status": "failed", "reason": "exit code 2", "rc": 2, "attempts": 1, "ignored": false}]
fleet_states:
  description: This host's states of every step decided so far, each with status, reason and root cause.
  returned: always
  type: dict
  sample: {"build": {"status": "failed", "reason": "exit code 2", "cause": "build"}}
fleet_internal_error:
  description: What went wrong in the controller's own bookkeeping (the run is incomplete).
  returned: on an internal error
  type: str
"""
