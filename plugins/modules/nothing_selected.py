#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
module: nothing_selected
short_description: End a fleet run that selected no host, saying so as data
version_added: 0.2.0
description:
  - The last play of the fleet pipeline runs it on localhost only when no host matched the targets or routing
    selected none. It fails, and its result carries RV(fleet_nothing_selected), which the report and the CLI (exit
    code 3) read; they never parse the message.
  - In a slice of a sliced AWX job, or with C(fleet_slice_ok_when_empty=true), it succeeds instead (a slice that
    holds no host of the target pool, or whose hosts are all gated, must not fail the whole sliced job); the result
    still says why nothing ran, with C(no_op=true).
options:
  targets:
    description: The host pattern of the run.
    type: str
    required: true
  reason:
    description: Why no host ran.
    type: str
    required: true
extends_documentation_fragment:
  - azlin.fleet.controller
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Fail when no host matched the targets
  azlin.fleet.nothing_selected:
    targets: pool_web
    reason: no host matched the targets
"""

RETURN = r"""
fleet_nothing_selected:
  description: The targets and why nothing ran.
  returned: always
  type: dict
  sample: {"targets": "pool_web", "reason": "no host matched the targets", "no_op": false}
"""
