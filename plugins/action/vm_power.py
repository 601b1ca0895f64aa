# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The documentation lives in plugins/modules/vm_power.py, where ansible-doc looks for it.
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils import azure_power
from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_auth import (
    AUTH_OPTIONS,
    CONNECTION_OPTIONS,
    auth_options_for,
    build_credential,
    inventory_config_path,
    resolve_auth,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError

display = Display()

POWER_ARGS = (
    "hosts",
    "state",
    "former",
    "keep_awake",
    "max_concurrency",
    "timeout",
    "polling_interval",
    "state_file",
)


class ActionModule(ActionBase):
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(POWER_ARGS + AUTH_OPTIONS + CONNECTION_OPTIONS + ("inventory_file",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        state = args.get("state") or "started"
        if state not in ("started", "restored"):
            raise AnsibleActionFail(f"Invalid state {state!r}: use 'started' or 'restored'.", obj=args)
        state_file = os.path.expanduser(str(args["state_file"])) if args.get("state_file") else None
        try:
            saved = azure_power.read_power_state(state_file) if state_file else {"woken": {}}
        except (OSError, ValueError) as ex:
            raise AnsibleActionFail(f"Failed to read the vm_power state file {state_file!r}: {ex}.", obj=args) from ex
        former = args.get("former")
        if former is None:
            former = saved["woken"]
        if state == "restored" and not isinstance(former, dict):
            raise AnsibleActionFail("Invalid former: give the vm_power dict the 'started' call returned.", obj=args)
        hosts = [str(h) for h in (args.get("hosts") or [])]
        targets, refused = azure_power.targets_from_hostvars(hosts, task_vars["hostvars"])
        if state == "started":
            jobs, done = azure_power.plan_wake(targets)
        else:
            keep_awake = boolean(args.get("keep_awake") or False, strict=False)
            jobs, done = azure_power.plan_return(targets, former, keep_awake=keep_awake)
        results = {**refused, **done}
        if self._task.check_mode:
            results.update(azure_power.dry_run_results(jobs))
        elif jobs:
            results.update(self._execute(args, task_vars, jobs))
        if state_file and not self._task.check_mode:
            try:
                azure_power.write_power_state(state_file, azure_power.merge_power_state(saved, results))
            except OSError as ex:
                display.warning(f"Failed to write the vm_power state file {state_file!r}: {ex}.")
        for host in sorted(results):
            display.vvv(f"vm_power: {results[host]['status']} {results[host].get('error') or ''}".rstrip(), host=host)
        summary = azure_power.summarize(results)
        result.update(
            changed=bool(summary.get("woken") or summary.get("returned_to_sleep")),
            vm_power=results,
            vm_power_summary=summary,
        )
        return result

    def _execute(self, args, task_vars, jobs):
        path = args.get("inventory_file") or inventory_config_path(task_vars.get("ansible_inventory_sources") or [])
        config = self._loader.load_from_file(path) if path else {}
        options = auth_options_for(args, config if isinstance(config, dict) else {}, os.environ)
        try:
            settings = resolve_auth({name: options[name] for name in AUTH_OPTIONS})
            compute = azure_power_clients(build_credential(settings), settings, options)
        except FleetError as ex:
            raise AnsibleActionFail(str(ex), obj=args) from ex
        try:
            return azure_power.execute_power_jobs(
                compute,
                jobs,
                max_concurrency=int(args.get("max_concurrency") or 4),
                timeout=float(args.get("timeout") or 600),
                polling_interval=float(args.get("polling_interval") or 5),
            )
        finally:
            compute.close()


def azure_power_clients(credential, settings, options):
    # Imported here: the SDK clients take a moment to import and check mode never needs them.
    from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_clients import ComputeClients

    return ComputeClients(
        credential,
        settings,
        max_retries=int(options["max_retries"] if options["max_retries"] is not None else 4),
        retry_timeout=float(options["retry_timeout"] if options["retry_timeout"] is not None else 120),
    )
