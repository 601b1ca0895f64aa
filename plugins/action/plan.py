# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Documentation: plugins/modules/plan.py (ansible-doc -t module azlin.fleet.plan).
import os
import traceback
import uuid
from dataclasses import replace
from pathlib import Path

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError, FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.fleet_plan import (
    PLAN_VARS,
    plan_fleet,
    read_plan_vars,
    resolve_probe_source,
    sleeping_hosts,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import resolve_scripts

display = Display()

#: The fact later plays read: hostvars['localhost']['ansible_facts'][FACT] (delegate_facts on localhost).
FACT = "fleet_run"
#: The wake plays' own fact: the VMs to start and return (None when nothing is woken).
WAKE_FACT = "fleet_wake"


def _state_home() -> Path:
    """Where a run keeps state that must outlive it (the VMs it woke): $XDG_STATE_HOME, else ~/.local/state."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        why = ex.strerror if isinstance(ex, OSError) else "not UTF-8 text"
        raise FleetError(
            f"Workflow file {path!r}", f"cannot be read ({why})", "Check the path given as fleet_workflow_file."
        ) from None


class ActionModule(ActionBase):
    """Controller-only, run once: validate every input and publish the run's plan. Nothing touches a host."""

    _VALID_ARGS = frozenset()
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        try:
            return self._plan(result, task_vars)
        except FleetValidationError as ex:
            lines = [f"{ex.subject}: {len(ex.problems)} problem(s); nothing was run:"]
            lines += [f"  - {p.message}" for p in ex.problems]
            result.update(failed=True, msg="\n".join(lines), fleet_refused=[p.message for p in ex.problems])
        except FleetError as ex:
            result.update(failed=True, msg=ex.message, fleet_refused=[ex.message])
        except Exception as ex:  # noqa: BLE001 -- any bug here must reach the report as an internal error
            result.update(failed=True, msg=f"Planning failed: {ex!r}", fleet_internal_error=traceback.format_exc())
        return result

    def _plan(self, result, task_vars):
        present = {name: task_vars[name] for name in PLAN_VARS if name in task_vars}
        values = read_plan_vars(self._templar.template(present))
        hosts = list(task_vars.get("ansible_play_hosts_all") or ())
        targets = values.get("fleet_targets")
        plan = plan_fleet(values, hosts, targets, _read_text)
        source = values.get("fleet_workflow_file")
        base = Path(source).parent if source else Path(self._loader.get_basedir())
        confine = not boolean(values.get("fleet_allow_scripts_outside", False), strict=False)
        plan = replace(plan, workflow=resolve_scripts(plan.workflow, base, confine=confine))
        if not targets:
            # the play ran on every host in the limit; the workflow's own targets narrow that down
            lookup = lookup_loader.get(
                "ansible.builtin.inventory_hostnames", loader=self._loader, templar=self._templar
            )
            selected = set(lookup.run([plan.targets], variables=task_vars))
            plan = replace(plan, hosts=tuple(h for h in hosts if h in selected))
        if plan.probe_source == "auto":
            hostvars = task_vars["hostvars"]
            all_azure = bool(plan.hosts) and all(hostvars[h].get("azure_id") for h in plan.hosts)
            plan = replace(plan, probe_source=resolve_probe_source("auto", plan.route.gate, all_azure))
        if values.get("fleet_wake"):
            hostvars = task_vars["hostvars"]
            states = {h: hostvars[h].get("azure_power_state") for h in plan.hosts}  # once per host, here only
            plan = replace(plan, wake=sleeping_hosts(plan.hosts, states))
        for warning in plan.workflow.warnings:
            display.deprecated(warning, version="2.0.0", collection_name="azlin.fleet")
        lines = plan.lines()
        display.display("\n".join(lines))
        fact = plan.to_fact()
        fact["run_id"] = uuid.uuid4().hex  # names this run's throttle slots apart from any other run's
        state_file = values.get("fleet_wake_state_file") or str(
            _state_home() / "azlin-fleet" / "wake" / f"{fact['run_id']}.json"
        )
        wake = plan.wake_fact(state_file, values["fleet_wake_timeout"] if "fleet_wake_timeout" in values else 300.0)
        # the targeted hosts, once, for the report: every one of them ends in it with a status, even when the
        # run is interrupted before it reaches them (the fact itself stays free of per-host lists)
        result.update(
            changed=False,
            plan_lines=lines,
            ansible_facts={FACT: fact, WAKE_FACT: wake},
            fleet_targeted=list(plan.hosts),
            fleet_dry_run=plan.dry_run,
        )
        return result
