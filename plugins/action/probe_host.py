# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Documentation: plugins/modules/probe_host.py (ansible-doc -t module azlin.fleet.probe_host).
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import evaluate_gate, parse_gate
from ansible_collections.azlin.fleet.plugins.plugin_utils.probe import (
    DEFAULT_INTERVAL,
    MAX_INTERVAL,
    ProbeOutputError,
    measure_with,
    probe_result,
    unmeasurable_result,
    wait_until,
)

ARGUMENT_SPEC = {
    "interval": {"type": "float", "default": DEFAULT_INTERVAL},
    "wait_for": {"type": "list", "elements": "dict"},
    "wait_timeout": {"type": "float", "default": 300.0},
    "ttl": {"type": "float"},
    "gate": {"type": "str"},
    "probe_var": {"type": "str", "default": "fleet_probe"},
}
# at least this long per round in wait mode, so a zero interval cannot spin on SSH execs
MIN_WAIT_ROUND = 0.1


class ActionModule(ActionBase):
    """Thin adapter: one raw exec per round on the host, parsed and timed on the controller."""

    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        interval = args["interval"]
        if not 0 <= interval <= MAX_INTERVAL:
            raise AnsibleActionFail(
                f"Invalid interval {interval!r}: it must be between 0 and {MAX_INTERVAL:g} seconds. "
                "Use e.g. interval: 0.5."
            )
        if args["ttl"] is not None:
            return self._recheck(result, args, task_vars or {})
        if args["wait_for"] is None:
            result.update(probe_result(self._execute, interval, time.monotonic))
            return result
        try:
            pace = max(interval, MIN_WAIT_ROUND)
            metrics, met, waited = wait_until(
                lambda: measure_with(self._execute, pace), args["wait_for"], args["wait_timeout"], time.monotonic
            )
        except ProbeOutputError as ex:
            # not a task failure: the host stays in the run's plays and is reported unmeasurable (never failed)
            result.update(unmeasurable_result(str(ex)))
            return result
        except (KeyError, TypeError, ValueError) as ex:
            raise AnsibleActionFail(
                f"Invalid wait_for {args['wait_for']!r}: {ex}. Pass the limits the route action returns."
            ) from ex
        result.update(changed=False, metrics=metrics, gate_met=met, waited=waited, probed_at=time.monotonic())
        return result

    def _recheck(self, result: dict, args: dict, task_vars: dict) -> dict:
        """Before a host starts: re-probe it when its registered probe is older than ``ttl``, and re-gate it."""
        try:
            gate = parse_gate(args["gate"]) if args["gate"] else None
        except FleetError as ex:
            raise AnsibleActionFail(str(ex)) from ex
        last = task_vars.get(args["probe_var"])
        probed_at = last.get("probed_at") if isinstance(last, dict) else None
        age = time.monotonic() - probed_at if isinstance(probed_at, (int, float)) else None
        if age is not None and age <= args["ttl"]:
            result.update(changed=False, reprobed=False, metrics=last.get("metrics"), probed_at=probed_at)
            return result
        try:
            metrics = measure_with(self._execute, args["interval"])
        except ProbeOutputError as ex:
            # unlike the first probe this one fails the task: the host was selected, and now cannot start
            result.update(unmeasurable_result(f"re-probe before dispatch failed: {ex}"), failed=True)
            return result
        result.update(changed=False, reprobed=True, metrics=metrics, probed_at=time.monotonic())
        verdict = evaluate_gate(gate, metrics)
        if not verdict.passed:
            reason = "; ".join(f"re-probe before dispatch: {r}" for r in verdict.reasons)
            result.update(failed=True, msg=reason, fleet_status="gated", fleet_reason=reason)
        return result

    def _execute(self, command: str) -> dict:
        # never become: reading /proc and utmp needs no privileges, and a become exec may need a terminal
        return self._low_level_execute_command(command, sudoable=False)
