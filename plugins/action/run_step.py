# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: run_step
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
    description: The canonical workflow (RV(azlin.fleet.workflow_plan#action:fleet_workflow_plan.workflow)).
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
    support: none
  platform:
    platforms: posix
author: azlin.fleet developers
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

import time
from pathlib import Path

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import run_step

display = Display()

ARGUMENT_SPEC = {
    "workflow": {"type": "dict", "required": True},
    "step": {"type": "str", "required": True},
    "trigger": {"type": "str"},
    "hosts": {"type": "list", "elements": "str", "required": True},
    "stop_on_failure": {"type": "bool", "default": False},
    "max_failures": {"type": "raw"},
    "retry_delay": {"type": "float", "default": 2.0},
    "states_var": {"type": "str", "default": "fleet_step_last"},
}


class ActionModule(ActionBase):
    """Thin adapter: hostvars in, one ``workflow.run_step`` call, a result dict out."""

    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        self._fleet_task_vars = task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = task_vars["inventory_hostname"]
        hostvars = task_vars.get("hostvars", {})
        states = {}
        for name in args["hosts"]:
            last = task_vars.get(args["states_var"]) if name == host else hostvars.get(name, {}).get(args["states_var"])
            states[name] = dict(last.get("fleet_states") or {}) if hasattr(last, "get") else {}
        step = next((s for s in args["workflow"].get("steps", []) if s.get("name") == args["step"]), {})
        script_text = None
        if step.get("script"):
            try:
                script_text = Path(step["script"]).read_text(encoding="utf-8")
            except OSError as ex:
                raise AnsibleActionFail(
                    f"Script {step['script']!r} of step {args['step']!r}: cannot be read ({ex.strerror})."
                ) from ex
        try:
            outcome = run_step(
                args["workflow"], args["step"], host, args["hosts"], states,
                execute=self._execute, sleep=time.sleep, trigger=args["trigger"],
                stop_on_failure=args["stop_on_failure"], max_failures=args["max_failures"],
                base_delay=args["retry_delay"], script_text=script_text,
            )
        except FleetError as ex:
            raise AnsibleActionFail(ex.message) from ex
        display.vvv(f"step {args['step']!r}: {outcome['fleet_status']} {outcome['fleet_reason']}", host=host)
        result.update(outcome)
        return result

    def _execute(self, module, module_args):
        """Run one module on the host; a lost connection becomes an ``unreachable`` result to retry."""
        try:
            return self._execute_module(module_name=module, module_args=module_args, task_vars=self._fleet_task_vars)
        except AnsibleConnectionFailure as ex:
            try:
                self._connection.reset()
            except AnsibleConnectionFailure as reset_ex:
                display.vvvv(f"connection reset failed: {to_text(reset_ex)}")
            return {"unreachable": True, "msg": to_text(ex)}
