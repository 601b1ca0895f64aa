# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Job artifacts: a small summary of a fleet run that AWX keeps (``set_stats``) after the job's files are gone.

AWX keeps a job's events and its ``set_stats`` artifacts, and passes the artifacts to the next nodes of a
workflow as extra vars, so workflow nodes can branch on them. The summary is bounded whatever the fleet size:
counts by status, and the failed / unreachable / not started hosts folded (``web-[1-3]``) and cut at a fixed
length. Slicing semantics live here too (``is_empty_slice_ok``): the pipeline's "nothing selected" play asks it
whether a slice that selects no host may succeed as a no-op.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import STATUS_RANK
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_fold import fold_hosts
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_name import JobIdentity

ARTIFACTS_VERSION = 1
# The set_stats key the artifacts are published under (one key, so a workflow node reads one extra var).
ARTIFACTS_KEY = "fleet_artifacts"
SLICE_OK_VAR = "fleet_slice_ok_when_empty"
# Longest folded host list kept per status; the rest is counted, so artifacts stay small on any fleet.
MAX_HOSTS_TEXT = 256

FAILED_STATUSES = frozenset({"failed", "timeout", "blocked", "interrupted"})
IDLE_STATUSES = frozenset({"gated", "unmeasurable", "not_selected"})
# Host lists the artifacts name: label -> statuses.
NAMED_HOSTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("failed", FAILED_STATUSES),
    ("unreachable", frozenset({"unreachable"})),
    ("not_started", frozenset({"not_started"})),
)
UNKNOWN = "unknown"

# Run status -> the exit code azlin-fleet would give (docs/dev/CONTRACTS.md), for workflow nodes to branch on.
EXIT_CODES = {
    "successful": 0,
    "failed": 1,
    "refused": 2,
    "nothing_selected": 3,
    "unreachable": 4,
    "incomplete": 5,
    "empty_slice": 0,
    "dry_run": 0,
}

_TRUE = frozenset({"true", "yes", "on", "1", "y"})
_FALSE = frozenset({"false", "no", "off", "0", "n"})


def is_awx_slice(extra_vars: Mapping[str, Any]) -> bool:
    """Tell whether the job looks like one slice of an AWX sliced job.

    ``fleet_slice`` set, or an AWX job inside a workflow job that carries the job template's own name: a sliced
    job template launches a workflow job named after itself whose nodes are the slices (AWX names no extra var
    after the slice number).
    """
    if extra_vars.get("fleet_slice") not in (None, ""):
        return True
    workflow_name = extra_vars.get("awx_workflow_job_name", extra_vars.get("tower_workflow_job_name"))
    template_name = extra_vars.get("awx_job_template_name", extra_vars.get("tower_job_template_name"))
    has_workflow = extra_vars.get("awx_workflow_job_id", extra_vars.get("tower_workflow_job_id")) not in (None, "")
    return has_workflow and workflow_name is not None and workflow_name == template_name


def is_empty_slice_ok(extra_vars: Mapping[str, Any]) -> bool:
    """Tell whether a run that selects no host (none targeted, or every one gated) succeeds as a no-op.

    ``fleet_slice_ok_when_empty`` decides when set (a bool or a boolean word); when unset or null (a blank survey
    answer) it is on exactly for a slice of a sliced job (``is_awx_slice``), where one slice without a host of
    the target pool must not fail the whole sliced job.
    """
    value = extra_vars.get(SLICE_OK_VAR)
    if value is None or value == "":
        return is_awx_slice(extra_vars)
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise FleetUsageError(
        f"Extra var {SLICE_OK_VAR!r}",
        f"{value!r} is not a boolean",
        "Set it to true or false, or leave it unset to decide from AWX's slice vars.",
    )


def host_status(outcome: Any) -> tuple[str, str]:
    """A host's (status, reason) from its registered ``fleet_outcome``; ``unknown`` when it has none."""
    if isinstance(outcome, Mapping) and isinstance(outcome.get("fleet_status"), str):
        return outcome["fleet_status"], str(outcome.get("fleet_reason") or "")
    return UNKNOWN, "no outcome was recorded for this host (the run stopped before judging it)"


def fold_bounded(hosts: Iterable[str], limit: int = MAX_HOSTS_TEXT) -> tuple[str, int]:
    """Fold host names, cut to ``limit`` characters between node sets; returns (text, hosts left out)."""
    names = sorted(set(hosts))
    text = fold_hosts(names)
    if len(text) <= limit:
        return text, 0
    # One fold, then keep whole comma-separated pieces (node sets such as web-[1-3]) while they fit.
    kept: list[str] = []
    kept_hosts = 0
    size = 0
    for piece in _split_top_level(text):
        if size + len(piece) + (1 if kept else 0) > limit:
            break
        kept.append(piece)
        size += len(piece) + (1 if len(kept) > 1 else 0)
        kept_hosts += _count_hosts(piece)
    if not kept:
        # The first node set alone is too long (names that fold poorly): plain names, as many as fit.
        for name in names:
            if size + len(name) + (1 if kept else 0) > limit:
                break
            size += len(name) + (1 if kept else 0)
            kept.append(name)
        kept_hosts = len(kept)
    return ",".join(kept), len(names) - kept_hosts


