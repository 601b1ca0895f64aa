# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Documentation: plugins/modules/judge.py (ansible-doc -t module azlin.fleet.judge).
from ansible.plugins.action import ActionBase

from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_state import judge_outcome

ARGUMENT_SPEC = {
    "states_var": {"type": "str", "default": "fleet_step_last"},
    "route_var": {"type": "str", "default": "fleet_route"},
}


class ActionModule(ActionBase):
    """Controller-only, per host: how this host ended, as data and as the play recap shows it."""

    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = task_vars["inventory_hostname"]
        last = task_vars.get(args["states_var"])
        states = dict(last.get("fleet_states") or {}) if hasattr(last, "get") else {}
        route = task_vars.get(args["route_var"])
        verdict = None
        if hasattr(route, "get") and not route.get("skipped"):
            verdicts = route.get("fleet_verdicts")
            if not hasattr(verdicts, "get"):  # a route result without the verdict map: read the plan's host list
                plan = route.get("fleet_plan") or {}
                verdicts = {e.get("host"): e for e in plan.get("hosts", ()) if hasattr(e, "get")}
            entry = verdicts.get(host)
            verdict = entry if entry is not None else {"status": "not_selected", "reason": "not in the routing plan"}
            if "reason" not in verdict and verdict.get("reasons"):
                verdict = {"status": verdict.get("status"), "reason": "; ".join(verdict["reasons"])}
        status, reason, recap = judge_outcome(states, verdict)
        result.update(changed=False, fleet_status=status, fleet_reason=reason, fleet_states=states)
        if recap == "failed":
            result.update(failed=True, msg=f"The run failed on this host: {reason}.")
        elif recap == "skipped":
            result.update(skipped=True, skip_reason=reason or status)
        else:
            result["msg"] = reason
        return result
