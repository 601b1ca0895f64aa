# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-host step states: whether a step may start on a host, what a finished step records, how a host ends.

Each host keeps its own ``states[step]`` (the ``fleet_states`` of its last step result); these functions read
those records. They never touch a host: ``workflow_step`` runs the steps, the ``tally`` action folds a batch's
records at a barrier, and the ``judge`` action judges each host once the run is over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def decide_step(
    workflow: Workflow, step_name: str, mine: Mapping[str, Mapping[str, Any]], tally: Mapping[str, Any] | None = None
) -> Decision:
    """Decide whether ``step_name`` may start on a host now, from this host's own step states.

    A step runs only when each of its ``requires`` is satisfied (ok, or failed with continue_on_error) on this
    host. A fleet-wide dependency must also have succeeded on every host: the ``tally`` taken at the barrier
    (``tally_outcomes``) names the hosts where it did not. Otherwise the step is ``blocked`` (naming the failed
    dependency), ``skipped`` (a dependency was skipped by its gate) or must ``wait`` (a dependency has not run
    here yet, which the segment order rules out).
    """
    step = workflow.step(step_name)
    barriers = (tally or {}).get("fleet_wide", {})
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
            bad = list(barriers.get(dep, ()))
            if bad:
                return Decision(
                    step_name,
                    "blocked",
                    f"requires fleet-wide step {dep!r}, which did not succeed on {', '.join(bad)}",
                    dep,
                )
    return Decision(step_name, "run")


def tally_outcomes(
    previous: Mapping[str, Any] | None, states: Mapping[str, Mapping[str, Mapping[str, Any]]], barriers: Sequence[str]
) -> dict[str, Any]:
    """Fold the step states of a batch of hosts into the run's tally (taken once per barrier or batch).

    The tally holds ``failed`` (host -> worst failed status, in the order hosts failed: what a rollout's stop
    rule and error budget count) and ``fleet_wide`` (fleet-wide step -> hosts where it did not succeed). Its
    size grows with failures, never with the hosts that are fine, so per-host tasks can read it cheaply.
    """
    failed: dict[str, str] = dict((previous or {}).get("failed", {}))
    fleet_wide: dict[str, list[str]] = {k: list(v) for k, v in (previous or {}).get("fleet_wide", {}).items()}
    for host in states:
        steps = states[host]
        status, _reason = judge_host(steps)
        if status in FAILED - {"not_started"} and host not in failed:
            failed[host] = status
        for step in barriers:
            entry = steps.get(step)
            if entry is not None and entry["status"] not in SATISFIED:
                bad = fleet_wide.setdefault(step, [])
                if host not in bad:
                    bad.append(host)
    return {"failed": failed, "fleet_wide": fleet_wide}


def _describe(status: str) -> str:
    return {
        "failed": "failed",
        "timeout": "timed out",
        "unreachable": "found the host unreachable",
        "blocked": "was blocked",
        "not_started": "was not started",
    }.get(status, status)


def record_status(step: Step, status: str, reason: str = "", cause: str | None = None) -> dict[str, Any]:
    """The state entry for a finished step; a failure of a continue_on_error step becomes ``ignored``."""
    if status not in ALL_STATUSES:
        raise ValueError(f"unknown step status {status!r}")
    failure = None
    if step.continue_on_error and status in {"failed", "timeout", "unreachable"}:
        reason = f"{status} (continue_on_error: dependents continue)" + (f": {reason}" if reason else "")
        failure, status = status, "ignored"
    entry: dict[str, Any] = {"status": status, "reason": reason}
    if failure is not None:
        entry["failure"] = failure  # what the report shows for an ignored failure
    if status in {"failed", "timeout", "unreachable"}:
        entry["cause"] = step.name
    elif cause:
        entry["cause"] = cause
    return entry


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


#: Routing verdicts that keep a host out of the run without it failing: the play recap shows it skipped.
NOT_RUN_VERDICTS = frozenset({"gated", "unmeasurable", "not_selected"})


def judge_outcome(states: Mapping[str, Mapping[str, Any]], verdict: Mapping[str, Any] | None) -> tuple[str, str, str]:
    """How one targeted host ended: (report status, reason, recap) where recap is ``ok``, ``failed`` or ``skipped``.

    ``verdict`` is the host's routing verdict (None when the run was not routed). A host routing kept out is
    reported with its verdict and skipped; a host whose steps all were skipped by their gates is skipped too.
    """
    if verdict is not None and verdict.get("status") in NOT_RUN_VERDICTS:
        return str(verdict["status"]), str(verdict.get("reason") or ""), "skipped"
    status, reason = judge_host(states)
    if status != "ok":
        return status, reason, "failed"
    if all(entry["status"] == "skipped" for entry in states.values()):
        return "gated", "; ".join(f"{n}: {e['reason']}" for n, e in states.items()), "skipped"
    return "ok", reason, "ok"
