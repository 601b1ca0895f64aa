# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: workflow_plan
short_description: Validate a workflow and build its execution plan, or judge a finished run, on the controller
version_added: 0.1.0
description:
  - Reads a workflow (O(file) or inline O(workflow)), validates it against the collection's one workflow schema and
    returns the execution plan. Nothing connects to any host; run it in a play on C(localhost) before the plays that
    touch hosts, so a malformed workflow fails first.
  - Every problem is reported at once, each with its location (file, line and path): unknown keys, wrong types,
    duplicate step names, unknown dependencies, dependency cycles (as a path such as C(a -> b -> a)), bad gate
    expressions in C(when), misused C(on_failure) steps, missing scripts.
  - With O(outcome_hosts), judges a finished run instead: fails when any step failed, timed out, was blocked or not
    started on any of those hosts, listing them.
options:
  file:
    description: Path of the workflow YAML file. Relative C(script) paths are resolved against its directory.
    type: path
  workflow:
    description: The workflow as inline data (same schema as the file).
    type: dict
  targets:
    description: Host pattern that overrides the workflow's own C(targets).
    type: str
  hosts:
    description: The hosts the targets select, listed in the plan (what a dry run shows).
    type: list
    elements: str
  run:
    description:
      - The C(fleet_*) variables of an M(azlin.fleet.run) (command, timeout, retries, health, sequence, parallel,
        max_failures, become, chdir, environment). The run becomes a one-step workflow (step C(run)) and
        RV(fleet_run) says how hosts are dispatched.
    type: dict
  host_count:
    description: Number of hosts the run targets (resolves O(run) C(fleet_parallel) given as C(N%)).
    type: int
    default: 0
  outcome_hosts:
    description: Hosts whose recorded step states decide the outcome of a finished run.
    type: list
    elements: str
  states_var:
    description: Name of the registered variable holding each host's last step result.
    type: str
    default: fleet_step_last
attributes:
  check_mode:
    support: full
  platform:
    platforms: posix
author: azlin.fleet developers
"""

EXAMPLES = r"""
- name: Validate the workflow and build its plan
  azlin.fleet.workflow_plan:
    file: deploy.yaml
  register: fleet_workflow

- name: Fail the run if any step failed on any host
  azlin.fleet.workflow_plan:
    outcome_hosts: "{{ groups['fleet_workflow_hosts'] }}"
"""

RETURN = r"""
fleet_workflow_plan:
  description: The execution plan.
  returned: when planning
  type: dict
  contains:
    name: {description: Workflow name., type: str, returned: always}
    targets: {description: Host pattern the workflow runs on., type: str, returned: always}
    layers: {description: Step names in dependency layers., type: list, elements: list, returned: always}
    order: {description: Regular steps in the order they run., type: list, elements: str, returned: always}
    handlers: {description: Steps that only run as C(on_failure)., type: list, elements: str, returned: always}
    steps: {description: The regular steps (canonical form) in run order., type: list, elements: dict, returned: always}
    workflow: {description: The whole workflow in canonical form., type: dict, returned: always}
fleet_run:
  description: Dispatch settings of a run (O(run)).
  returned: when O(run) is given
  type: dict
  contains:
    serial: {description: Batch size for the play's C(serial) (0 = all hosts at once)., type: raw, returned: always}
    throttle: {description: Hosts running at once inside a batch (0 = no limit)., type: int, returned: always}
    stop_on_failure: {description: Whether the first failed host stops the rollout., type: bool, returned: always}
    max_failures: {description: The error budget as given (N or N%)., type: raw, returned: always}
plan_lines:
  description: The plan as readable lines (what a dry run prints).
  returned: when planning
  type: list
  elements: str
fleet_failed_steps:
  description: Host -> steps that failed the run there.
  returned: when judging an outcome
  type: dict
"""

from dataclasses import asdict
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError, FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import SETTING_VARS, parse_parallel, parse_settings
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
    failed_steps,
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
    "outcome_hosts": {"type": "list", "elements": "str"},
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
            argument_spec=ARGUMENT_SPEC, mutually_exclusive=[("file", "workflow", "run", "outcome_hosts")],
            required_one_of=[("file", "workflow", "run", "outcome_hosts")],
        )
        if args["outcome_hosts"] is not None:
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
        hostvars = task_vars.get("hostvars", {})
        states = {}
        for host in args["outcome_hosts"]:
            last = hostvars.get(host, {}).get(args["states_var"])
            states[host] = dict(last.get("fleet_states") or {}) if hasattr(last, "get") else {}
        if not states:
            result.update(failed=True, fleet_failed_steps={},
                          msg="No host ran: every target was gated, unmeasurable or not selected (see the routing plan).")
            return result
        missing = sorted(h for h, s in states.items() if not s)
        failed = failed_steps(states)
        result.update(changed=False, fleet_failed_steps=failed)
        if failed or missing:
            parts = [f"{h}: {', '.join(steps)}" for h, steps in failed.items()]
            parts += [f"{h}: no step recorded (host unreachable or removed)" for h in missing]
            result.update(failed=True, msg="The run failed on " + f"{len(parts)} host(s): " + "; ".join(parts) + ".")
        else:
            result["msg"] = f"All steps succeeded or were skipped on {len(states)} host(s)."
        return result
