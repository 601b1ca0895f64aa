# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Least-loaded routing: settings from the ``fleet_*`` vars, scores, order, count selection, TTL, and the plan.

Both the ``least_loaded`` strategy and the ``route`` action call these functions, so the two paths decide the same.
The plan is a plain dict (schema version 1, see docs/dev/CONTRACTS.md)::

    {"version": 1, "gate": str|None, "gate_mode": "skip"|"wait", "route_by": str, "count": int|None,
     "dry_run": bool, "hosts": [{"host", "status", "order", "score", "metrics", "reasons"[, "waited"]}]}

``waited`` (seconds, controller clock) is present on the hosts gate mode ``wait`` waited for.

``status`` is ``selected`` (runs, in ``order``), ``gated``, ``unmeasurable`` or ``not_selected``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import (
    FleetError,
    FleetUsageError,
    FleetValidationError,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import (
    IDLE,
    Gate,
    IdleThresholds,
    evaluate_gate,
    parse_gate,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.probe import DEFAULT_INTERVAL, ProbeOutputError, check_metrics

PLAN_VERSION = 1
PLAN_EVENT = "v2_playbook_on_fleet_plan"
ROUTE_BY = ("score", "cpu", "mem", "load")
GATE_MODES = ("skip", "wait")
STATUS_RANK = {"selected": 0, "not_selected": 1, "gated": 2, "unmeasurable": 3}

RouteBy = Literal["score", "cpu", "mem", "load"]


@dataclass(frozen=True, slots=True)
class RouteSettings:
    """Everything routing needs, parsed once from the ``fleet_*`` vars (defaults live here only)."""

    gate: str | None = None
    gate_mode: Literal["skip", "wait"] = "skip"
    gate_timeout: float = 300.0
    route_by: RouteBy = "score"
    count: int | None = None
    parallel: str | None = None
    probe_ttl: float = 60.0
    probe_interval: float = DEFAULT_INTERVAL
    dry_run: bool = False
    parsed_gate: Gate | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Probe:
    """One host's probe outcome: metrics, or the error that made it unmeasurable; ``at`` is a monotonic time.

    ``waited`` is set after gate mode ``wait``: the seconds this host was waited for (controller clock).
    """

    host: str
    metrics: Mapping[str, Any] | None = None
    error: str | None = None
    at: float = 0.0
    waited: float | None = None


SETTING_VARS = (
    "fleet_gate",
    "fleet_gate_mode",
    "fleet_gate_timeout",
    "fleet_route_by",
    "fleet_count",
    "fleet_parallel",
    "fleet_probe_ttl",
    "fleet_probe_interval",
    "fleet_dry_run",
)


def _is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_number(name: str, value: Any, *, minimum: float, integer: bool = False) -> float:
    """A fleet_* number (text from a survey or -e is read too); a FleetUsageError names the variable."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip()) if integer else float(str(value).strip())
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise FleetUsageError(
            f"Invalid {name} {value!r}", f"expected {kind}", f"Set {name} to e.g. {int(minimum) or 1}."
        ) from None
    if number < minimum:
        raise FleetUsageError(
            f"Invalid {name} {value!r}", f"it must be at least {minimum:g}", f"Set {name} to e.g. {int(minimum) or 1}."
        )
    return number


def parse_boolean(name: str, value: Any) -> bool:
    """A fleet_* boolean (true/false, yes/no, on/off, 1/0 as text too); a FleetUsageError names the variable."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise FleetUsageError(f"Invalid {name} {value!r}", "expected true or false", f"Set {name}: true or false.")


def parse_parallel(value: Any, total: int) -> int:
    """Turn ``N`` or ``"N%"`` (of ``total`` hosts) into a host count of at least 1."""
    text = str(value).strip()
    hint = "Write a host count such as 5, or a share such as '25%'."
    if text.endswith("%"):
        share = parse_number("fleet_parallel", text[:-1], minimum=0)
        if share <= 0 or share > 100:
            raise FleetUsageError(
                f"Invalid fleet_parallel {value!r}", "a share must be above 0% and at most 100%", hint
            )
        return max(1, int(total * share / 100))
    try:
        return int(parse_number("fleet_parallel", text, minimum=1, integer=True))
    except FleetUsageError as ex:
        raise FleetUsageError(ex.subject, ex.reason, hint) from None


def parse_settings(values: Mapping[str, Any]) -> RouteSettings:
    """Build RouteSettings from the ``fleet_*`` vars; report every bad var at once."""
    problems: list[FleetError] = []
    out: dict[str, Any] = {}

    def attempt(key: str, convert: Any) -> None:
        value = values.get(f"fleet_{key}")
        if _is_unset(value):
            return
        try:
            out[key] = convert(value)
        except FleetError as ex:
            problems.append(ex)

    def gate(value: Any) -> str:
        out["parsed_gate"] = parse_gate(value)
        return str(value)

    def choice(name: str, options: tuple[str, ...]) -> Any:
        def convert(value: Any) -> str:
            text = str(value).strip().lower()
            if text not in options:
                raise FleetUsageError(
                    f"Invalid {name} {value!r}", f"expected one of {', '.join(options)}", f"Set {name}: {options[0]}."
                )
            return text

        return convert

    attempt("gate", gate)
    attempt("gate_mode", choice("fleet_gate_mode", GATE_MODES))
    attempt("gate_timeout", lambda v: parse_number("fleet_gate_timeout", v, minimum=0))
    attempt("route_by", choice("fleet_route_by", ROUTE_BY))
    attempt("count", lambda v: int(parse_number("fleet_count", v, minimum=1, integer=True)))
    attempt("parallel", lambda v: (parse_parallel(v, 100), str(v).strip())[1])
    attempt("probe_ttl", lambda v: parse_number("fleet_probe_ttl", v, minimum=0))
    attempt("probe_interval", lambda v: parse_number("fleet_probe_interval", v, minimum=0))
    attempt("dry_run", lambda v: parse_boolean("fleet_dry_run", v))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise FleetValidationError("Invalid fleet routing settings", problems)
    return RouteSettings(**out)


def score_host(metrics: Mapping[str, Any], route_by: str = "score") -> float:
    """Return the load score of one host (lower is less loaded); ``score`` = max(cpu %, mem %, 100*load1/cpus).

    Metrics from Azure Monitor carry CPU (and memory) only: the score is then the max of the terms present, and
    ordering by a term they lack orders by CPU.
    """
    terms = {"cpu": float(metrics["cpu"])}
    if "mem" in metrics:
        terms["mem"] = float(metrics["mem"])
    if "load1" in metrics and "cpus" in metrics:
        terms["load"] = 100.0 * float(metrics["load1"]) / max(1, int(metrics["cpus"]))
    value = terms.get(route_by, terms["cpu"]) if route_by != "score" else max(terms.values())
    return round(value, 1)


def order_hosts(scores: Mapping[str, float]) -> list[str]:
    """Return host names least loaded first, ties broken by name."""
    return sorted(scores, key=lambda host: (scores[host], host))


def is_stale(probed_at: float, now: float, ttl: float) -> bool:
    """Return True when metrics taken at ``probed_at`` are older than ``ttl`` seconds at ``now``."""
    return now - probed_at > ttl


def build_plan(
    settings: RouteSettings,
    probes: Iterable[Probe],
    *,
    waited: float | None = None,
    idle: IdleThresholds = IDLE,
    keep_order: bool = False,
) -> dict[str, Any]:
    """Gate, score, order and select the probed hosts; return the plan dict.

    ``waited`` is set when wait mode gave up, so the reasons of the hosts still gated say so. ``keep_order``
    keeps the probes' order (the inventory order a run without routing uses) instead of least loaded first; the
    plan's ``route_by`` is then ``inventory``.
    """
    probes = list(probes)
    entries: dict[str, dict[str, Any]] = {}
    scores: dict[str, float] = {}
    for probe in probes:
        entry: dict[str, Any] = {
            "host": probe.host,
            "status": "unmeasurable",
            "order": None,
            "score": None,
            "metrics": dict(probe.metrics) if probe.metrics is not None else None,
            "reasons": [],
        }
        if probe.waited is not None:
            entry["waited"] = probe.waited
        entries[probe.host] = entry
        if probe.metrics is None:
            entry["reasons"] = [probe.error or "no probe result"]
            continue
        entry["score"] = score_host(probe.metrics, settings.route_by)
        verdict = evaluate_gate(settings.parsed_gate, dict(probe.metrics), idle)
        if not verdict.passed:
            entry["status"] = "gated"
            entry["reasons"] = list(verdict.reasons)
            if waited is not None:
                entry["reasons"].append(f"still gated after waiting {waited:g}s")
            continue
        scores[probe.host] = entry["score"]
    ordered = [p.host for p in probes if p.host in scores] if keep_order else order_hosts(scores)
    for rank, host in enumerate(ordered, start=1):
        entry = entries[host]
        if settings.count is not None and rank > settings.count:
            entry["status"] = "not_selected"
            entry["reasons"] = [f"not among the {settings.count} least loaded (rank {rank} by {settings.route_by})"]
        else:
            entry["status"] = "selected"
            entry["order"] = rank
    hosts = sorted(entries.values(), key=_plan_key)
    return {
        "version": PLAN_VERSION,
        "gate": settings.gate,
        "gate_mode": settings.gate_mode,
        "route_by": "inventory" if keep_order else settings.route_by,
        "count": settings.count,
        "dry_run": settings.dry_run,
        "hosts": hosts,
    }


def _plan_key(entry: Mapping[str, Any]) -> tuple[int, float, float, str]:
    order = entry["order"] if entry["order"] is not None else float("inf")
    score = entry["score"] if entry["score"] is not None else float("inf")
    return STATUS_RANK[entry["status"]], order, score, entry["host"]


def selected_hosts(plan: Mapping[str, Any]) -> list[str]:
    """Return the hosts that run, in dispatch order."""
    chosen = [e for e in plan["hosts"] if e["status"] == "selected"]
    return [e["host"] for e in sorted(chosen, key=lambda e: e["order"])]


def waiting_hosts(plan: Mapping[str, Any]) -> list[str]:
    """Return the gated hosts worth re-probing in wait mode (none once ``count`` hosts already pass)."""
    passing = sum(1 for e in plan["hosts"] if e["status"] in ("selected", "not_selected"))
    if plan["count"] is not None and passing >= plan["count"]:
        return []
    return sorted(e["host"] for e in plan["hosts"] if e["status"] == "gated")


def dispatch_rank(plan: Mapping[str, Any]) -> dict[str, int]:
    """Return each host's position for the dispatcher: selected hosts by order, every other host after them."""
    ranks = {host: i for i, host in enumerate(selected_hosts(plan))}
    for entry in plan["hosts"]:
        ranks.setdefault(entry["host"], len(ranks))
    return ranks


def recheck_host(
    plan: Mapping[str, Any], settings: RouteSettings, probe: Probe, idle: IdleThresholds = IDLE
) -> dict[str, Any]:
    """Return the plan after a re-probe of a selected host before dispatch (TTL expired).

    A host that now fails its gate, or cannot be measured, leaves the selection with a reason; the others keep
    their order.
    """
    hosts = []
    for entry in plan["hosts"]:
        entry = dict(entry)
        if entry["host"] == probe.host:
            if probe.metrics is None:
                entry.update(
                    status="unmeasurable",
                    order=None,
                    metrics=None,
                    score=None,
                    reasons=[f"re-probe before dispatch failed: {probe.error or 'no probe result'}"],
                )
            else:
                verdict = evaluate_gate(settings.parsed_gate, dict(probe.metrics), idle)
                entry.update(metrics=dict(probe.metrics), score=score_host(probe.metrics, settings.route_by))
                if not verdict.passed:
                    entry.update(
                        status="gated", order=None, reasons=[f"re-probe before dispatch: {r}" for r in verdict.reasons]
                    )
        hosts.append(entry)
    return {**plan, "hosts": sorted(hosts, key=_plan_key)}


def plan_summary(plan: Mapping[str, Any]) -> list[str]:
    """Return one display line per host: order, name, status, score, metrics and reasons."""
    lines = []
    for entry in plan["hosts"]:
        order = f"{entry['order']:>3}" if entry["order"] is not None else "  -"
        score = f"{entry['score']:5.1f}" if entry["score"] is not None else "    -"
        m = entry["metrics"]
        measured = _describe_metrics(m) if m else ""
        reasons = f": {'; '.join(entry['reasons'])}" if entry["reasons"] else ""
        lines.append(f"{order} {entry['host']} {entry['status']} score={score}{measured}{reasons}")
    return lines


def _describe_metrics(m: Mapping[str, Any]) -> str:
    """The metrics part of a plan line: what an SSH probe measured, or Azure Monitor's CPU with its age."""
    if m.get("source") == "azure":
        mem = f" mem={m['mem']:g}%" if "mem" in m else ""
        age = f" (Azure Monitor, {m.get('granularity', '?')}, {m['age']:g}s old)" if "age" in m else " (Azure Monitor)"
        return f" cpu={m['cpu']:g}%{mem}{age}"
    return f" cpu={m['cpu']:g}% mem={m['mem']:g}% load1={m['load1']:g}/{m['cpus']}cpu users={m['users']}"


def plain_data(value: Any) -> Any:
    """Copy registered results or extra vars into plain dict/list/str/number values (JSON-safe, no Ansible types)."""
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def probe_from_result(host: str, result: Any, at: float = 0.0) -> Probe:
    """Turn a registered probe result into a Probe; anything but well-formed metrics makes the host unmeasurable.

    The result comes from the host (a compromised VM may send anything): a non-numeric or missing field is
    rejected for this host only, with the reason.
    """
    if not isinstance(result, Mapping) or result.get("skipped"):
        return Probe(host, error="no probe result: the probe task did not run on this host", at=at)
    if result.get("unreachable"):
        return Probe(host, error=f"unreachable: {result.get('msg') or 'no message'}", at=at)
    if result.get("failed") or "metrics" not in result:
        return Probe(host, error=str(result.get("msg") or "the probe failed without a message"), at=at)
    waited = result.get("waited")
    try:
        metrics = check_metrics(plain_data(result["metrics"]))
        if waited is not None and (isinstance(waited, bool) or not isinstance(waited, (int, float)) or waited < 0):
            raise ProbeOutputError(f"waited is {str(waited)[:40]!r}, not a number of seconds")
    except ProbeOutputError as ex:
        return Probe(host, error=f"probe result rejected: {ex}", at=at)
    return Probe(host, metrics=metrics, at=at, waited=None if waited is None else float(waited))


def verdicts(plan: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Return ``{host: {"status", "reason"}}`` for every host of the plan (reason empty when selected)."""
    return {e["host"]: {"status": e["status"], "reason": "; ".join(e["reasons"])} for e in plan["hosts"]}


def next_wait(plan: Mapping[str, Any], settings: RouteSettings) -> list[str]:
    """Return the hosts to wait for in gate mode ``wait`` (none in skip mode, in dry run, or when count is met)."""
    if settings.gate_mode != "wait" or settings.dry_run or settings.gate_timeout <= 0:
        return []
    return waiting_hosts(plan)


@dataclass(slots=True)
class RouteRun:
    """The routing state of one play: settings, the current plan, and when each host was last probed."""

    settings: RouteSettings
    plan: dict[str, Any]
    probed_at: dict[str, float]
    _rank: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.update(self.plan)

    def update(self, plan: dict[str, Any]) -> None:
        """Replace the plan (after a re-probe) and recompute the dispatch positions once."""
        self.plan = plan
        self._rank = dispatch_rank(plan)

    def rank(self) -> dict[str, int]:
        """Dispatch positions of the plan's hosts (cached: the dispatcher asks on every pass)."""
        return self._rank

    def stale_next(self, pristine: Iterable[str], now: float) -> str | None:
        """Return the next selected host yet to start if its metrics are older than the TTL, else None."""
        waiting = set(pristine)
        for host in selected_hosts(self.plan):
            if host in waiting:
                stale = is_stale(self.probed_at.get(host, 0.0), now, self.settings.probe_ttl)
                return host if stale else None
        return None


def starts_on_arrival(settings: RouteSettings, total: int, slots: int) -> bool:
    """Tell whether each host may start as soon as its own probe is in, instead of after the whole fleet's.

    The least-loaded order decides who runs (``count``) and who starts first when hosts wait for a slot. With no
    count and a slot for every host, it decides neither: every host that passes its gate starts at once anyway,
    so waiting for the slowest probe would only delay the others. Dry runs and gate mode ``wait`` keep the
    fleet-wide probe step (the plan is the product there, and waits are decided on the whole plan).
    """
    return settings.count is None and not settings.dry_run and settings.gate_mode == "skip" and slots >= total


@dataclass(slots=True)
class Arrivals:
    """Probes of a play whose hosts start on arrival (see :func:`starts_on_arrival`), collected as they come in."""

    settings: RouteSettings
    expected: tuple[str, ...]
    probes: dict[str, Probe] = field(default_factory=dict)

    def take(self, probe: Probe) -> bool:
        """Record one host's probe; return whether that host runs (it passed its gate and could be measured)."""
        self.probes[probe.host] = probe
        return selected_hosts(build_plan(self.settings, [probe])) == [probe.host]

    def complete(self) -> bool:
        """Every expected host's probe is in."""
        return len(self.probes) >= len(self.expected)

    def plan(self) -> dict[str, Any]:
        """The plan over the probes in so far, ordered as if they had all been in at once."""
        return build_plan(self.settings, [self.probes[h] for h in self.expected if h in self.probes])
