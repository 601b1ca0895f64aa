# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The workflow schema: parse and validate workflow YAML, order steps into layers and barrier segments.

This is the one definition of a workflow. ``docs/workflow-schema.json`` documents it, ``fleet_plan`` validates
with it before any host connects, and ``workflow_state`` and ``workflow_step`` decide and run its steps per
host. A plain ``azlin.fleet.run`` is a one-step workflow (``workflow_run``) and uses the same decisions.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import (
    FleetError,
    FleetUsageError,
    FleetValidationError,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import parse_gate

Action = Literal["run", "blocked", "skipped", "not_started", "wait"]

TOP_KEYS = ("version", "name", "description", "targets", "defaults", "steps")
STEP_KEYS = (
    "name",
    "command",
    "script",
    "requires",
    "when",
    "timeout",
    "retries",
    "continue_on_error",
    "on_failure",
    "fleet_wide",
    "throttle",
    "health",
    "env",
    "become",
    "chdir",
)
#: Deprecated step keys and their replacement (read with a warning).
DEPRECATED_KEYS = {"sequence": "throttle"}
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
    throttle: int | None = None  # at most this many hosts run the step at once (no barrier)
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
    warnings: tuple[str, ...] = ()  # deprecated spellings that were accepted

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


#: Limits that keep hostile input (a YAML alias bomb, a huge or deeply nested file) as cheap as a real workflow.
MAX_WORKFLOW_BYTES = 1 << 20
MAX_WORKFLOW_NODES = 50_000


def load_workflow_text(text: str, source: str = "<inline>", defaults: Mapping[str, Any] | None = None) -> Workflow:
    """Parse workflow YAML text; every problem is reported at once, located by path and line.

    ``defaults`` override the workflow's own ``defaults`` (the run flags); a step's own keys still win. Text over
    MAX_WORKFLOW_BYTES, or whose aliases expand to more than MAX_WORKFLOW_NODES nodes, is refused before it is
    walked. Errors never quote the text itself (the file may be anything a path names).
    """
    if len(text) > MAX_WORKFLOW_BYTES:
        raise FleetValidationError(
            f"Workflow {source!r}",
            [
                FleetUsageError(
                    "Workflow",
                    f"is {len(text)} bytes, more than the limit of {MAX_WORKFLOW_BYTES}",
                    "Split it, or check that the path names a workflow file.",
                    source,
                )
            ],
        )
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        size = _expanded_size(root, {}) if root is not None else 0
        if size > MAX_WORKFLOW_NODES:
            raise FleetValidationError(
                f"Workflow {source!r}",
                [
                    FleetUsageError(
                        "Workflow",
                        f"its aliases expand to more than {MAX_WORKFLOW_NODES} nodes",
                        "Write the steps out instead of nesting aliases.",
                        source,
                    )
                ],
            )
        data = yaml.safe_load(text)
    except RecursionError:
        raise FleetValidationError(
            f"Workflow {source!r}",
            [FleetUsageError("Workflow", "is nested too deeply", "Check that the path names a workflow file.", source)],
        ) from None
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(ex, "problem", None) or type(ex).__name__
        raise FleetValidationError(
            f"Workflow {source!r}",
            [FleetUsageError("Invalid YAML", str(problem), "Fix the YAML syntax.", where)],
        ) from None
    lines: dict[str, int] = {}
    if root is not None:
        _index_lines(root, "", lines)
    return parse_workflow(data, source, lines, defaults)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes the document has once every alias is expanded: O(distinct nodes), memoized by identity.

    A node reached again while it is being counted is a recursive alias: counted as over the limit.
    """
    key = id(node)
    if key in memo:
        return memo[key] if memo[key] >= 0 else MAX_WORKFLOW_NODES + 1
    memo[key] = -1
    total = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo) + _expanded_size(v, memo)
            if total > MAX_WORKFLOW_NODES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            total += _expanded_size(item, memo)
            if total > MAX_WORKFLOW_NODES:
                break
    memo[key] = total
    return total


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


def parse_workflow(
    data: Any,
    source: str = "<inline>",
    lines: Mapping[str, int] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Workflow:
    """Validate a workflow given as plain data (canonical or azlin's older format) and return it.

    Raises ``FleetValidationError`` listing every problem: unknown keys, wrong types, duplicate names, unknown
    dependencies, cycles (as a path), bad gate expressions and misused ``on_failure`` steps.
    """
    problems = _Problems(source, lines or {})
    if not isinstance(data, Mapping):
        problems.add(
            "",
            "Workflow",
            f"expected a mapping with 'steps', got {_kind(data)}",
            "Start the file with 'name:' and 'steps:'.",
        )
        raise FleetValidationError(f"Workflow {source!r}", problems.items)
    for key in data:
        if key not in TOP_KEYS:
            problems.add(
                _path_key(key), f"Key {_show_key(key)}", "unknown top-level key", f"Use one of: {', '.join(TOP_KEYS)}."
            )
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
    own_defaults = data.get("defaults") or {}
    if not isinstance(own_defaults, Mapping):
        problems.add("defaults", "Workflow defaults", f"expected a mapping, got {_kind(own_defaults)}")
        own_defaults = {}
    for key in own_defaults:
        if key not in DEFAULT_KEYS:
            problems.add(
                f"defaults.{key}",
                f"Default {key!r}",
                "not a key that can have a default",
                f"Use one of: {', '.join(DEFAULT_KEYS)}.",
            )
    step_defaults = {**own_defaults, **(defaults or {})}
    warnings: list[str] = []
    raw_steps = data.get("steps")
    steps: list[Step] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.add("steps", "Workflow steps", f"expected a non-empty list of steps, got {_kind(raw_steps)}")
    else:
        for i, raw in enumerate(raw_steps):
            step = _parse_step(raw, f"steps[{i}]", step_defaults, problems, warnings)
            if step is not None:
                steps.append(step)
    _check_graph(steps, raw_steps if isinstance(raw_steps, list) else [], problems)
    if problems.items:
        raise FleetValidationError(f"Workflow {source!r}", problems.items)
    return Workflow(name=name, steps=tuple(steps), targets=targets, description=description, warnings=tuple(warnings))


_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,39}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _show_key(key: Any) -> str:
    """An unknown key as an error may quote it: a word is shown, anything else (what a file such as
    /etc/shadow holds) is not."""
    return repr(key) if isinstance(key, str) and _KEY_RE.match(key) else "(a key that is not a name; not shown)"


def _path_key(key: Any) -> str:
    """An unknown key as a location path names it: itself when it is a word, else a placeholder."""
    return key if isinstance(key, str) and _KEY_RE.match(key) else "<key>"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str) and (len(value) > 40 or "\n" in value):
        return "a text of several lines" if "\n" in value else "a long string"  # never echo what a file holds
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: f"the string {value!r}",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


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


def _parse_step(
    raw: Any, path: str, defaults: Mapping[str, Any], problems: _Problems, warnings: list[str]
) -> Step | None:
    if not isinstance(raw, Mapping):
        problems.add(path, f"Step {path}", f"expected a mapping, got {_kind(raw)}")
        return None
    label = _step_label(raw, path)
    values: dict[str, Any] = {k: v for k, v in defaults.items() if k in DEFAULT_KEYS}
    for key, value in raw.items():
        if key in STEP_KEYS:
            if key in values and key not in defaults:
                problems.add(
                    f"{path}.{key}", label, f"{key!r} is given twice (also by its older name)", "Keep one of them."
                )
            values[key] = value
        elif key in LEGACY_KEYS:
            canonical = LEGACY_KEYS[key]
            if canonical in raw:
                problems.add(f"{path}.{key}", label, f"both {key!r} and {canonical!r} are given", "Keep one of them.")
            values[canonical] = _legacy_retries(value) if key == "retry_on_failure" else value
        elif key in DEPRECATED_KEYS:
            canonical = DEPRECATED_KEYS[key]
            if canonical in raw:
                problems.add(f"{path}.{key}", label, f"both {key!r} and {canonical!r} are given", "Keep one of them.")
            warnings.append(
                f"{label}: {key!r} is deprecated; write {canonical!r} (same meaning: at most N hosts "
                "run the step at once)"
            )
            values[canonical] = value
        elif key == "parallel":
            throttle = _legacy_parallel(value)
            if throttle is False:
                problems.add(
                    f"{path}.parallel", label, f"'parallel' must be a boolean or a positive number, got {_kind(value)}"
                )
            elif throttle is not None and "throttle" not in raw and "sequence" not in raw:
                values["throttle"] = throttle
        else:
            problems.add(
                f"{path}.{_path_key(key)}",
                label,
                f"unknown key {_show_key(key)}",
                f"Use one of: {', '.join(STEP_KEYS)}.",
            )

    def check(key: str, ok: bool, expected: str) -> bool:
        if key in values and not ok:
            problems.add(f"{path}.{key}", label, f"{key!r} must be {expected}, got {_kind(values[key])}")
            values.pop(key)
            return False
        return True

    name = values.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        problems.add(
            f"{path}.name",
            label,
            f"'name' must be a word of letters, digits, '_', '.' or '-', got {_kind(name)}",
            "Give every step a unique name.",
        )
        return None
    given = [k for k in ("command", "script") if k in values]
    for key in given:
        check(key, isinstance(values[key], str) and bool(values[key].strip()), "a non-empty string")
    if len(given) != 1:
        problems.add(
            path,
            label,
            "needs exactly one of 'command' or 'script'",
            "Add 'command: ...'." if not given else "Keep one of them.",
        )
    requires = values.get("requires", [])
    if isinstance(requires, str):
        requires = [requires]
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        problems.add(
            f"{path}.requires",
            label,
            f"'requires' must be a step name or a list of them, got {_kind(values.get('requires'))}",
        )
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
    check("throttle", _is_int(values.get("throttle")) and values.get("throttle", 0) >= 1, "a number >= 1")
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
    bad_names = [k for k in env if not _ENV_NAME_RE.match(k)]
    if bad_names:
        # the names are written into the step's shell script on the host: only plain identifiers are safe
        problems.add(
            f"{path}.env",
            label,
            f"'env' has {len(bad_names)} name(s) that are not shell variable names",
            "Use names of letters, digits and '_' that do not start with a digit.",
        )
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
        throttle=values.get("throttle"),
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
            problems.add(
                f"{path}.{_path_key(key)}",
                label,
                f"unknown health key {_show_key(key)}",
                f"Use one of: {', '.join(HEALTH_KEYS)}.",
            )
            ok = False
    kinds = [k for k in ("command", "url", "port") if value.get(k) is not None]
    if len(kinds) != 1:
        problems.add(path, label, "'health' needs exactly one of command, url or port")
        ok = False
    numbers = {
        "interval": (float, 0.0),
        "timeout": (float, 0.0),
        "successes": (int, 0),
        "status": (int, 99),
        "port": (int, 0),
    }
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
                problems.add(
                    f"steps[{i}].name",
                    f"Step {name!r}",
                    f"duplicate name (first defined at steps[{index[name]}])",
                    "Give every step a unique name.",
                )
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
                problems.add(
                    f"steps[{i}].{key}",
                    f"Step {step.name!r}",
                    f"requires {dep!r}, which is an on_failure step and only runs when another step fails",
                    "Require a regular step.",
                )
        if step.on_failure is not None:
            if step.on_failure not in names:
                problems.add(
                    f"steps[{i}].on_failure",
                    f"Step {step.name!r}",
                    f"on_failure names unknown step {step.on_failure!r}",
                    _suggest(step.on_failure, names),
                )
            elif step.on_failure == step.name:
                problems.add(
                    f"steps[{i}].on_failure",
                    f"Step {step.name!r}",
                    "on_failure names the step itself",
                    "Name a separate clean-up step.",
                )
            elif by_name[step.on_failure].on_failure or by_name[step.on_failure].requires:
                problems.add(
                    f"steps[{i}].on_failure",
                    f"Step {step.name!r}",
                    f"on_failure step {step.on_failure!r} has its own requires or on_failure",
                    "An on_failure step runs alone on the failed host; remove its requires/on_failure.",
                )
    for cycle in _find_cycles({s.name: [d for d in s.requires if d in names and d != s.name] for s in steps}):
        i = index.get(cycle[0], 0)
        key = "requires" if _has_key(raw_steps, i, "requires") else "depends_on"
        problems.add(
            f"steps[{i}].{key}",
            "Dependency cycle",
            " -> ".join(cycle),
            "Remove one of these requires so the steps can be ordered.",
        )
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
                path = stack[stack.index(dep) :] + [dep]
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


def segment_steps(workflow: Workflow) -> list[list[str]]:
    """Regular steps in run order, cut into segments only where a step requires a fleet-wide step.

    Inside a segment each host walks its own DAG without waiting for other hosts; between segments every host
    finishes the earlier one (the barrier). A step's segment is the latest of its dependencies' segments, plus
    one after a fleet-wide dependency.
    """
    segment: dict[str, int] = {}
    order = order_steps(workflow)
    for name in order:
        step = workflow.step(name)
        segment[name] = max((segment[d] + (1 if workflow.step(d).fleet_wide else 0) for d in step.requires), default=0)
    out: list[list[str]] = [[] for _seg in range(max(segment.values(), default=-1) + 1)]
    for name in order:
        out[segment[name]].append(name)
    return out


def workflow_from_steps(name: str, steps: Sequence[Mapping[str, Any]]) -> Workflow:
    """Rebuild a workflow from the canonical step dicts of a published plan (already validated: no checks)."""
    built = []
    for data in steps:
        values = dict(data)
        values["requires"] = tuple(values.get("requires", ()))
        values["env"] = dict(values.get("env") or {})
        health = values.pop("health", None)
        built.append(Step(**values, health=Health(**health) if health else None))
    return Workflow(name=name, steps=tuple(built))


def resolve_scripts(workflow: Workflow, base: Path, *, confine: bool = True) -> Workflow:
    """Make each step's ``script`` an absolute path relative to ``base`` (the workflow file's directory).

    With ``confine`` (the default) a script must lie inside ``base`` once symlinks are resolved: a workflow from
    a survey or a shared directory cannot stream an arbitrary controller file to every host. A missing or
    escaping script is a problem; the path checked is the path that runs.
    """
    problems: list[FleetError] = []
    steps = []
    root = base.resolve()
    for i, step in enumerate(workflow.steps):
        if step.script is not None:
            path = (root / step.script).resolve()
            if confine and not path.is_relative_to(root):
                problems.append(
                    FleetUsageError(
                        f"Step {step.name!r}",
                        f"script {step.script!r} lies outside the workflow's directory {str(root)!r}",
                        "Keep scripts next to the workflow file, or set fleet_allow_scripts_outside: true.",
                        f"steps[{i}].script",
                    )
                )
            elif not path.is_file():
                problems.append(
                    FleetUsageError(
                        f"Step {step.name!r}",
                        f"script {str(path)!r} does not exist",
                        "Give the script path relative to the workflow file.",
                        f"steps[{i}].script",
                    )
                )
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
