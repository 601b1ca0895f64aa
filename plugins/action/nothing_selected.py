# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Documentation: plugins/modules/nothing_selected.py (ansible-doc -t module azlin.fleet.nothing_selected).
from ansible.plugins.action import ActionBase

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
        result.update(
            changed=False,
            failed=True,
            msg=f"No host ran: {args['reason']} (targets {args['targets']!r}).",
            fleet_nothing_selected={"targets": args["targets"], "reason": args["reason"]},
        )
        return result
