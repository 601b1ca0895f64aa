# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The documentation lives in plugins/modules/job_artifacts.py, where ansible-doc looks for it.
import os
from datetime import UTC, datetime

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.job_artifacts import build_job_artifacts, is_empty_slice_ok
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_name import (
    name_report,
    new_report_suffix,
    read_job_identity,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_upload import (
    destination_of,
    options_with_env,
    resolve_upload,
)

display = Display()

PLAN_FACT = "fleet_run"


class ActionModule(ActionBase):
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(
        ("hosts", "outcome_var", "report_name", "report_dir", "report_upload", "empty_slice_ok", "refused")
    )

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        hostvars = task_vars.get("hostvars") or {}
        plan = _plan_fact(hostvars)
        hosts = args.get("hosts")
        if hosts is None:
            hosts = self._targeted_hosts(plan, task_vars)
        if not isinstance(hosts, list):
            raise AnsibleActionFail(
                f"Argument 'hosts' is a {type(hosts).__name__}: expected a list of host names.", obj=hosts
            )
        outcome_var = args.get("outcome_var") or "fleet_outcome"
        try:
            identity = read_job_identity(task_vars)
            empty_ok = args.get("empty_slice_ok")
            empty_ok = is_empty_slice_ok(task_vars) if empty_ok is None else boolean(empty_ok, strict=True)
        except (FleetError, TypeError) as ex:
            raise AnsibleActionFail(str(ex), obj=args) from ex
        name = args.get("report_name") or None
        if name is None and identity.is_awx:
            # AWX names are deterministic (no time, no random part), so they are known before the report is written.
            name = name_report(identity, datetime.now(UTC), new_report_suffix())
        outcomes = {str(host): (hostvars.get(host) or {}).get(outcome_var) for host in hosts}
        missing = 0
        if args.get("hosts") is None and plan and "hosts" not in plan:
            # Hosts resolved from the targets pattern ignore --limit: keep the judged ones, and count the hosts the
            # plan targeted (host_count, limit applied) that have no outcome.
            outcomes = {host: outcome for host, outcome in outcomes.items() if outcome is not None}
            missing = max(0, int(plan.get("host_count") or 0) - len(outcomes))
        artifacts = build_job_artifacts(
            outcomes,
            plan,
            job=identity,
            report={
                "name": name,
                "dir": args.get("report_dir") or None,
                "upload": args.get("report_upload") or self._upload_destination(),
            },
            empty_slice_ok=empty_ok,
            refused=list(args.get("refused") or []),
            missing=missing,
        )
        result.update(changed=False, fleet_artifacts=artifacts)
        return result

    def _targeted_hosts(self, plan, task_vars):
        if not plan:
            return []
        if "hosts" in plan:
            return list(plan["hosts"] or [])
        if not plan.get("targets"):
            return []
        lookup = lookup_loader.get("ansible.builtin.inventory_hostnames", loader=self._loader, templar=self._templar)
        return list(lookup.run([plan["targets"]], variables=task_vars))

    def _upload_destination(self):
        options = options_with_env({}, os.environ)
        if not options.get("container"):
            return None
        try:
            return destination_of(resolve_upload(options))
        except FleetError as ex:
            display.warning(f"Report upload settings are incomplete, so the artifacts name no destination: {ex}")
            return None


def _plan_fact(hostvars):
    localhost = hostvars.get("localhost") or {}
    facts = localhost.get("ansible_facts") or {}
    plan = facts.get(PLAN_FACT)
    return plan if isinstance(plan, dict) else None
