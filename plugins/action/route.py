# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The documentation lives in plugins/modules/route.py, where ansible-doc looks for it.
from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import compile_gate
from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import (
    SETTING_VARS,
    build_plan,
    next_wait,
    parse_parallel,
    parse_settings,
    plan_summary,
    probe_from_result,
    selected_hosts,
)

SETTING_ARGS = ("gate", "gate_mode", "gate_timeout", "route_by", "count", "parallel", "dry_run")


class ActionModule(ActionBase):
    BYPASS_HOST_LOOP = True
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(SETTING_ARGS + ("probe_var", "wait_var", "keep_order"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        values = {name: task_vars.get(name) for name in SETTING_VARS}
        values.update({f"fleet_{name}": args[name] for name in SETTING_ARGS if args.get(name) is not None})
        try:
            settings = parse_settings(values)
        except FleetError as ex:
            raise AnsibleActionFail(str(ex), obj=self._task.args) from ex
        hosts = list(task_vars.get("ansible_play_hosts_all") or [])
        hostvars = task_vars["hostvars"]
        probe_var = args.get("probe_var") or "fleet_probe"
        wait_var = args.get("wait_var") or "fleet_probe_wait"
        probes, waited = [], False
        for host in hosts:
            waited_result = hostvars[host].get(wait_var)
            if isinstance(waited_result, dict) and not waited_result.get("skipped"):
                waited = True
                probes.append(probe_from_result(host, waited_result))
            else:
                probes.append(probe_from_result(host, hostvars[host].get(probe_var)))
        keep_order = boolean(args.get("keep_order") or False, strict=False)
        plan = build_plan(settings, probes, waited=settings.gate_timeout if waited else None, keep_order=keep_order)
        waiting = [] if waited else next_wait(plan, settings)
        result.update(
            changed=False,
            fleet_plan=plan,
            fleet_hosts=[] if settings.dry_run else selected_hosts(plan),
            fleet_parallel=parse_parallel(settings.parallel, len(hosts)) if settings.parallel else None,
            fleet_summary=plan_summary(plan),
            fleet_wait={
                "hosts": waiting,
                "limits": compile_gate(settings.parsed_gate),
                "timeout": settings.gate_timeout,
            },
        )
        return result
