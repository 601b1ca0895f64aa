# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The documentation lives in plugins/modules/route.py, where ansible-doc looks for it.
import traceback

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

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
    verdicts,
)

display = Display()

SETTING_ARGS = ("gate", "gate_mode", "gate_timeout", "route_by", "count", "parallel", "dry_run")
ROUTED_GROUP = "fleet_routed"
WAITING_GROUP = "fleet_waiting"
# ansible-core 2.21 lets an action add hosts to the inventory itself (one call per host, no loop task); earlier
# versions only take one add_host per task result, so the playbook adds the rest with one add_host loop
ADDS_HOSTS_ITSELF = callable(getattr(ActionBase, "add_host", None))


class ActionModule(ActionBase):
    BYPASS_HOST_LOOP = True
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(SETTING_ARGS + ("probe_var", "wait_var", "azure_var", "keep_order", "group", "wait_group"))

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
        try:
            result.update(self._route(settings, args, task_vars))
        except Exception as ex:  # noqa: BLE001 - any bug here must reach the report as an internal error, not a traceback
            display.vvv(traceback.format_exc())
            result.update(
                failed=True,
                msg=f"Routing failed: {type(ex).__name__}: {ex}. This is a bug in azlin.fleet; please report it.",
                fleet_internal_error=f"route: {type(ex).__name__}: {ex}",
            )
        return result

    def _route(self, settings, args, task_vars) -> dict:
        hosts = list(task_vars.get("ansible_play_hosts_all") or [])
        hostvars = task_vars["hostvars"]
        probe_var = args.get("probe_var") or "fleet_probe"
        wait_var = args.get("wait_var") or "fleet_probe_wait"
        # metrics from Azure Monitor (fleet_probe_source=azure): one run-once result holds every host's, read once
        azure = hostvars[hosts[0]].get(args.get("azure_var") or "fleet_azure_metrics") if hosts else None
        from_azure = azure.get("fleet_probes") if isinstance(azure, dict) and not azure.get("skipped") else None
        probes, waited = [], False
        for host in hosts:
            own = hostvars[host]
            waited_result = own.get(wait_var)
            if isinstance(waited_result, dict) and not waited_result.get("skipped"):
                waited = True
                probes.append(probe_from_result(host, waited_result))
            elif isinstance(from_azure, dict):
                probes.append(probe_from_result(host, from_azure.get(host)))
            else:
                probes.append(probe_from_result(host, own.get(probe_var)))
        keep_order = boolean(args.get("keep_order") or False, strict=False)
        plan = build_plan(settings, probes, waited=settings.gate_timeout if waited else None, keep_order=keep_order)
        waiting = [] if waited else next_wait(plan, settings)
        chosen = [] if settings.dry_run else selected_hosts(plan)
        # while gated hosts are waited for, the group to build is theirs; the routed group comes after the wait
        group, members = (
            (args.get("wait_group") or WAITING_GROUP, waiting)
            if waiting
            else (
                args.get("group") or ROUTED_GROUP,
                chosen,
            )
        )
        pending = list(members)
        if ADDS_HOSTS_ITSELF:
            for host in members:
                self.add_host(host, parent_group_names=[group])
            pending = []
        summary = plan_summary(plan)
        for line in summary:
            display.v(line)
        return {
            "changed": False,
            "fleet_plan": plan,
            "fleet_hosts": chosen,
            "fleet_verdicts": verdicts(plan),
            "fleet_parallel": parse_parallel(settings.parallel, len(hosts)) if settings.parallel else None,
            "fleet_summary": summary,
            "fleet_wait": {
                "hosts": waiting,
                "limits": compile_gate(settings.parsed_gate),
                "timeout": settings.gate_timeout,
            },
            "fleet_group": group,
            "fleet_group_pending": pending,
        }
