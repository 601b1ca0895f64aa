# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one plan of a fleet run: decided once, from the workflow, the targeted hosts and the ``fleet_*`` settings.

A plain run is a one-step workflow. ``plan_fleet`` turns the validated inputs into a frozen ``FleetPlan``:
which steps run in which segments (split only at fleet-wide barriers), whether hosts are probed and routed,
the host pattern of each play, the rollout (batches, stop rule, error budget), and the lines a dry run
prints. The ``plan`` action publishes ``FleetPlan.to_fact()``; the playbooks read it and only dispatch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_metrics import azure_gate_problems
from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import (
    FleetError,
    FleetUsageError,
    FleetValidationError,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import (
    SETTING_VARS,
    RouteSettings,
    parse_boolean,
    parse_number,
    parse_settings,
    plain_data,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
    Workflow,
    layer_steps,
    load_workflow_text,
    segment_steps,
    step_to_dict,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_input import load_workflow_input
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_run import (
    RUN_TYPES,
    RUN_VARS,
    RunSettings,
    coerce_text,
    is_unset,
    run_settings,
    run_workflow,
)

#: A host pattern that matches no host, without a warning: the play it names is skipped.
NO_HOSTS = "!all"
#: The group the probe play fills with the selected hosts in dispatch order.
ROUTED_GROUP = "fleet_routed"
#: Every variable the plan reads (extra vars, AWX survey answers, playbooks/vars/defaults.yml).
PLAN_VARS = tuple(
    dict.fromkeys(
        (
            "fleet_command",
            "fleet_workflow",
            "fleet_workflow_file",
            "fleet_targets",
            "fleet_smart_route",
            "fleet_sequence",
            "fleet_max_failures",
            "fleet_parallel_default",
            "fleet_retry_delay",
            "fleet_allow_scripts_outside",
            "fleet_wake",
            "fleet_keep_awake",
            "fleet_wake_timeout",
            "fleet_wake_state_file",
            "fleet_probe_source",
            *SETTING_VARS,
            *RUN_VARS,
            "fleet_health_cmd",
            "fleet_health_url",
            "fleet_health_port",
            "fleet_health_status",
            "fleet_health_interval",
            "fleet_health_timeout",
            "fleet_health_successes",
        )
    )
)
#: Variables whose presence asks for probing and routing even without fleet_smart_route.
ROUTING_VARS = ("fleet_gate", "fleet_count", "fleet_route_by")
#: Run flags that become every workflow step's defaults (the step's own keys win).
STEP_DEFAULT_VARS = {var: key for var, key in RUN_VARS.items() if var != "fleet_command"}


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """Everything the playbooks need to dispatch a run, decided once."""

    kind: str  # "run" or "workflow"
    workflow: Workflow
    targets: str
    hosts: tuple[str, ...]
    segments: tuple[tuple[str, ...], ...]
    routing: bool
    dry_run: bool
    rollout: RunSettings
    retry_delay: float
    route: RouteSettings
    wake: tuple[str, ...] = ()  # targeted VMs that are not running, started for the run (fleet_wake)
    keep_awake: bool = False
    probe_source: str = "ssh"  # where routing reads metrics: "ssh" (the one-exec probe) or "azure" (Azure Monitor)

    @property
    def probe(self) -> bool:
        """Probe the targets: to route, and in every dry run of a run (read-only) so the plan shows the order."""
        return bool(self.hosts) and (self.routing or (self.dry_run and self.kind == "run"))

    @property
    def patterns(self) -> dict[str, str | None]:
        """The host pattern of each play that follows the plan (``!all``: the play has nothing to do)."""
        runs = bool(self.hosts) and not self.dry_run
        # a dry run wakes nothing, so it cannot probe the sleeping VMs either
        asleep = "".join(f":!{host}" for host in self.wake) if self.dry_run else ""
        return {
            "probe_pattern": self.targets + asleep if self.probe else NO_HOSTS,
            "run_pattern": (ROUTED_GROUP if self.routing else self.targets) if runs else NO_HOSTS,
            # the group must exist (routing selected a host) for the steps play to run
            "run_group": ROUTED_GROUP if runs and self.routing else None,
            "judge_pattern": self.targets if runs else NO_HOSTS,
        }

    @property
    def barriers(self) -> tuple[str, ...]:
        """Fleet-wide steps: after the segment holding one, the outcomes of every host are tallied."""
        return tuple(s.name for s in self.workflow.steps if s.fleet_wide)

    @property
    def tallies(self) -> bool:
        """Whether outcomes are tallied across hosts (barriers, or a rollout that stops on failures)."""
        return bool(self.barriers) or self.rollout.stop_on_failure or self.rollout.max_failures is not None

    def lines(self) -> list[str]:
        """What a dry run (and the start of every run) prints: the workflow, the hosts, the dispatch."""
        return render_plan_lines(self)

    def to_fact(self) -> dict[str, Any]:
        """The plan as plain data, published as ``hostvars['localhost']['ansible_facts']['fleet_run']``.

        Per-host tasks read it, so it holds no per-host list: its size grows with steps, not with hosts.
        """
        return {
            "version": 1,
            "kind": self.kind,
            "name": self.workflow.name,
            "targets": self.targets,
            "host_count": len(self.hosts),
            "dry_run": self.dry_run,
            "routing": self.routing,
            "probe": self.probe,
            **self.patterns,
            "serial": self.rollout.serial,
            "throttle": self.rollout.throttle,
            "stop_on_failure": self.rollout.stop_on_failure,
            "max_failures": self.rollout.max_failures,
            "retry_delay": self.retry_delay,
            "tallies": self.tallies,
            "barriers": list(self.barriers),
            "segments": [list(seg) for seg in self.segments],
            "segment_indexes": list(range(len(self.segments))),
            "steps": [step_to_dict(s) for s in self.workflow.steps],
            # the steps play turns become on when any step needs it; each step still runs as it asks
            "become": any(s.become for s in self.workflow.steps),
            "warnings": list(self.workflow.warnings),
            "wake_count": len(self.wake),
            "probe_source": self.probe_source,
        }

    def wake_fact(self, state_file: str, timeout: float) -> dict[str, Any] | None:
        """What the wake and return plays need (published apart: only they read the host list)."""
        if not self.wake or self.dry_run:
            return None
        return {
            "hosts": list(self.wake),
            "pattern": ":".join(self.wake),
            "keep_awake": self.keep_awake,
            "state_file": state_file,
            "timeout": timeout,
        }


def read_plan_vars(task_vars: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's inputs out of a play's variables: only the names in PLAN_VARS, unset ones left out."""
    return {name: task_vars[name] for name in PLAN_VARS if name in task_vars and not is_unset(task_vars[name])}


def load_plan_workflow(values: Mapping[str, Any], read_file: Any) -> tuple[str, Workflow]:
    """The workflow of a run: ``fleet_command`` (a one-step run), ``fleet_workflow`` (a mapping, or JSON or YAML
    text, as an AWX survey textarea gives it) or ``fleet_workflow_file`` (``read_file(path) -> text``).

    The run flags (fleet_timeout, fleet_retries, ...) are every step's defaults; a step's own keys win.
    Returns ("run" | "workflow", workflow); raises FleetValidationError naming every problem.
    """
    given = [name for name in ("fleet_command", "fleet_workflow", "fleet_workflow_file") if name in values]
    if not given:
        raise FleetUsageError(
            "Nothing to run",
            "neither fleet_command, fleet_workflow nor fleet_workflow_file is set",
            "Pass -e fleet_command='uptime' or -e fleet_workflow_file=deploy.yaml.",
        )
    if len(given) > 1:
        raise FleetUsageError(
            "Conflicting input", f"{' and '.join(given)} are all set", "Pass either a command or a workflow, not both."
        )
    if given[0] == "fleet_command":
        return "run", run_workflow(values)
    defaults, problems = _step_defaults(values)
    if problems:
        raise FleetValidationError("Invalid fleet_* variables", problems)
    source = values.get("fleet_workflow_file")
    if source is not None:
        if not isinstance(source, str):
            raise FleetUsageError(
                "Invalid fleet_workflow_file",
                f"expected a path, got {type(source).__name__}",
                "Pass the path of the workflow YAML file.",
            )
        return "workflow", load_workflow_text(read_file(source), source, defaults=defaults)
    inline = values["fleet_workflow"]
    return "workflow", load_workflow_input(inline if isinstance(inline, str) else plain_data(inline), defaults=defaults)


def _step_defaults(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[FleetError]]:
    """The run flags as step defaults, each checked once (as the step of a run) and named by its variable."""
    defaults: dict[str, Any] = {}
    problems: list[FleetError] = []
    for var, key in STEP_DEFAULT_VARS.items():
        if var not in values:
            continue
        value = coerce_text(plain_data(values[var]), RUN_TYPES.get(key, "str"))
        try:
            run_workflow({"fleet_command": "true", var: value})
        except FleetValidationError as ex:
            problems.extend(ex.problems)
            continue
        except FleetError as ex:
            problems.append(ex)
            continue
        defaults[key] = value
    return defaults, problems


def check_plan_vars(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[FleetError]]:
    """Type-check the variables no schema covers (targets, booleans); returns converted values and problems."""
    out = dict(values)
    problems: list[FleetError] = []
    command = out.get("fleet_command")
    if isinstance(command, (int, float)) and not isinstance(command, bool):
        out["fleet_command"] = str(command)  # -e '{"fleet_command": 42}' is still the command text 42
    for name in ("fleet_smart_route", "fleet_dry_run", "fleet_wake", "fleet_keep_awake"):
        if name in out:
            try:
                out[name] = parse_boolean(name, out[name])
            except FleetError as ex:
                problems.append(ex)
    targets = out.get("fleet_targets")
    if targets is not None and not isinstance(targets, str):
        got = "a list" if isinstance(targets, list) else "a mapping" if isinstance(targets, Mapping) else repr(targets)
        problems.append(
            FleetUsageError("Invalid fleet_targets", f"expected a string, got {got}", "Pass fleet_targets as a string.")
        )
    source = out.get("fleet_probe_source")
    if source is not None:
        source = str(source).strip().lower()
        if source not in PROBE_SOURCES:
            problems.append(
                FleetUsageError(
                    f"Invalid fleet_probe_source {out['fleet_probe_source']!r}",
                    f"expected one of {', '.join(PROBE_SOURCES)}",
                    "Use ssh (the default), azure or auto.",
                )
            )
        else:
            out["fleet_probe_source"] = source
            if source == "azure":
                problems.extend(
                    FleetUsageError("fleet_probe_source azure", line, "Use --probe-source ssh for it.")
                    for line in azure_gate_problems(out.get("fleet_gate"))
                )
                if str(out.get("fleet_gate_mode", "skip")).strip().lower() == "wait":
                    problems.append(
                        FleetUsageError(
                            "fleet_probe_source azure",
                            "gate mode wait re-probes over SSH",
                            "Use gate mode skip with Azure Monitor metrics.",
                        )
                    )
    if "fleet_wake_timeout" in out:
        wait = out["fleet_wake_timeout"]
        try:
            out["fleet_wake_timeout"] = float(wait)
            if out["fleet_wake_timeout"] <= 0:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(
                FleetUsageError(
                    "Invalid fleet_wake_timeout",
                    f"expected seconds > 0, got {wait!r}",
                    "Pass how long a woken VM may take to answer over SSH, e.g. 300.",
                )
            )
    try:
        out["fleet_retry_delay"] = parse_number("fleet_retry_delay", out.get("fleet_retry_delay", 2), minimum=0)
    except FleetError as ex:
        problems.append(ex)
    return out, problems


def is_routing(values: Mapping[str, Any]) -> bool:
    """Probe and route when asked (fleet_smart_route) or implied by a gate, a count or a route_by."""
    return values.get("fleet_smart_route") is True or any(name in values for name in ROUTING_VARS)


PROBE_SOURCES = ("ssh", "azure", "auto")


def resolve_probe_source(source: str, gate: str | None, all_azure: bool) -> str:
    """The metrics source routing uses: ``auto`` is Azure Monitor when every targeted host is an Azure VM and the
    gate needs no SSH-only term (load, users, idle), else SSH."""
    if source != "auto":
        return source
    return "azure" if all_azure and not azure_gate_problems(gate) else "ssh"


def sleeping_hosts(hosts: Sequence[str], power_states: Mapping[str, Any]) -> tuple[str, ...]:
    """The hosts whose VM is known not to be running (``azure_power_state`` of the inventory), in order.

    A host without a known power state (a static inventory) is taken as running: nothing to wake.
    """
    return tuple(h for h in hosts if power_states.get(h) not in (None, "", "running"))


def plan_fleet(values: Mapping[str, Any], hosts: Sequence[str], targets: str | None, read_file: Any) -> FleetPlan:
    """Validate every input at once and plan the run; raises FleetValidationError listing every problem.

    ``values`` are the plan's variables (``read_plan_vars``); ``hosts`` the hosts the play targets, in
    inventory order; ``targets`` the pattern they came from (None: the workflow's own ``targets``).
    """
    values, problems = check_plan_vars(values)
    found: dict[str, Any] = {}
    checks = {
        "workflow": lambda: load_plan_workflow(values, read_file),
        "route": lambda: parse_settings({k: v for k, v in values.items() if k in SETTING_VARS}),
        "rollout": lambda: run_settings(values, len(hosts)),
    }
    for name, check in checks.items():
        try:
            found[name] = check()
        except FleetValidationError as ex:
            problems.extend(ex.problems)
        except (FleetError, OSError, yaml.YAMLError) as ex:
            problems.append(ex if isinstance(ex, FleetError) else FleetUsageError("Input", str(ex)))
    if "workflow" in found and not (targets or found["workflow"][1].targets):
        name = found["workflow"][1].name
        problems.append(
            FleetUsageError(f"Workflow {name!r}", "no targets", "Set 'targets:' in the workflow or pass fleet_targets.")
        )
    if problems:
        unique = {p.message: p for p in problems}  # fleet_parallel is checked by routing and dispatch alike
        raise FleetValidationError("Invalid input", list(unique.values()))
    kind, workflow = found["workflow"]
    pattern = targets or workflow.targets
    return FleetPlan(
        kind=kind,
        workflow=workflow,
        targets=pattern,
        hosts=tuple(hosts),
        segments=tuple(tuple(seg) for seg in segment_steps(workflow)),
        routing=is_routing(values),
        dry_run=found["route"].dry_run,
        rollout=found["rollout"],
        retry_delay=values["fleet_retry_delay"],
        route=found["route"],
        keep_awake=bool(values.get("fleet_keep_awake")),
        probe_source=values.get("fleet_probe_source", "ssh"),
    )


def render_plan_lines(plan: FleetPlan) -> list[str]:
    """The lines every run prints first and a dry run stops after."""
    wf = plan.workflow
    steps = {s.name: s for s in wf.steps}
    layers = layer_steps(wf)
    lines = []
    if plan.kind == "run":
        lines.append(f"command: {steps['run'].command}")
    else:
        regular = sum(len(seg) for seg in plan.segments)
        lines.append(f"workflow {wf.name!r}: {regular} step(s) in {len(layers)} layer(s)")
    lines.append(f"targets: {plan.targets} ({len(plan.hosts)} host(s))")
    if plan.probe and plan.probe_source == "azure":
        lines.append(
            "metrics: CPU from Azure Monitor (its age and granularity are in the routing plan); no SSH to "
            "gate or order the hosts"
        )
    if plan.routing:
        route = plan.route
        how = f"probe, gate{' ' + route.gate if route.gate else ''} and order least loaded first (by {route.route_by})"
        if route.count:
            how += f", keep the {route.count} best"
        lines.append(f"routing: {how}")
    elif plan.dry_run and plan.kind == "run":
        lines.append("routing: inventory order, no probe (dry run: probed read-only for the plan)")
    else:
        lines.append("routing: inventory order, no probe")
    rollout = plan.rollout
    if rollout.stop_on_failure:
        lines.append(f"rollout: {rollout.serial} host(s) at a time, stop at the first failed host")
    elif rollout.serial:
        lines.append(f"rollout: batches of {rollout.serial}, error budget {rollout.max_failures}")
    elif rollout.throttle:
        lines.append(f"parallel: at most {rollout.throttle} host(s) at once")
    lines.append(f"hosts: {', '.join(plan.hosts)}")
    if plan.wake:
        after = "left running (keep_awake)" if plan.keep_awake else "returned to their former state after the run"
        verb = "would be" if plan.dry_run else "are"
        lines.append(
            f"wake: {len(plan.wake)} VM(s) not running {verb} started for the run and {after}: {', '.join(plan.wake)}"
        )
    if plan.kind == "workflow":
        for i, layer in enumerate(layers, 1):
            lines.append(f"layer {i}:")
            for name in layer:
                lines.append(f"  {name}: {_describe_step(steps[name])}")
        barriers = ", ".join(plan.barriers)
        lines.append(
            f"hosts wait for each other only at fleet-wide steps: {barriers}"
            if barriers
            else "each host runs its steps as soon as their requires succeeded there (no barrier)"
        )
        if wf.handlers:
            lines.append("on_failure steps: " + ", ".join(sorted(wf.handlers)))
    if plan.dry_run:
        lines.append("dry run: nothing runs on any host")
    return lines


def _describe_step(step: Any) -> str:
    extras = []
    if step.requires:
        extras.append("requires " + ", ".join(step.requires))
    if step.when:
        extras.append(f"when {step.when}")
    if step.fleet_wide:
        extras.append("fleet-wide barrier")
    if step.throttle:
        extras.append(f"at most {step.throttle} host(s) at once")
    if step.on_failure:
        extras.append(f"on_failure {step.on_failure}")
    if step.continue_on_error:
        extras.append("continue_on_error")
    what = step.command or f"script {step.script}"
    return what + (f"  [{'; '.join(extras)}]" if extras else "")
