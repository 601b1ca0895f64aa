# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-host step states: whether a step may start on a host, what a finished step records, how a host ends.

The playbook records ``states[host][step]`` after every step; these functions read those records. They never
touch a host: ``workflow_step`` runs the step and ``workflow_plan`` judges each host once the run is over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import Decision, Step, Workflow

StepStatus = Literal["ok", "failed", "timeout", "unreachable", "ignored", "blocked", "skipped", "not_started"]

#: Statuses that let dependents start. ``ignored`` is a failure of a ``continue_on_error`` step.
SATISFIED: frozenset[str] = frozenset({"ok", "ignored"})
#: Statuses that fail the run.
FAILED: frozenset[str] = frozenset({"failed", "timeout", "unreachable", "blocked", "not_started"})
ALL_STATUSES: frozenset[str] = frozenset(
    {"ok", "failed", "timeout", "unreachable", "ignored", "blocked", "skipped", "not_started"}
)

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
