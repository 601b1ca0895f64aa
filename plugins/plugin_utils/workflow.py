# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The workflow schema: parse and validate workflow YAML, order steps, and decide each step's state per host.

This is the one definition of a workflow. ``docs/workflow-schema.json`` documents it, the ``workflow_plan``
action validates with it before any host connects, and the ``run_step`` action asks it, per host, whether a
step may start. A plain ``azlin.fleet.run`` is a one-step workflow and uses the same decisions.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import (
    FleetError,
    FleetUsageError,
    FleetValidationError,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import evaluate_gate, parse_gate

StepStatus = Literal["ok", "failed", "timeout", "unreachable", "ignored", "blocked", "skipped", "not_started"]
Action = Literal["run", "blocked", "skipped", "not_started", "wait"]

#: Statuses that let dependents start. ``ignored`` is a failure of a ``continue_on_error`` step.
SATISFIED: frozenset[str] = frozenset({"ok", "ignored"})
#: Statuses that fail the run.
FAILED: frozenset[str] = frozenset({"failed", "timeout", "unreachable", "blocked", "not_started"})
ALL_STATUSES: frozenset[str] = frozenset(
    {"ok", "failed", "timeout", "unreachable", "ignored", "blocked", "skipped", "not_started"}
)

TOP_KEYS = ("version", "name", "description", "targets", "defaults", "steps")
STEP_KEYS = (
    "name", "command", "script", "requires", "when", "timeout", "retries", "continue_on_error", "on_failure",
    "fleet_wide", "sequence", "health", "env", "become", "chdir",
)
#: azlin's older format, mapped onto the canonical keys (``parallel`` is handled on its own).
LEGACY_KEYS = {"depends_on": "requires", "condition": "when", "retry_on_failure": "retries"}
DEFAULT_KEYS = ("timeout", "retries", "continue_on_error", "become", "env", "chdir", "when")
HEALTH_KEYS = ("command", "url", "port", "host", "status", "interval", "timeout", "successes")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True, slots=True)
class Health:
    """How to tell a host is healthy after a step: one probe kind, polled until enough successes in a row."""

    command: str | None = None
    url: str | None = None
    port: int | None = None
    host: str = "127.0.0.1"
    status: int = 200
    interval: float = 2.0
    timeout: float = 60.0
    successes: int = 1


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a workflow, with defaults applied."""

    name: str
    command: str | None = None
    script: str | None = None
    requires: tuple[str, ...] = ()
    when: str | None = None
    timeout: int | None = None
    retries: int = 0
    continue_on_error: bool = False
    on_failure: str | None = None
    fleet_wide: bool = False
    sequence: int | None = None
    health: Health | None = None
    env: dict[str, str] = field(default_factory=dict)
    become: bool = False
    chdir: str | None = None


@dataclass(frozen=True, slots=True)
class Workflow:
    """A validated workflow: ``steps`` in file order; ``handlers`` are the steps only run as ``on_failure``."""

    name: str
    steps: tuple[Step, ...]
    targets: str | None = None
    description: str = ""

    def step(self, name: str) -> Step:
        """Return the step called ``name``."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def handlers(self) -> frozenset[str]:
        """Names of steps that run only when another step fails (its ``on_failure``)."""
        return frozenset(s.on_failure for s in self.steps if s.on_failure)


@dataclass(frozen=True, slots=True)
class Decision:
    """What a host does with a step now: ``run`` it, record a status without running, or ``wait`` for others."""

    step: str
    action: Action
    reason: str = ""
    cause: str | None = None  # the failed step at the root of a block, named in the report


# ---------------------------------------------------------------------------------------------------------------
# Loading and validation


