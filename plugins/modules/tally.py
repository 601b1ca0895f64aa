#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
module: tally
short_description: Fold the step outcomes of a batch of hosts into the run's tally, at a barrier
version_added: 0.2.0
description:
  - Run once (C(run_once), C(delegate_to=localhost), C(delegate_facts=true)) after a segment that ends at a
    fleet-wide step, or after each batch of a rollout. Reads each host's step states once and publishes the tally
    as a fact of localhost - the hosts that failed (in order; what a rollout's stop rule and error budget count)
    and, per fleet-wide step, the hosts where it did not succeed.
  - The tally grows with failures only, so every host's next M(azlin.fleet.run_steps) reads it cheaply.
options:
  hosts:
    description: The hosts of the batch (C(ansible_play_batch)).
    type: list
    elements: str
    required: true
  barriers:
    description: The fleet-wide steps of the plan.
    type: list
    elements: str
    default: []
  previous:
    description: The tally so far.
    type: dict
  states_var:
    description: Registered variable holding each host's last M(azlin.fleet.run_steps) result.
    type: str
    default: fleet_step_last
  publish:
    description: Name of the fact to publish.
    type: str
    default: fleet_tally
extends_documentation_fragment:
  - azlin.fleet.controller
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Tally the outcomes of the batch at the barrier
  azlin.fleet.tally:
    hosts: "{{ ansible_play_batch }}"
    barriers: "{{ fleet_run.barriers }}"
    previous: "{{ fleet_tally }}"
  run_once: true
  delegate_to: localhost
  delegate_facts: true
"""

RETURN = r"""
fleet_tally:
  description: C(failed) (host -> status, in the order they failed) and C(fleet_wide) (step -> hosts where it failed).
  returned: always
  type: dict
  sample: {"failed": {"web-2": "failed"}, "fleet_wide": {"migrate": ["web-2"]}}
"""
