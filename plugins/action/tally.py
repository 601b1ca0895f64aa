# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Documentation: plugins/modules/tally.py (ansible-doc -t module azlin.fleet.tally).
from ansible.plugins.action import ActionBase

from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_state import tally_outcomes

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "barriers": {"type": "list", "elements": "str", "default": []},
    "previous": {"type": "dict"},
    "states_var": {"type": "str", "default": "fleet_step_last"},
    "publish": {"type": "str", "default": "fleet_tally"},
}


class ActionModule(ActionBase):
    """Controller-only, run once per barrier or batch: fold the batch's step states into the run's tally."""

    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hostvars = task_vars["hostvars"]
        states = {}
        for host in args["hosts"]:  # read once per host per barrier: O(hosts), never per host pair
            last = hostvars[host].get(args["states_var"])
            states[host] = dict(last.get("fleet_states") or {}) if hasattr(last, "get") else {}
        tally = tally_outcomes(args["previous"], states, args["barriers"])
        result.update(changed=False, fleet_tally=tally, ansible_facts={args["publish"]: tally})
        return result
