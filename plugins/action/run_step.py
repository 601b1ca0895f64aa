# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Documentation: plugins/modules/run_step.py (ansible-doc -t module azlin.fleet.run_step).
import shlex
import time
from datetime import UTC, datetime
from pathlib import Path

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_step import run_step

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
            if module == "ansible.builtin.command" and not self._play_context.become:
                return self._run_command(module_args)
            return self._execute_module(module_name=module, module_args=module_args, task_vars=self._fleet_task_vars)
        except AnsibleConnectionFailure as ex:
            try:
                self._connection.reset()
            except AnsibleConnectionFailure as reset_ex:
                display.vvvv(f"connection reset failed: {to_text(reset_ex)}")
            return {"unreachable": True, "msg": to_text(ex)}

    def _run_command(self, args):
        """The user's command as one SSH exec, with the command module's result keys.

        Why not the command module: it starts Python on every host for every command, which on a fleet costs
        more than the command itself; a plain exec is what clush does. The task's ``environment`` still applies
        (``_compute_environment_string``). With become the command module runs instead: a become exec would
        need a terminal, which merges stderr into stdout.
        """
        line = shlex.join(args["argv"])
        if args.get("stdin") is None:
            line += " </dev/null"  # as the command module does: a command that reads stdin must not hang
        env = self._compute_environment_string()
        if env:
            line = f"{env} {line}"
        if args.get("chdir"):
            line = f"cd {shlex.quote(args['chdir'])} && {line}"
        start = datetime.now(UTC)
        res = self._low_level_execute_command(line, sudoable=False, in_data=args.get("stdin"))
        end = datetime.now(UTC)
        rc = res.get("rc")
        return {
            "rc": rc,
            "stdout": to_text(res.get("stdout", "")).rstrip("\r\n"),
            "stderr": to_text(res.get("stderr", "")).rstrip("\r\n"),
            "cmd": args["argv"],
            "start": str(start),
            "end": str(end),
            "delta": str(end - start),
            "changed": True,
            "failed": rc != 0,
        }
