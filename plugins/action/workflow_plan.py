# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Documentation: plugins/modules/workflow_plan.py (ansible-doc -t module azlin.fleet.workflow_plan).
from dataclasses import asdict
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError, FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import SETTING_VARS, parse_parallel, parse_settings
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
    judge_host,
    load_workflow_text,
    parse_workflow,
    plan_workflow,
    render_plan,
    resolve_scripts,
    run_settings,
    run_workflow,
)

ARGUMENT_SPEC = {
    "file": {"type": "path"},
    "workflow": {"type": "dict"},
    "targets": {"type": "str"},
    "hosts": {"type": "list", "elements": "str"},
    "run": {"type": "dict"},
    "host_count": {"type": "int", "default": 0},
    "outcome": {"type": "bool"},
    "states_var": {"type": "str", "default": "fleet_step_last"},
}


def _check_run(values, host_count):
    """Validate every fleet_* variable of a run at once: routing settings, the command step, dispatch."""
    problems = []
    found = {}
    checks = {
        "route": lambda: parse_settings({k: v for k, v in values.items() if k in SETTING_VARS}),
        "workflow": lambda: run_workflow(values),
        "settings": lambda: run_settings(values, host_count, parse_parallel),
    }
    for name, check in checks.items():
        try:
            found[name] = check()
        except FleetValidationError as ex:
            problems.extend(ex.problems)
        except FleetError as ex:
            problems.append(ex)
    if problems:
        unique = {p.message: p for p in problems}  # fleet_parallel is checked by routing and dispatch alike
        raise FleetValidationError("Invalid fleet_* variables", list(unique.values()))
    return found["workflow"], found["settings"]


class ActionModule(ActionBase):
    """Controller-only: validate and plan a workflow, or judge the step states of a finished run."""

    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC, mutually_exclusive=[("file", "workflow", "run", "outcome")],
            required_one_of=[("file", "workflow", "run", "outcome")],
        )
        if args["outcome"]:
            return self._outcome(result, args, task_vars)
        settings = None
        try:
            if args["run"] is not None:
                workflow, settings = _check_run(dict(args["run"]), args["host_count"])
                base = Path(self._loader.get_basedir())
            elif args["file"]:
                path = Path(args["file"])
                try:
                    text = path.read_text(encoding="utf-8")
                except OSError as ex:
                    raise AnsibleActionFail(f"Workflow file {str(path)!r}: cannot be read ({ex.strerror}). "
                                            "Check the path given as fleet_workflow_file.") from ex
                workflow = load_workflow_text(text, str(path))
                base = path.parent
            else:
                workflow = parse_workflow(dict(args["workflow"]), "fleet_workflow")
                base = Path(self._loader.get_basedir())
            workflow = resolve_scripts(workflow, base)
        except FleetValidationError as ex:
            lines = [f"{ex.subject}: {len(ex.problems)} problem(s); nothing was run:"]
            lines += [f"  - {p.message}" for p in ex.problems]
            raise AnsibleActionFail("\n".join(lines), result={"fleet_problems": [p.message for p in ex.problems]}) \
                from ex
        except FleetError as ex:
            raise AnsibleActionFail(ex.message) from ex
        targets = args["targets"] or workflow.targets
        if not targets:
            raise AnsibleActionFail(f"Workflow {workflow.name!r}: no targets. Set 'targets:' in the workflow or pass "
                                    "fleet_targets.")
        plan = plan_workflow(workflow, args["hosts"] or ())
        plan["targets"] = targets
        result.update(changed=False, fleet_workflow_plan=plan, plan_lines=render_plan(plan))
        if settings is not None:
            result["fleet_run"] = asdict(settings)
        return result

    def _outcome(self, result, args, task_vars):
        """Judge this host's recorded step states: fail it (with the worst status) if any step failed."""
        last = task_vars.get(args["states_var"])
        steps = dict(last.get("fleet_states") or {}) if hasattr(last, "get") else {}
        status, reason = judge_host(steps)
        result.update(changed=False, fleet_status=status, fleet_reason=reason, fleet_states=steps)
        if status != "ok":
            result.update(failed=True, msg=f"The run failed on this host: {reason}.")
        else:
            result["msg"] = reason
        return result