def load_workflow_text(text: str, source: str = "<inline>") -> Workflow:
    """Parse workflow YAML text; every problem is reported at once, located by path and line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(ex, "problem", None) or str(ex)
        raise FleetValidationError(
            f"Workflow {source!r}",
            [FleetUsageError("Invalid YAML", str(problem), "Fix the YAML syntax.", where)],
        ) from None
    lines: dict[str, int] = {}
    if root is not None:
        _index_lines(root, "", lines)
    return parse_workflow(data, source, lines)


def _index_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}" if path else str(key.value)
            lines[child] = key.start_mark.line + 1
            _index_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, f"{path}[{i}]", lines)


class _Problems:
    """Collects located problems; nothing is raised until the whole file has been read."""

    def __init__(self, source: str, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = lines
        self.items: list[FleetError] = []

    def add(self, path: str, subject: str, reason: str, hint: str = "") -> None:
        probe = path
        line = self.lines.get(probe)
        while line is None and probe:
            probe_up = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
            if probe_up == probe:
                break
            probe = probe_up
            line = self.lines.get(probe)
        location = f"{self.source}:{line}" if line else self.source
        self.items.append(FleetUsageError(subject, reason, hint, f"{location} ({path or 'top level'})"))


def parse_workflow(data: Any, source: str = "<inline>", lines: Mapping[str, int] | None = None) -> Workflow:
    """Validate a workflow given as plain data (canonical or azlin's older format) and return it.

    Raises ``FleetValidationError`` listing every problem: unknown keys, wrong types, duplicate names, unknown
    dependencies, cycles (as a path), bad gate expressions and misused ``on_failure`` steps.
    """
    problems = _Problems(source, lines or {})
    if not isinstance(data, Mapping):
        problems.add("", "Workflow", f"expected a mapping with 'steps', got {_kind(data)}",
                     "Start the file with 'name:' and 'steps:'.")
        raise FleetValidationError(f"Workflow {source!r}", problems.items)
    for key in data:
        if key not in TOP_KEYS:
            problems.add(str(key), f"Key {key!r}", "unknown top-level key", f"Use one of: {', '.join(TOP_KEYS)}.")
    name = data.get("name", source)
    if not isinstance(name, str) or not name:
        problems.add("name", "Workflow name", f"expected a non-empty string, got {_kind(name)}")
        name = source
    if "version" in data and data["version"] != 1:
        problems.add("version", "Workflow version", f"unsupported version {data['version']!r}", "Use version: 1.")
    targets = _parse_targets(data.get("targets"), problems)
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.add("description", "Workflow description", f"expected a string, got {_kind(description)}")
        description = ""
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        problems.add("defaults", "Workflow defaults", f"expected a mapping, got {_kind(defaults)}")
        defaults = {}
    for key in defaults:
        if key not in DEFAULT_KEYS:
            problems.add(f"defaults.{key}", f"Default {key!r}", "not a key that can have a default",
                         f"Use one of: {', '.join(DEFAULT_KEYS)}.")
    raw_steps = data.get("steps")
    steps: list[Step] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.add("steps", "Workflow steps", f"expected a non-empty list of steps, got {_kind(raw_steps)}")
    else:
        for i, raw in enumerate(raw_steps):
            step = _parse_step(raw, f"steps[{i}]", defaults, problems)
            if step is not None:
                steps.append(step)
    _check_graph(steps, raw_steps if isinstance(raw_steps, list) else [], problems)
    if problems.items:
        raise FleetValidationError(f"Workflow {source!r}", problems.items)
    return Workflow(name=name, steps=tuple(steps), targets=targets, description=description)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {bool: "a boolean", int: "a number", float: "a number", str: f"the string {value!r}",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _parse_targets(value: Any, problems: _Problems) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return ":".join(value)
    problems.add("targets", "Workflow targets", f"expected a host pattern or a list of them, got {_kind(value)}")
    return None


def _step_label(raw: Mapping[str, Any], path: str) -> str:
    name = raw.get("name")
    return f"Step {name!r}" if isinstance(name, str) and name else f"Step {path}"


def _parse_step(raw: Any, path: str, defaults: Mapping[str, Any], problems: _Problems) -> Step | None:
    if not isinstance(raw, Mapping):
        problems.add(path, f"Step {path}", f"expected a mapping, got {_kind(raw)}")
        return None
    label = _step_label(raw, path)
    values: dict[str, Any] = {k: v for k, v in defaults.items() if k in DEFAULT_KEYS}
    for key, value in raw.items():
        if key in STEP_KEYS:
            if key in values and key not in defaults:
                problems.add(f"{path}.{key}", label, f"{key!r} is given twice (also by its older name)",
                             "Keep one of them.")
            values[key] = value
        elif key in LEGACY_KEYS:
            canonical = LEGACY_KEYS[key]
            if canonical in raw:
                problems.add(f"{path}.{key}", label, f"both {key!r} and {canonical!r} are given", "Keep one of them.")
            values[canonical] = _legacy_retries(value) if key == "retry_on_failure" else value
        elif key == "parallel":
            sequence = _legacy_parallel(value)
            if sequence is False:
                problems.add(f"{path}.parallel", label, f"'parallel' must be a boolean or a positive number, "
                             f"got {_kind(value)}")
            elif sequence is not None and "sequence" not in raw:
                values["sequence"] = sequence
        else:
            problems.add(f"{path}.{key}", label, f"unknown key {key!r}", f"Use one of: {', '.join(STEP_KEYS)}.")

    def check(key: str, ok: bool, expected: str) -> bool:
        if key in values and not ok:
            problems.add(f"{path}.{key}", label, f"{key!r} must be {expected}, got {_kind(values[key])}")
            values.pop(key)
            return False
        return True

    name = values.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        problems.add(f"{path}.name", label, f"'name' must be a word of letters, digits, '_', '.' or '-', "
                     f"got {_kind(name)}", "Give every step a unique name.")
        return None
    given = [k for k in ("command", "script") if k in values]
    for key in given:
        check(key, isinstance(values[key], str) and bool(values[key].strip()), "a non-empty string")
    if len(given) != 1:
        problems.add(path, label, "needs exactly one of 'command' or 'script'",
                     "Add 'command: ...'." if not given else "Keep one of them.")
    requires = values.get("requires", [])
    if isinstance(requires, str):
        requires = [requires]
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        problems.add(f"{path}.requires", label, f"'requires' must be a step name or a list of them, "
                     f"got {_kind(values.get('requires'))}")
        requires = []
    when = values.get("when")
    if when is not None:
        if not isinstance(when, str):
            problems.add(f"{path}.when", label, f"'when' must be a gate expression string, got {_kind(when)}")
            when = None
        else:
            try:
                parse_gate(when)
            except FleetError as ex:
                problems.add(f"{path}.when", label, f"bad gate {when!r}: {ex.message}")
                when = None
    check("timeout", _is_int(values.get("timeout")) and values.get("timeout", 0) > 0, "a positive number of seconds")
    check("retries", _is_int(values.get("retries")) and values.get("retries", 0) >= 0, "a number >= 0")
    check("sequence", _is_int(values.get("sequence")) and values.get("sequence", 0) >= 1, "a number >= 1")
    for flag in ("continue_on_error", "fleet_wide", "become"):
        check(flag, isinstance(values.get(flag), bool), "true or false")
    check("on_failure", isinstance(values.get("on_failure"), str), "a step name")
    check("chdir", isinstance(values.get("chdir"), str), "a directory path")
    env = values.get("env", {})
    if not isinstance(env, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (str, int, float, bool)) for k, v in env.items()
    ):
        problems.add(f"{path}.env", label, f"'env' must map variable names to strings, got {_kind(env)}")
        env = {}
    health = _parse_health(values.get("health"), f"{path}.health", label, problems)
    return Step(
        name=name,
        command=values.get("command"),
        script=values.get("script"),
        requires=tuple(requires),
        when=when,
        timeout=values.get("timeout"),
        retries=values.get("retries", 0),
        continue_on_error=values.get("continue_on_error", False),
        on_failure=values.get("on_failure"),
        fleet_wide=values.get("fleet_wide", False),
        sequence=values.get("sequence"),
        health=health,
        env={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in env.items()},
        become=values.get("become", False),
        chdir=values.get("chdir"),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _legacy_retries(value: Any) -> Any:
    if value is True:
        return 1
    if value is False:
        return 0
    return value


def _legacy_parallel(value: Any) -> int | None | Literal[False]:
    """azlin's ``parallel``: true = all hosts at once, false = one at a time, N = batches of N."""
    if value is True:
        return None
    if value is False:
        return 1
    if _is_int(value) and value >= 1:
        return value
    return False


def _parse_health(value: Any, path: str, label: str, problems: _Problems) -> Health | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.add(path, label, f"'health' must be a mapping with command, url or port, got {_kind(value)}")
        return None
    ok = True
    for key in value:
        if key not in HEALTH_KEYS:
            problems.add(f"{path}.{key}", label, f"unknown health key {key!r}",
                         f"Use one of: {', '.join(HEALTH_KEYS)}.")
            ok = False
    kinds = [k for k in ("command", "url", "port") if value.get(k) is not None]
    if len(kinds) != 1:
        problems.add(path, label, "'health' needs exactly one of command, url or port")
        ok = False
    numbers = {"interval": (float, 0.0), "timeout": (float, 0.0), "successes": (int, 0), "status": (int, 99),
               "port": (int, 0)}
    for key, (kind, low) in numbers.items():
        if key in value:
            v = value[key]
            valid = (_is_int(v) or (kind is float and isinstance(v, float))) and v > low
            if key == "port":
                valid = valid and v < 65536
            if not valid:
                problems.add(f"{path}.{key}", label, f"health {key!r} must be a positive number, got {_kind(v)}")
                ok = False
    for key in ("command", "url", "host"):
        if key in value and not isinstance(value[key], str):
            problems.add(f"{path}.{key}", label, f"health {key!r} must be a string, got {_kind(value[key])}")
            ok = False
    return Health(**{k: v for k, v in value.items() if k in HEALTH_KEYS}) if ok else None


def _check_graph(steps: list[Step], raw_steps: list[Any], problems: _Problems) -> None:
    """Duplicate names, unknown dependencies and on_failure targets, misused handlers, cycles."""
    index: dict[str, int] = {}
    for i, raw in enumerate(raw_steps):
        name = raw.get("name") if isinstance(raw, Mapping) else None
        if isinstance(name, str) and name:
            if name in index:
                problems.add(f"steps[{i}].name", f"Step {name!r}",
                             f"duplicate name (first defined at steps[{index[name]}])",
                             "Give every step a unique name.")
            else:
                index[name] = i
    names = {s.name for s in steps}
    handlers = {s.on_failure for s in steps if s.on_failure}
    by_name = {s.name: s for s in steps}
    for step in steps:
        i = index.get(step.name, 0)
        key = "requires" if _has_key(raw_steps, i, "requires") else "depends_on"
        for dep in step.requires:
            if dep not in names:
                hint = _suggest(dep, names)
                problems.add(f"steps[{i}].{key}", f"Step {step.name!r}", f"requires unknown step {dep!r}", hint)
            elif dep == step.name:
                problems.add(f"steps[{i}].{key}", f"Step {step.name!r}", "requires itself", "Remove it.")
            elif dep in handlers:
                problems.add(f"steps[{i}].{key}", f"Step {step.name!r}",
                             f"requires {dep!r}, which is an on_failure step and only runs when another step fails",
                             "Require a regular step.")
        if step.on_failure is not None:
            if step.on_failure not in names:
                problems.add(f"steps[{i}].on_failure", f"Step {step.name!r}",
                             f"on_failure names unknown step {step.on_failure!r}", _suggest(step.on_failure, names))
            elif step.on_failure == step.name:
                problems.add(f"steps[{i}].on_failure", f"Step {step.name!r}", "on_failure names the step itself",
                             "Name a separate clean-up step.")
            elif by_name[step.on_failure].on_failure or by_name[step.on_failure].requires:
                problems.add(f"steps[{i}].on_failure", f"Step {step.name!r}",
                             f"on_failure step {step.on_failure!r} has its own requires or on_failure",
                             "An on_failure step runs alone on the failed host; remove its requires/on_failure.")
    for cycle in _find_cycles({s.name: [d for d in s.requires if d in names and d != s.name] for s in steps}):
        i = index.get(cycle[0], 0)
        key = "requires" if _has_key(raw_steps, i, "requires") else "depends_on"
        problems.add(f"steps[{i}].{key}", "Dependency cycle", " -> ".join(cycle),
                     "Remove one of these requires so the steps can be ordered.")
    regular = [s for s in steps if s.name not in handlers]
    if steps and not regular:
        problems.add("steps", "Workflow steps", "every step is an on_failure step, so nothing would run")


def _has_key(raw_steps: list[Any], i: int, key: str) -> bool:
    return i < len(raw_steps) and isinstance(raw_steps[i], Mapping) and key in raw_steps[i]


def _suggest(name: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(names), n=1)
    return f"Did you mean {close[0]!r}?" if close else f"Known steps: {', '.join(sorted(names)) or 'none'}."


def _find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle path per strongly connected component, e.g. ``['a', 'b', 'a']``; deterministic."""
    color: dict[str, int] = {}
    stack: list[str] = []
    seen_sets: set[frozenset[str]] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        color[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if color.get(dep, 0) == 0:
                visit(dep)
            elif color.get(dep) == 1:
                path = stack[stack.index(dep):] + [dep]
                key = frozenset(path)
                if not any(key <= s or s <= key for s in seen_sets):
                    seen_sets.add(key)
                    cycles.append(path)
        stack.pop()
        color[node] = 2

    for node in graph:
        if color.get(node, 0) == 0:
            visit(node)
    return cycles


# ---------------------------------------------------------------------------------------------------------------
# Order and plan


def layer_steps(workflow: Workflow) -> list[list[str]]:
    """Regular steps in dependency layers: each layer needs only steps of earlier layers; file order inside."""
    handlers = workflow.handlers
    regular = [s for s in workflow.steps if s.name not in handlers]
    depth: dict[str, int] = {}
    remaining = list(regular)
    while remaining:
        progressed = []
        for step in remaining:
            if all(d in depth for d in step.requires):
                depth[step.name] = 1 + max((depth[d] for d in step.requires), default=-1)
                progressed.append(step)
        if not progressed:  # parse_workflow rejects cycles; this guards direct construction
            raise FleetUsageError("Workflow", "the steps cannot be ordered (dependency cycle)")
        remaining = [s for s in remaining if s not in progressed]
    layers: list[list[str]] = [[] for _layer in range(max(depth.values(), default=-1) + 1)]
    for step in regular:
        layers[depth[step.name]].append(step.name)
    return layers


def order_steps(workflow: Workflow) -> list[str]:
    """The order the playbook runs regular steps in: layer by layer."""
    return [name for layer in layer_steps(workflow) for name in layer]


def plan_workflow(workflow: Workflow, hosts: Sequence[str] = ()) -> dict[str, Any]:
    """A JSON-ready execution plan: layers, the ordered steps (as canonical dicts), handlers and targets."""
    order = order_steps(workflow)
    return {
        "version": 1,
        "name": workflow.name,
        "targets": workflow.targets,
        "hosts": sorted(hosts),
        "layers": layer_steps(workflow),
        "order": order,
        "handlers": sorted(workflow.handlers),
        "steps": [step_to_dict(workflow.step(n)) for n in order],
        "workflow": workflow_to_dict(workflow),
    }


def resolve_scripts(workflow: Workflow, base: Path) -> Workflow:
    """Make each step's ``script`` an absolute path (relative to ``base``); a missing script is a problem."""
    problems: list[FleetError] = []
    steps = []
    for i, step in enumerate(workflow.steps):
        if step.script is not None:
            path = (base / step.script).resolve()
            if not path.is_file():
                problems.append(FleetUsageError(f"Step {step.name!r}", f"script {str(path)!r} does not exist",
                                                "Give the script path relative to the workflow file.",
                                                f"steps[{i}].script"))
            step = replace(step, script=str(path))
        steps.append(step)
    if problems:
        raise FleetValidationError(f"Workflow {workflow.name!r}", problems)
    return replace(workflow, steps=tuple(steps))


def step_to_dict(step: Step) -> dict[str, Any]:
    """The canonical form of a step (parse_workflow reads it back unchanged)."""
    data = asdict(step)
    data["requires"] = list(step.requires)
    if step.health is None:
        data.pop("health")
    else:
        data["health"] = {k: v for k, v in data["health"].items() if v is not None}
    return {k: v for k, v in data.items() if v is not None}


def workflow_to_dict(workflow: Workflow) -> dict[str, Any]:
    """The canonical form of a workflow (parse_workflow reads it back unchanged)."""
    data: dict[str, Any] = {"version": 1, "name": workflow.name}
    if workflow.targets:
        data["targets"] = workflow.targets
    if workflow.description:
        data["description"] = workflow.description
    data["steps"] = [step_to_dict(s) for s in workflow.steps]
    return data


def render_plan(plan: Mapping[str, Any], gates: Mapping[str, str] | None = None) -> list[str]:
    """Lines describing a plan for a dry run: layers in dependency order, each step's gate, targets."""
    lines = [f"workflow {plan['name']!r}: {len(plan['order'])} step(s) in {len(plan['layers'])} layer(s)"]
    lines.append(f"targets: {plan.get('targets') or '(from fleet_targets)'}")
    if plan.get("hosts"):
        lines.append(f"hosts: {', '.join(plan['hosts'])}")
    steps = {s["name"]: s for s in plan["steps"]}
    for i, layer in enumerate(plan["layers"], 1):
        lines.append(f"layer {i}:")
        for name in layer:
            step = steps[name]
            extras = []
            if step.get("requires"):
                extras.append("requires " + ", ".join(step["requires"]))
            if step.get("when"):
                extras.append(f"when {step['when']}")
            if step.get("fleet_wide"):
                extras.append("fleet-wide barrier")
            if step.get("sequence"):
                extras.append(f"{step['sequence']} host(s) at a time")
            if step.get("on_failure"):
                extras.append(f"on_failure {step['on_failure']}")
            if step.get("continue_on_error"):
                extras.append("continue_on_error")
            what = step.get("command") or f"script {step.get('script')}"
            lines.append(f"  {name}: {what}" + (f"  [{'; '.join(extras)}]" if extras else ""))
    if plan.get("handlers"):
        lines.append("on_failure steps: " + ", ".join(plan["handlers"]))
    return lines


# ---------------------------------------------------------------------------------------------------------------
# Per-host decisions

#: ``states[host][step] = {"status": ..., "reason": ..., "cause": ...}`` -- what the playbook records per host.
States = Mapping[str, Mapping[str, Mapping[str, Any]]]


def decide_step(workflow: Workflow, step_name: str, host: str, states: States) -> Decision:
    """Decide whether ``step_name`` may start on ``host`` now, given every host's recorded step states.

    A step runs only when each of its ``requires`` is satisfied (ok, or failed with continue_on_error) on this
    host; a fleet-wide dependency must be satisfied on every host. Otherwise the step is ``blocked`` (naming the
    failed dependency), ``skipped`` (a dependency was skipped by its gate) or must ``wait``.
    """
    step = workflow.step(step_name)
    mine = states.get(host, {})
    for dep in step.requires:
        dep_state = mine.get(dep)
        if dep_state is None:
            return Decision(step_name, "wait", f"waiting for {dep!r} on this host")
        status = dep_state["status"]
        if status == "skipped":
            return Decision(step_name, "skipped", f"requires {dep!r}, which was skipped on this host")
        if status not in SATISFIED:
            cause = dep_state.get("cause") or dep
            why = f"which {_describe(status)} on this host"
            if cause != dep:
                why += f" (root cause: {cause!r} failed)"
            return Decision(step_name, "blocked", f"requires {dep!r}, {why}", cause)
        if workflow.step(dep).fleet_wide:
            missing = sorted(h for h in states if dep not in states[h])
            if missing:
                return Decision(step_name, "wait", f"waiting for fleet-wide {dep!r} on {', '.join(missing)}")
            bad = sorted(h for h in states if states[h][dep]["status"] not in SATISFIED)
            if bad:
                return Decision(step_name, "blocked",
                                f"requires fleet-wide step {dep!r}, which did not succeed on {', '.join(bad)}", dep)
    return Decision(step_name, "run")


def _describe(status: str) -> str:
    return {"failed": "failed", "timeout": "timed out", "unreachable": "found the host unreachable",
            "blocked": "was blocked", "not_started": "was not started"}.get(status, status)


def record_status(step: Step, status: str, reason: str = "", cause: str | None = None) -> dict[str, Any]:
    """The state entry for a finished step; a failure of a continue_on_error step becomes ``ignored``."""
    if status not in ALL_STATUSES:
        raise ValueError(f"unknown step status {status!r}")
    if step.continue_on_error and status in {"failed", "timeout", "unreachable"}:
        reason = f"{status} (continue_on_error: dependents continue)" + (f": {reason}" if reason else "")
        status = "ignored"
    entry: dict[str, Any] = {"status": status, "reason": reason}
    if status in {"failed", "timeout", "unreachable"}:
        entry["cause"] = step.name
    elif cause:
        entry["cause"] = cause
    return entry


def failed_steps(states: States) -> dict[str, list[str]]:
    """Host -> steps that failed the run there (sorted); empty when the run succeeded."""
    out: dict[str, list[str]] = {}
    for host in sorted(states):
        bad = sorted(s for s, e in states[host].items() if e["status"] in FAILED)
        if bad:
            out[host] = bad
    return out


#: How a host's failed steps summarise, worst first: the report shows not-started hosts as not started.
OUTCOME_ORDER = ("failed", "timeout", "unreachable", "blocked", "not_started")


def judge_host(steps: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """(status, reason) of one host after a run: ``ok``, or the worst failure with every failed step named."""
    if not steps:
        return "not_started", "no step was recorded on this host"
    bad = sorted((n, e) for n, e in steps.items() if e["status"] in FAILED)
    if not bad:
        return "ok", f"{len(steps)} step(s) ok or skipped"
    worst = min((e["status"] for _name, e in bad), key=OUTCOME_ORDER.index)
    return worst, "; ".join(f"{n} {e['status']}" + (f": {e['reason']}" if e.get("reason") else "") for n, e in bad)


# ---------------------------------------------------------------------------------------------------------------
# Rollouts (azlin.fleet.run and steps with ``sequence``)


def parse_budget(value: Any, what: str = "max_failures") -> tuple[int, bool] | None:
    """Parse an error budget ``N`` or ``"N%"`` into (number, is_percent); None/empty means no budget."""
    if value is None or value == "":
        return None
    if _is_int(value) and value >= 0:
        return value, False
    if isinstance(value, str):
        text = value.strip()
        match = re.fullmatch(r"(\d+)(%?)", text)
        if match and (not match.group(2) or int(match.group(1)) <= 100):
            return int(match.group(1)), bool(match.group(2))
    raise FleetUsageError(f"Invalid {what} {value!r}", "expected a number of hosts or a percentage such as '10%'",
                          f"Write {what} as N (e.g. 2) or N% (e.g. 25%).")


def budget_limit(budget: tuple[int, bool] | None, host_count: int) -> int | None:
    """How many failed hosts the budget tolerates for ``host_count`` hosts (N% rounds down)."""
    if budget is None:
        return None
    number, percent = budget
    return (number * host_count) // 100 if percent else number


def decide_start(host: str, hosts: Sequence[str], outcomes: Mapping[str, str], *, max_failures: int | None,
                 stop_on_failure: bool) -> Decision:
    """Decide whether ``host`` may start in a rollout, given the outcomes (status per host) so far.

    ``stop_on_failure`` (a rolling ``sequence``) stops at the first failed host; ``max_failures`` is the error
    budget: once more hosts than that failed, no further host starts. Either way the host is ``not_started``.
    """
    failed = sorted((h for h in hosts if outcomes.get(h) in FAILED - {"not_started"}), key=list(hosts).index)
    if stop_on_failure and failed:
        return Decision("run", "not_started", f"rollout stopped after {failed[0]!r} failed ({outcomes[failed[0]]})",
                        failed[0])
    if max_failures is not None and len(failed) > max_failures:
        return Decision("run", "not_started", f"error budget exhausted: {len(failed)} host(s) failed "
                        f"({', '.join(failed)}), max_failures is {max_failures}", failed[0])
    return Decision("run", "run")


def batches(hosts: Sequence[str], size: int | None) -> list[list[str]]:
    """Split hosts (already in dispatch order) into rollout batches of ``size`` (None: one batch)."""
    if not size:
        return [list(hosts)] if hosts else []
    return [list(hosts[i:i + size]) for i in range(0, len(hosts), size)]


# ---------------------------------------------------------------------------------------------------------------
# Running a step on one host (the run_step action supplies the I/O)

#: Runs one module on the host: (module name, args) -> result dict; ``{"unreachable": True}`` on connection loss.
Execute = Callable[[str, dict[str, Any]], Mapping[str, Any]]
#: Exit codes of coreutils ``timeout``: 124 after TERM, 137 when ``--kill-after`` had to KILL.
TIMEOUT_RCS = frozenset({124, 137})
MAX_RETRY_DELAY = 60.0


def build_argv(step: Step, script_text: str | None = None) -> tuple[list[str], str | None]:
    """The argv (and stdin) that runs a step on the host, under ``timeout`` when the step has a limit."""
    if step.script is not None:
        text = script_text or ""
        first = text.splitlines()[0] if text else ""
        argv = first[2:].split() if first.startswith("#!") else ["/bin/sh"]
        stdin: str | None = text
    else:
        argv, stdin = ["/bin/sh", "-c", step.command or ""], None
    if step.timeout:
        argv = ["timeout", "--kill-after=5", str(step.timeout), *argv]
    return argv, stdin


def retry_delay(attempt: int, base: float) -> float:
    """Backoff before retry number ``attempt`` (1-based): base, 2*base, 4*base ... at most 60 s."""
    return min(base * (2 ** (attempt - 1)), MAX_RETRY_DELAY)


def classify_attempt(step: Step, result: Mapping[str, Any]) -> tuple[str, str]:
    """(status, reason) of one command attempt."""
    if result.get("unreachable"):
        return "unreachable", f"host unreachable: {result.get('msg', '')}".strip()
    rc = result.get("rc")
    if step.timeout and rc in TIMEOUT_RCS:
        return "timeout", f"killed after the {step.timeout}s timeout"
    if result.get("failed") or rc not in (0, None):
        return "failed", f"exit code {rc}" if isinstance(rc, int) else str(result.get("msg", "failed"))
    return "ok", ""


def health_args(health: Health) -> dict[str, Any]:
    """Arguments of the health_check module for a step's health settings."""
    args: dict[str, Any] = {"interval": health.interval, "timeout": health.timeout, "successes": health.successes}
    if health.command is not None:
        args["command"] = health.command
    elif health.url is not None:
        args.update(url=health.url, status=health.status)
    else:
        args.update(port=health.port, host=health.host)
    return args


def evaluate_when(gate: str, metrics: Mapping[str, Any]) -> tuple[bool, str]:
    """Judge a step's ``when`` gate on a host's probe metrics: (passes, why not)."""
    verdict = evaluate_gate(parse_gate(gate), dict(metrics))
    return verdict.passed, "; ".join(verdict.reasons)


def run_step(
    workflow_data: Mapping[str, Any], step_name: str, host: str, hosts: Sequence[str], states: States, *,
    execute: Execute, sleep: Callable[[float], None],
    judge_when: Callable[[str, Mapping[str, Any]], tuple[bool, str]] = evaluate_when, trigger: str | None = None,
    stop_on_failure: bool = False, max_failures: Any = None, base_delay: float = 2.0, script_text: str | None = None,
) -> dict[str, Any]:
    """Decide and, if allowed, run one step on one host; return the task result (with ``fleet_*`` keys).

    ``judge_when(gate, metrics) -> (passes, reason)`` judges a step's ``when`` gate on fresh probe metrics.
    """
    workflow = parse_workflow(workflow_data)
    step = workflow.step(step_name)
    mine = {k: dict(v) for k, v in states.get(host, {}).items()}
    if trigger is not None:
        decision = Decision(step_name, "run", f"on_failure of {trigger!r}")
    else:
        decision = decide_step(workflow, step_name, host, states)
        if decision.action == "run" and (stop_on_failure or max_failures not in (None, "")):
            outcomes = {h: states[h][step_name]["status"] for h in hosts if step_name in states.get(h, {})}
            limit = budget_limit(parse_budget(max_failures), len(hosts))
            decision = decide_start(host, hosts, outcomes, max_failures=limit, stop_on_failure=stop_on_failure)
            decision = Decision(step_name, decision.action, decision.reason, decision.cause)
    if decision.action == "wait":
        raise FleetUsageError(f"Step {step_name!r}", f"started on {host!r} before its dependencies finished "
                              f"({decision.reason})", "Run the steps in the order of the workflow plan.")
    result: dict[str, Any] = {"changed": False, "failed": False, "fleet_step": step_name, "fleet_attempts": 0}
    if decision.action != "run":
        mine[step_name] = record_status(step, decision.action, decision.reason, decision.cause)
        return _finish(result, mine, step_name)
    if step.when:
        probe = execute("azlin.fleet.fleet_probe", {})
        if probe.get("unreachable") or probe.get("failed"):
            passes, why = False, f"unmeasurable: {probe.get('msg', 'probe failed')}"
        else:
            passes, why = judge_when(step.when, probe.get("metrics", probe))
        if not passes:
            mine[step_name] = record_status(step, "skipped", f"gate {step.when!r} not met: {why}")
            result["fleet_report_status"] = "gated"
            return _finish(result, mine, step_name)
    argv, stdin = build_argv(step, script_text)
    module_args: dict[str, Any] = {"argv": argv}
    if stdin is not None:
        module_args["stdin"] = stdin
    if step.chdir:
        module_args["chdir"] = step.chdir
    status, reason, last = "failed", "", {}
    for attempt in range(1, step.retries + 2):
        if attempt > 1:
            sleep(retry_delay(attempt - 1, base_delay))
        last = execute("ansible.builtin.command", module_args)
        result["fleet_attempts"] = attempt
        status, reason = classify_attempt(step, last)
        if status == "ok":
            break
    if status == "ok" and step.health is not None:
        check = execute("azlin.fleet.health_check", health_args(step.health))
        if check.get("unreachable") or check.get("failed"):
            status, reason = "failed", f"unhealthy: {check.get('msg', 'health check failed')}"
            result["fleet_health"] = {
                k: check[k] for k in ("healthy", "probes", "elapsed", "last", "msg") if k in check
            }
    if trigger is not None:
        reason = f"on_failure of {trigger!r}" + (f"; {reason}" if reason else "")
    if result["fleet_attempts"] > 1 and status == "ok":
        reason = f"succeeded on attempt {result['fleet_attempts']}"
    for key in ("rc", "stdout", "stderr", "cmd", "delta", "start", "end"):
        if key in last:
            result[key] = last[key]
    if last.get("unreachable"):
        result["msg"] = last.get("msg", "")
    result["changed"] = True
    mine[step_name] = record_status(step, status, reason)
    return _finish(result, mine, step_name)


def _finish(result: dict[str, Any], mine: dict[str, Any], step_name: str) -> dict[str, Any]:
    entry = mine[step_name]
    status = entry["status"]
    # The report shows the raw failure of a continue_on_error step; the playbook marks it ignored.
    shown = result.pop("fleet_report_status", None) or (
        entry["reason"].split(" ", 1)[0] if status == "ignored" else status
    )
    result.update(
        fleet_status=shown,
        fleet_reason=entry["reason"],
        fleet_states=mine,
        failed=status in {"failed", "timeout", "unreachable", "ignored"},
    )
    if result["failed"] and "msg" not in result:
        result["msg"] = f"step {step_name!r} {status}: {entry['reason']}"
    return result


# ---------------------------------------------------------------------------------------------------------------
# azlin.fleet.run: a one-step workflow built from the fleet_* variables

RUN_STEP = "run"
#: fleet_* variable -> key of the run step (health keys go under ``health``).
RUN_VARS = {
    "fleet_command": "command", "fleet_timeout": "timeout", "fleet_retries": "retries", "fleet_become": "become",
    "fleet_chdir": "chdir", "fleet_environment": "env",
}
HEALTH_VARS = {
    "fleet_health_cmd": "command", "fleet_health_url": "url", "fleet_health_port": "port",
    "fleet_health_status": "status", "fleet_health_interval": "interval", "fleet_health_timeout": "timeout",
    "fleet_health_successes": "successes",
}
#: Schema type of each run-step key that text input may spell (survey and ``-e key=value`` input arrives as
#: text). Keys not listed here (command, chdir, url, ...) are strings and are never converted.
RUN_TYPES = {"timeout": "int", "retries": "int", "become": "bool"}
HEALTH_TYPES = {"port": "int", "status": "int", "successes": "int", "interval": "number", "timeout": "number"}


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How azlin.fleet.run dispatches: ``serial`` batches (0 = all at once), ``throttle`` inside a batch."""

    serial: int | str = 0
    throttle: int = 0
    stop_on_failure: bool = False
    max_failures: int | str | None = None


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def run_workflow(values: Mapping[str, Any]) -> Workflow:
    """The one-step workflow an ``azlin.fleet.run`` is; problems name the fleet_* variable."""
    step: dict[str, Any] = {"name": RUN_STEP}
    for var, key in RUN_VARS.items():
        if not _unset(values.get(var)):
            step[key] = _coerce(values[var], RUN_TYPES.get(key, "str"))
    health = {
        key: _coerce(values[var], HEALTH_TYPES.get(key, "str"))
        for var, key in HEALTH_VARS.items()
        if not _unset(values.get(var))
    }
    if health:
        step["health"] = health
    if "command" not in step:
        raise FleetUsageError("fleet_command", "is missing", "Pass the command to run, e.g. -e fleet_command='uptime'.")
    try:
        return parse_workflow({"name": RUN_STEP, "steps": [step]}, "fleet_* variables")
    except FleetValidationError as ex:
        names = {f"steps[0].{k}": v for v, k in RUN_VARS.items()}
        names.update({f"steps[0].health.{k}": v for v, k in HEALTH_VARS.items()})
        names["steps[0].health"] = "fleet_health_*"
        problems = []
        for p in ex.problems:
            path = p.location.rsplit("(", 1)[-1].rstrip(")")
            var = names.get(path, path)
            problems.append(FleetUsageError(f"Invalid {var}", p.reason.replace("health ", ""), p.hint))
        raise FleetValidationError("Invalid fleet_* variables", problems) from None


def _coerce(value: Any, kind: str) -> Any:
    """Text that spells a value of the field's schema ``kind`` (int, number, bool) becomes that value.

    Survey and ``-e key=value`` input arrives as text. Only fields whose schema type is a number or a boolean
    are converted: a string field (``kind`` "str", e.g. the command ``true`` or ``42``) stays the string it is.
    """
    if not isinstance(value, str) or kind == "str":
        return value
    text = value.strip()
    if kind in ("int", "number") and re.fullmatch(r"\d+", text):
        return int(text)
    if kind == "number" and re.fullmatch(r"\d*\.\d+", text):
        return float(text)
    if kind == "bool" and text.lower() in ("true", "yes"):
        return True
    if kind == "bool" and text.lower() in ("false", "no"):
        return False
    return value


def run_settings(values: Mapping[str, Any], host_count: int, parse_parallel: Callable[[Any, int], int]) -> RunSettings:
    """Batches, throttle, stop rule and error budget of a run, from fleet_sequence/parallel/max_failures."""
    problems: list[FleetError] = []
    sequence = values.get("fleet_sequence")
    parallel = values.get("fleet_parallel")
    budget = values.get("fleet_max_failures")
    seq: int | None = None
    if not _unset(sequence) and sequence is not False:
        seq = 1 if sequence is True else _coerce(sequence, "int")
        if not _is_int(seq) or seq < 1:
            problems.append(FleetUsageError(f"Invalid fleet_sequence {sequence!r}", "expected a number of hosts >= 1",
                                            "Use fleet_sequence: 1 for one host at a time."))
    par = None
    if not _unset(parallel):
        try:
            par = parse_parallel(parallel, max(1, host_count))
        except FleetError as ex:
            problems.append(ex)
    try:
        parse_budget(None if _unset(budget) else budget)
    except FleetError as ex:
        problems.append(ex)
    if problems:
        raise FleetValidationError("Invalid fleet_* variables", problems) if len(problems) > 1 else problems[0]
    has_budget = not _unset(budget)
    if seq is not None:
        return RunSettings(serial=seq, throttle=0, stop_on_failure=True,
                           max_failures=budget if has_budget else None)
    if has_budget:
        # The budget is checked when a host starts, so hosts start in batches (of fleet_parallel, default 25%).
        return RunSettings(serial=par if par else "25%", throttle=0, max_failures=budget)
    return RunSettings(serial=0, throttle=par or 0)