def _split_top_level(text: str) -> list[str]:
    pieces, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            pieces.append(text[start:index])
            start = index + 1
    pieces.append(text[start:])
    return pieces


def _count_hosts(piece: str) -> int:
    if "[" not in piece:
        return 1
    count = 1
    # One or more bracketed ranges, e.g. vm-[1-3,7] or rack[1-2]-node[1-4]: the product of their sizes.
    for group in re.findall(r"\[([^\]]*)\]", piece):
        size = 0
        for part in group.split(","):
            low, dash, high = part.partition("-")
            size += int(high) - int(low) + 1 if dash else 1
        count *= size
    return count


def build_job_artifacts(
    outcomes: Mapping[str, Any],
    plan: Mapping[str, Any] | None = None,
    *,
    job: JobIdentity | None = None,
    report: Mapping[str, Any] | None = None,
    empty_slice_ok: bool = False,
    refused: list[str] | None = None,
    missing: int = 0,
    limit: int = MAX_HOSTS_TEXT,
) -> dict[str, Any]:
    """The job artifacts of one run: run status, counts by status, folded host lists, report, job and slice.

    ``outcomes`` maps each targeted host to its registered ``fleet_outcome`` (None when it has none); ``plan`` is
    the plan fact (``fleet_run``), or None when the plan did not run; ``report`` says what the report is called
    and where it went (``name``, ``dir``, ``upload``); ``missing`` counts targeted hosts not in ``outcomes`` at all
    (unknown, like hosts without an outcome). The result is JSON-ready and bounded in size.
    """
    statuses = {host: host_status(outcome)[0] for host, outcome in outcomes.items()}
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    if missing > 0:
        # Targeted hosts known only by number: they count as unknown, with no name to list.
        counts[UNKNOWN] = counts.get(UNKNOWN, 0) + missing
    order = {status: index for index, status in enumerate((*STATUS_RANK, UNKNOWN))}
    counts = dict(sorted(counts.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
    named: dict[str, str] = {}
    left_out: dict[str, int] = {}
    for label, members in NAMED_HOSTS:
        text, more = fold_bounded((h for h, s in statuses.items() if s in members), limit)
        named[label] = text
        if more:
            left_out[label] = more
    status, reason = _run_status(statuses, plan, empty_slice_ok, refused, max(0, missing))
    identity = job or JobIdentity()
    return {
        "version": ARTIFACTS_VERSION,
        "status": status,
        "reason": reason,
        "exit_code": EXIT_CODES[status],
        "hosts": len(statuses) + max(0, missing),
        "counts": counts,
        "failed": named["failed"],
        "unreachable": named["unreachable"],
        "not_started": named["not_started"],
        "hosts_left_out": left_out,
        "targets": None if plan is None else plan.get("targets"),
        "dry_run": bool(plan.get("dry_run")) if plan is not None else False,
        "report": {key: (report or {}).get(key) for key in ("name", "dir", "upload")},
        "job": identity.as_dict(),
    }


def _run_status(
    statuses: Mapping[str, str],
    plan: Mapping[str, Any] | None,
    empty_slice_ok: bool,
    refused: list[str] | None,
    missing: int,
) -> tuple[str, str]:
    if refused:
        return "refused", f"the input was refused ({len(refused)} problem(s)); nothing ran: {refused[0]}"
    if plan is not None and plan.get("dry_run"):
        return "dry_run", f"dry run of {plan.get('host_count', len(statuses))} targeted host(s); nothing ran"
    values = set(statuses.values())
    if UNKNOWN in values or missing:
        unknown = sum(1 for s in statuses.values() if s == UNKNOWN) + missing
        return "incomplete", f"{unknown} targeted host(s) have no recorded outcome"
    if values & FAILED_STATUSES:
        bad = sum(1 for s in statuses.values() if s in FAILED_STATUSES | {"not_started"})
        return "failed", f"{bad} host(s) failed, timed out, were blocked, interrupted or not started"
    if "not_started" in values:
        return "failed", f"{sum(1 for s in statuses.values() if s == 'not_started')} host(s) not started"
    if "unreachable" in values:
        return "unreachable", f"{sum(1 for s in statuses.values() if s == 'unreachable')} host(s) unreachable"
    if not statuses or values <= IDLE_STATUSES:
        if not statuses:
            why = "no host matched the targets" + (f" {plan.get('targets')!r}" if plan and plan.get("targets") else "")
        else:
            why = "every targeted host was gated, unmeasurable or not selected"
        if empty_slice_ok:
            return "empty_slice", f"{why}; this slice succeeds as a no-op ({SLICE_OK_VAR})"
        return "nothing_selected", why
    return "successful", f"{len(statuses)} host(s) done"
