#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
module: plan
short_description: Validate every input of a fleet run and publish its plan, once, on the controller
version_added: 0.2.0
description:
  - The first task of the fleet pipeline (M(azlin.fleet.run) and M(azlin.fleet.workflow) playbooks). It reads the
    C(fleet_*) variables of the play (extra vars, AWX survey answers), validates all of them at once - the command
    or the workflow (C(fleet_workflow_file), or C(fleet_workflow) as a mapping, JSON text or YAML text), the gate,
    routing, rollout and step settings - and publishes the plan as the fact C(fleet_run).
  - Nothing connects to any host. Run it once (C(run_once), C(delegate_to=localhost), C(delegate_facts=true)) so
    later plays read C(hostvars['localhost']['ansible_facts']['fleet_run']), with or without C(--limit).
  - A plain run is a one-step workflow (its step is called C(run)). The run flags C(fleet_timeout),
    C(fleet_retries), C(fleet_become), C(fleet_chdir) and C(fleet_environment) are every workflow step's
    defaults; a step's own keys win.
  - On bad input the task fails with every problem listed (RV(fleet_refused)) and nothing else runs.
options: {}
extends_documentation_fragment:
  - azlin.fleet.controller
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Validate every input and plan the run (nothing connects to a host)
  azlin.fleet.plan:
  run_once: true
  delegate_to: localhost
  delegate_facts: true
"""

RETURN = r"""
plan_lines:
  description: The plan as readable lines (what a dry run prints).
  returned: success
  type: list
  elements: str
  sample: ["command: uptime", "targets: pool_web (3 host(s))", "routing: inventory order, no probe"]
ansible_facts:
  description:
    - C(fleet_run), the plan. Its size grows with the steps, never with the hosts.
    - Keys - C(kind) (V(run) or V(workflow)), C(name), C(targets), C(host_count), C(dry_run), C(routing), C(probe),
      the host patterns of the later plays C(probe_pattern), C(run_pattern), C(run_group), C(judge_pattern)
      (V(!all) when that play has nothing to do), the rollout C(serial), C(throttle), C(stop_on_failure),
      C(max_failures), C(retry_delay), C(tallies), C(barriers), C(segments) (step names per segment),
      C(segment_indexes), C(steps) (canonical step dicts), C(warnings), C(run_id).
  returned: success
  type: dict
fleet_targeted:
  description: The hosts the run targets, in inventory order (the report lists each of them with a status).
  returned: success
  type: list
  elements: str
  sample: ["web-1", "web-2"]
fleet_refused:
  description: Every problem of the input, one line each with its location; nothing ran.
  returned: on bad input
  type: list
  elements: str
  sample: ["Invalid gate 'cpu<<50' at column 5: expected a number after '<'. Write a comparison such as 'cpu<50'."]
fleet_internal_error:
  description: The traceback of an internal error while planning (the run is incomplete).
  returned: on an internal error
  type: str
"""
