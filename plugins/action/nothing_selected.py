# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Documentation: plugins/modules/nothing_selected.py (ansible-doc -t module azlin.fleet.nothing_selected).
from ansible.plugins.action import ActionBase

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.job_artifacts import is_empty_slice_ok

ARGUMENT_SPEC = {
    "targets": {"type": "str", "required": True},
    "reason": {"type": "str", "required": True},
}


class ActionModule(ActionBase):
    """Controller-only: end a run that selected no host with a failure that says so as data."""

    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            no_op = is_empty_slice_ok(task_vars or {})
        except FleetError as ex:
            result.update(failed=True, msg=ex.message, fleet_refused=[ex.message])
            return result
        result.update(
            changed=False,
            # a slice of a sliced AWX job (or fleet_slice_ok_when_empty) with nothing to do succeeds as a no-op
            failed=not no_op,
            msg=f"No host ran: {args['reason']} (targets {args['targets']!r})."
            + (" This slice succeeds as a no-op." if no_op else ""),
            fleet_nothing_selected={"targets": args["targets"], "reason": args["reason"], "no_op": no_op},
        )
        return result
