# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Documentation: plugins/modules/workflow_plan.py (ansible-doc -t module azlin.fleet.workflow_plan).
from dataclasses import asdict
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import BOOLEANS, boolean
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError, FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import SETTING_VARS, parse_parallel, parse_settings
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
    load_workflow_text,
    parse_workflow,
    plan_workflow,
    render_plan,
    resolve_scripts,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_run import run_settings, run_workflow
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_state import judge_host

display = Display()

ARGUMENT_SPEC = {
    "file": {"type": "path"},
    "workflow": {"type": "dict"},
    "targets": {"type": "str"},
    "hosts": {"type": "list", "elements": "str"},
    "run": {"type": "dict"},
    "host_count": {"type": "int", "default": 0},
    "outcome": {"type": "bool"},
    "states_var": {"type": "str", "default": "fleet_step_last"},
    "publish": {"type": "str"},
    "dry_run": {"type": "bool", "default": False},
}
#: Types of the fleet_* variables of a run that neither the workflow schema nor the routing settings check.
RUN_VAR_TYPES = {"fleet_targets": str, "fleet_smart_route": bool, "fleet_dry_run": bool}
#: A host pattern that matches no host, without a warning: the play it names is skipped.
NO_HOSTS = "!all"


def _check_types(values):
    """Wrong types of run variables, as FleetUsageError-like messages (nothing is converted but booleans)."""
    problems = []
    command = values.get("fleet_command")
    if isinstance(command, (int, float)) and not isinstance(command, bool):
        values["fleet_command"] = str(command)  # -e '{"fleet_command": 42}' is still the command text 42
    for name, kind in RUN_VAR_TYPES.items():
        value = values.get(name)
        if value is None or (kind is str and isinstance(value, str)) or (kind is dict and isinstance(value, dict)):
            continue
        if kind is bool and (isinstance(value, bool) or str(value).lower() in BOOLEANS):
            values[name] = boolean(value, strict=False)
            continue
        what = {str: "a string", dict: "a mapping", bool: "true or false"}[kind]
        got = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else repr(value)
        problems.append(FleetError(f"Invalid {name}", f"expected {what}, got {got}", f"Pass {name} as {what}."))
    return problems


def _check_run(values, host_count):
    """Validate every fleet_* variable of a run at once: routing settings, the command step, dispatch."""
    problems = _check_types(values)
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
        hosts = list(args["hosts"] or ())
        if args["publish"] and args["run"] is None:
            # the play ran on every host in the limit; the workflow's own targets narrow that down
            selected = set(lookup_loader.get("ansible.builtin.inventory_hostnames", loader=self._loader,
                                             templar=self._templar).run([targets], variables=task_vars))
            hosts = [h for h in hosts if h in selected]
        plan = plan_workflow(workflow, hosts)
        plan["targets"] = targets
        lines = render_plan(plan)
        result.update(changed=False, fleet_workflow_plan=plan, plan_lines=lines)
        if settings is not None:
            result["fleet_run"] = asdict(settings)
        if args["publish"]:
            run = dict(args["run"] or {})
            published = _published(plan, result.get("fleet_run"), run, hosts, args["dry_run"])
            if run:
                lines = _run_lines(run, targets, hosts, published)
            result["plan_lines"] = lines
            result["ansible_facts"] = {args["publish"]: published}
            display.display("\n".join(lines))
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


def _published(plan, dispatch, run, hosts, dry_run):
    """What the later plays of azlin.fleet.run / azlin.fleet.workflow read from hostvars['localhost']."""
    dry_run = dry_run or boolean(run.get("fleet_dry_run") or False, strict=False)
    routing = bool(run) and (
        boolean(run.get("fleet_smart_route") or False, strict=False)
        or any(run.get(name) not in (None, "") for name in ("fleet_gate", "fleet_count", "fleet_route_by"))
    )
    batched = bool(dispatch) and dispatch["serial"] != 0
    if dry_run or not hosts:
        pattern = NO_HOSTS
    elif routing:
        pattern = "fleet_routed"
    else:
        pattern = plan["targets"]
    return {
        "plan": plan, "run": dispatch, "hosts": hosts, "targets": plan["targets"], "dry_run": dry_run,
        # the probe runs for routing and in every dry run of a command (read-only), so the plan shows the order
        "probe_pattern": plan["targets"] if (routing or dry_run) and run and hosts else NO_HOSTS,
        "routing": routing, "run_pattern": pattern, "judge_pattern": pattern if batched else NO_HOSTS,
        "batched": batched,
    }


def _run_lines(run, targets, hosts, published):
    if published["routing"]:
        routing = "probe, gate and order least loaded first"
    elif published["dry_run"]:
        routing = "inventory order, no probe (dry run: probed read-only for the plan)"
    else:
        routing = "inventory order, no probe"
    return [
        f"command: {run.get('fleet_command')}",
        f"targets: {targets} ({len(hosts)} host(s))",
        f"dispatch: {published['run']}",
        f"routing: {routing}",
        f"hosts: {', '.join(hosts)}",
    ]
