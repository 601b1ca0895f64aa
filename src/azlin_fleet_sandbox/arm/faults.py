"""Fault rules and request counts of the local endpoint (thread-safe, no I/O)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

# What a request is, for counting and for matching fault rules.
ARM_KINDS = ("subscriptions", "vms", "nics", "public_ips", "scale_sets", "vmss_vms", "vmss_nics", "vmss_public_ips")
# Writes, operation polls and metrics are matched only by rules that name them.
KINDS = ("token", "openid", *ARM_KINDS, "power", "operations", "metrics", "other")
FAULT_STATUSES = (403, 429, 500, 503)


@dataclass(slots=True)
class FaultRule:
    """Answer matching requests with `status` (after sleeping `delay` s), `count` times (None = until reset).

    `kind` None matches every ARM list kind (never token/openid: name `token` explicitly to fail the token endpoint).
    `status` None with a `delay` makes slow pages that then succeed.
    """

    id: int
    status: int | None = None
    count: int | None = 1
    delay: float = 0.0
    retry_after: int = 1
    subscription: str | None = None
    kind: str | None = None

    def matches(self, kind: str, subscription: str | None) -> bool:
        if self.kind is None:
            if kind not in ARM_KINDS:
                return False
        elif self.kind != kind:
            return False
        return self.subscription is None or (subscription or "").lower() == self.subscription.lower()


def parse_rule(rule_id: int, spec: dict[str, Any]) -> FaultRule:
    """A FaultRule from the admin API's JSON; ValueError naming the bad field otherwise."""
    known = {"status", "count", "delay", "retry_after", "subscription", "kind"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"unknown fault field(s) {unknown}; known: {sorted(known)}")
    status = spec.get("status")
    if status is not None and status not in FAULT_STATUSES:
        raise ValueError(f"status {status!r} is not a fault status; use one of {FAULT_STATUSES}")
    delay = float(spec.get("delay", 0.0))
    if status is None and delay <= 0:
        raise ValueError("a fault needs a 'status' or a positive 'delay'")
    kind = spec.get("kind")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind {kind!r} is unknown; use one of {KINDS}")
    # A 403 models a missing role assignment: it stays until reset unless a count is given.
    default_count = None if status == 403 or status is None else 1
    count = spec.get("count", default_count)
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError(f"count {count!r} must be a positive integer or null (until reset)")
    return FaultRule(
        id=rule_id,
        status=status,
        count=count,
        delay=delay,
        retry_after=int(spec.get("retry_after", 1)),
        subscription=spec.get("subscription"),
        kind=kind,
    )


class Control:
    """Fault rules, counters and the few live settings, shared by the handler threads."""

    def __init__(self, page_size: int) -> None:
        self._lock = threading.Lock()
        self.default_page_size = page_size
        self.page_size = page_size
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._counts: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._by_sub: Counter[str] = Counter()

    def add_rule(self, spec: dict[str, Any]) -> FaultRule:
        with self._lock:
            rule = parse_rule(self._next_id, spec)
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self._rules]

    def take_fault(self, kind: str, subscription: str | None) -> tuple[float, FaultRule | None]:
        """(seconds to sleep, rule whose status to answer with or None) for one request; consumes counts."""
        delay = 0.0
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(kind, subscription):
                    continue
                delay = max(delay, rule.delay)
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                if rule.status is not None:
                    return delay, rule
        return delay, None

    def count(self, kind: str, status: int, subscription: str | None = None) -> None:
        with self._lock:
            self._counts[kind] += 1
            self._counts["total"] += 1
            self._statuses[str(status)] += 1
            if subscription:
                self._by_sub[subscription.lower()] += 1

    def counts(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {kind: self._counts.get(kind, 0) for kind in KINDS}
            out["total"] = self._counts.get("total", 0)
            out["by_status"] = dict(sorted(self._statuses.items()))
            out["by_subscription"] = dict(sorted(self._by_sub.items()))
            return out

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self._counts.clear()
            self._statuses.clear()
            self._by_sub.clear()
            self.page_size = self.default_page_size
