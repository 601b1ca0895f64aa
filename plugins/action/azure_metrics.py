# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The documentation lives in plugins/modules/azure_metrics.py, where ansible-doc looks for it.
import datetime as dt
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils import azure_metrics
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

METRICS_ARGS = (
    "hosts",
    "metrics",
    "window",
    "granularity",
    "max_age",
    "max_batch",
    "max_concurrency",
    "gate",
    "client",
)
CLIENTS = {"auto": None, "querymetrics": True, "pipeline": False}


class ActionModule(ActionBase):
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(METRICS_ARGS + AUTH_OPTIONS + CONNECTION_OPTIONS + ("inventory_file",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        keys = [str(k) for k in (args.get("metrics") or ["cpu"])]
        client = str(args.get("client") or "auto")
        if client not in CLIENTS:
            raise AnsibleActionFail(f"Invalid client {client!r}: use auto, querymetrics or pipeline.", obj=args)
        granularity = str(args.get("granularity") or "PT1M").upper()
        try:
            unknown = sorted(set(keys) - set(azure_metrics.METRIC_NAMES))
            if unknown:
                raise FleetError(f"Invalid metrics {unknown!r}", "Azure Monitor answers cpu and mem", "Use cpu, mem.")
            gate_problems = azure_metrics.azure_gate_problems(args.get("gate"))
        except FleetError as ex:
            raise AnsibleActionFail(str(ex), obj=args) from ex
        hosts = [str(h) for h in (args.get("hosts") or [])]
        targets, unmeasurable = azure_metrics.targets_from_hostvars(hosts, task_vars["hostvars"])
        batches = azure_metrics.plan_batches(targets, int(args.get("max_batch") or azure_metrics.MAX_BATCH))
        metrics, calls, client_kind = {}, 0, None
        if batches:
            now = dt.datetime.now(dt.UTC)
            query = self._open_query(args, task_vars, keys, granularity, now, CLIENTS[client])
            try:
                answers, failures = azure_metrics.fetch_metric_batches(
                    query, batches, max_concurrency=int(args.get("max_concurrency") or 4)
                )
            finally:
                query.close()
            calls, client_kind = query.calls, query.client_kind
            metrics, missing = azure_metrics.host_metrics(
                targets,
                answers,
                now=dt.datetime.now(dt.UTC),
                keys=keys,
                max_age=float(args["max_age"]) if args.get("max_age") is not None else 900.0,
            )
            unmeasurable.update(missing)
            for batch, message in failures.items():
                display.warning(
                    f"Azure Monitor query of {len(batch.resource_ids)} VM(s) in {batch.region} failed: {message}"
                )
                for target in targets:
                    if target.resource_id in batch.resource_ids:
                        unmeasurable[target.host] = f"the Azure Monitor query failed: {message}"
        for host in sorted(metrics):
            display.vvv(f"azure_metrics: {metrics[host]}", host=host)
        result.update(
            changed=False,
            fleet_metrics=metrics,
            fleet_unmeasurable=dict(sorted(unmeasurable.items())),
            fleet_probes=_probe_results(hosts, metrics, unmeasurable),
            azure_metrics_calls=calls,
            azure_metrics_client=client_kind,
            gate_problems=gate_problems,
        )
        return result

    def _open_query(self, args, task_vars, keys, granularity, now, use_client):
        path = args.get("inventory_file") or inventory_config_path(task_vars.get("ansible_inventory_sources") or [])
        config = self._loader.load_from_file(path) if path else {}
        options = auth_options_for(args, config if isinstance(config, dict) else {}, os.environ)
        try:
            settings = resolve_auth({name: options[name] for name in AUTH_OPTIONS})
            credential = build_credential(settings)
        except FleetError as ex:
            raise AnsibleActionFail(str(ex), obj=args) from ex
        from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_clients import MetricsQuery

        template, audience = azure_metrics.CLOUD_METRICS[options.get("cloud_environment") or "AzureCloud"]
        return MetricsQuery(
            credential,
            settings,
            endpoint_template=options.get("metrics_endpoint") or template,
            audience=options.get("metrics_audience") or audience,
            keys=keys,
            window_minutes=int(args.get("window") or 5),
            granularity=granularity,
            now=now,
            max_retries=int(options["max_retries"] if options["max_retries"] is not None else 4),
            retry_timeout=float(options["retry_timeout"] if options["retry_timeout"] is not None else 120),
            use_client=use_client,
        )


def _probe_results(hosts, metrics, unmeasurable):
    # Shaped like registered fleet_probe results, so routing's probe_from_result reads them unchanged.
    return {
        host: {"failed": False, "metrics": metrics[host]}
        if host in metrics
        else {"failed": True, "msg": unmeasurable.get(host, "not measured")}
        for host in hosts
    }
