#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
module: judge
short_description: Judge how one host of a fleet run ended
version_added: 0.2.0
description:
  - Reads this host's step states and, for a routed run, its routing verdict, without connecting to it.
  - Fails the host when a step failed, timed out, found it unreachable, was blocked or never started; returns
    C(skipped) when routing kept it out (gated, unmeasurable, not selected) or every step was skipped by its gate,
    so Ansible's play recap (and AWX's host summary) shows it as skipped, not ok; ok otherwise.
options:
  states_var:
    description: Registered variable holding this host's last M(azlin.fleet.run_steps) result.
    type: str
    default: fleet_step_last
  route_var:
    description: Registered variable holding the routing result (C(fleet_verdicts)) of M(azlin.fleet.route).
    type: str
    default: fleet_route
extends_documentation_fragment:
  - azlin.fleet.controller
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Judge this host
  azlin.fleet.judge:
  register: fleet_outcome
"""

RETURN = r"""
fleet_status:
  description: How the host ended - V(ok), V(gated), V(unmeasurable), V(not_selected), or the worst failure.
  returned: always
  type: str
  sample: blocked
fleet_reason:
  description: Why; for a failure, every failed step with its status and reason.
  returned: always
  type: str
  sample: "deploy failed: exit code 1; restart blocked: requires 'deploy', which failed on this host"
fleet_states:
  description: The host's step states.
  returned: always
  type: dict
"""
