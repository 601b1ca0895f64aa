# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollouts and azlin.fleet.run: the error budget, who may start next, and the run built from ``fleet_*`` vars.

A rollout (``fleet_sequence``, or an error budget) starts hosts in batches and stops at the first failure
or once the error budget is spent. An ``azlin.fleet.run`` is a one-step workflow whose step and dispatch
settings come from the ``fleet_*`` variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import (
    FleetError,
    FleetUsageError,
    FleetValidationError,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import parse_number, parse_parallel
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import Decision, Workflow, _is_int, parse_workflow

# ---------------------------------------------------------------------------------------------------------------
# Rollouts


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
    raise FleetUsageError(
        f"Invalid {what} {value!r}",
        "expected a number of hosts or a percentage such as '10%'",
        f"Write {what} as N (e.g. 2) or N% (e.g. 25%).",
    )


def budget_limit(budget: tuple[int, bool] | None, host_count: int) -> int | None:
    """How many failed hosts the budget tolerates for ``host_count`` hosts (N% rounds down)."""
    if budget is None:
        return None
    number, percent = budget
    return (number * host_count) // 100 if percent else number


def decide_start(failed: Mapping[str, str], *, max_failures: int | None, stop_on_failure: bool) -> Decision:
    """Decide whether a host may start in a rollout, given the hosts that failed in earlier batches.

    ``failed`` maps each failed host to its status, in the order they failed. ``stop_on_failure`` (a rolling
    ``--sequence``) stops at the first failed host; ``max_failures`` is the error budget: once more hosts than
    that failed, no further host starts. Either way the host is ``not_started``.
    """
    names = list(failed)
    if stop_on_failure and names:
        return Decision(
            "run", "not_started", f"rollout stopped after {names[0]!r} failed ({failed[names[0]]})", names[0]
        )
    if max_failures is not None and len(names) > max_failures:
        return Decision(
            "run",
            "not_started",
            f"error budget exhausted: {len(names)} host(s) failed ({', '.join(names)}), max_failures is {max_failures}",
            names[0],
        )
    return Decision("run", "run")


# ---------------------------------------------------------------------------------------------------------------
# azlin.fleet.run: a one-step workflow built from the fleet_* variables

RUN_STEP = "run"
#: fleet_* variable -> key of the run step (health keys go under ``health``).
RUN_VARS = {
    "fleet_command": "command",
    "fleet_timeout": "timeout",
    "fleet_retries": "retries",
    "fleet_become": "become",
    "fleet_chdir": "chdir",
    "fleet_environment": "env",
}
HEALTH_VARS = {
    "fleet_health_cmd": "command",
    "fleet_health_url": "url",
    "fleet_health_port": "port",
    "fleet_health_status": "status",
    "fleet_health_interval": "interval",
    "fleet_health_timeout": "timeout",
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


def is_unset(value: Any) -> bool:
    """Tell whether a variable counts as not given (None or blank text, as AWX sends a blank survey answer)."""
    return value is None or (isinstance(value, str) and not value.strip())


def run_workflow(values: Mapping[str, Any]) -> Workflow:
    """The one-step workflow an ``azlin.fleet.run`` is; problems name the fleet_* variable."""
    step: dict[str, Any] = {"name": RUN_STEP}
    for var, key in RUN_VARS.items():
        if not is_unset(values.get(var)):
            step[key] = coerce_text(values[var], RUN_TYPES.get(key, "str"))
    health = {
        key: coerce_text(values[var], HEALTH_TYPES.get(key, "str"))
        for var, key in HEALTH_VARS.items()
        if not is_unset(values.get(var))
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


def coerce_text(value: Any, kind: str) -> Any:
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


def run_settings(values: Mapping[str, Any], host_count: int) -> RunSettings:
    """Batches, throttle, stop rule and error budget of a run, from fleet_sequence/parallel/max_failures (and
    fleet_parallel_default, the hosts at once when fleet_parallel is unset and nothing else batches the run)."""
    problems: list[FleetError] = []
    sequence = values.get("fleet_sequence")
    parallel = values.get("fleet_parallel")
    budget = values.get("fleet_max_failures")
    default = values.get("fleet_parallel_default")
    seq: int | None = None
    if not is_unset(sequence) and sequence is not False:
        seq = 1 if sequence is True else coerce_text(sequence, "int")
        if not _is_int(seq) or seq < 1:
            problems.append(
                FleetUsageError(
                    f"Invalid fleet_sequence {sequence!r}",
                    "expected a number of hosts >= 1",
                    "Use fleet_sequence: 1 for one host at a time.",
                )
            )
    par = None
    if not is_unset(parallel):
        try:
            par = parse_parallel(parallel, max(1, host_count))
        except FleetError as ex:
            problems.append(ex)
    try:
        parse_budget(None if is_unset(budget) else budget)
    except FleetError as ex:
        problems.append(ex)
    fallback = 0
    if not is_unset(default):
        try:
            fallback = int(parse_number("fleet_parallel_default", default, minimum=1, integer=True))
        except FleetError as ex:
            problems.append(ex)
    if problems:
        raise FleetValidationError("Invalid fleet_* variables", problems) if len(problems) > 1 else problems[0]
    has_budget = not is_unset(budget)
    if seq is not None:
        return RunSettings(serial=seq, throttle=0, stop_on_failure=True, max_failures=budget if has_budget else None)
    if has_budget:
        # The budget is checked when a host starts, so hosts start in batches (of fleet_parallel, default 25%).
        return RunSettings(serial=par if par else "25%", throttle=0, max_failures=budget)
    # without fleet_parallel: the caller's default (azlin-fleet passes its forks there, and raises forks so that the
    # probe measures every host at once), else no throttle (forks alone limits the hosts at once)
    return RunSettings(serial=0, throttle=par or fallback)
