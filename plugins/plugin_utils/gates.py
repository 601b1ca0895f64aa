# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one gate grammar: parse and evaluate conditions such as ``idle``, ``cpu<50 and mem<80``.

Grammar (keywords case-insensitive, blanks allowed around tokens)::

    gate       := condition ("and" condition)*
    condition  := "idle" | "cpu" "<" NUMBER ["%"] | "mem" "<" NUMBER ["%"] | "load" "<" NUMBER | "users" "==" INTEGER

``load`` is the 1-minute load average per CPU. ``idle`` means cpu, load and interactive-user activity are all below
the thresholds of an :class:`IdleThresholds` (defaults: cpu<10, load<0.3, no user active in the last 15 minutes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError

Metric = Literal["idle", "cpu", "mem", "load", "users"]

EXAMPLE = "Write a comparison such as 'cpu<50'."


@dataclass(frozen=True, slots=True)
class IdleThresholds:
    """What ``idle`` means; the one place these numbers live."""

    cpu: float = 10.0
    load: float = 0.3
    user_idle_seconds: int = 15 * 60


IDLE = IdleThresholds()


@dataclass(frozen=True, slots=True)
class Condition:
    """One comparison of a gate; ``idle`` has no operator or limit."""

    metric: Metric
    op: str = ""
    limit: float = 0.0


@dataclass(frozen=True, slots=True)
class Gate:
    """A parsed gate: every condition must hold."""

    source: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a gate on one host's metrics; ``reasons`` say why it failed (empty when it passed)."""

    passed: bool
    reasons: tuple[str, ...] = ()


_OPERATORS: dict[str, str] = {"cpu": "<", "mem": "<", "load": "<", "users": "=="}
_TOKEN = re.compile(
    r"\s*(?:(?P<word>[A-Za-z_]+)|(?P<number>\d+(?:\.\d*)?|\.\d+)|(?P<op>==|<=|>=|!=|<|>|=)|(?P<pct>%)|(?P<bad>\S))"
)


def _tokens(source: str) -> list[tuple[str, str, int]]:
    tokens = []
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup or "bad"
        tokens.append((kind, match.group(kind), match.start(kind) + 1))
    return tokens


def _example(word: str) -> str:
    sample = {"cpu": "cpu<50", "mem": "mem<80", "load": "load<0.7", "users": "users==0"}[word]
    return f"Write a comparison such as {sample!r}."


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokens(source)
        self.pos = 0

    def fail(self, column: int, reason: str, hint: str = EXAMPLE) -> FleetUsageError:
        return FleetUsageError(f"Invalid gate {self.source!r}", reason, hint, location=f"column {column}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str, int] | None:
        token = self.peek()
        self.pos += 1
        return token

    def end_column(self) -> int:
        return len(self.source.rstrip()) + 1

    def condition(self) -> Condition:
        token = self.take()
        if token is None:
            raise self.fail(self.end_column(), "expected a condition after 'and'")
        kind, text, column = token
        word = text.lower()
        if kind != "word" or (word != "idle" and word not in _OPERATORS):
            raise self.fail(
                column,
                f"unknown condition {text!r}",
                "Use idle, cpu<N, mem<N, load<X (per CPU) or users==0, joined with 'and'.",
            )
        if word == "idle":
            return Condition("idle")
        want = _OPERATORS[word]
        token = self.take()
        if token is None or token[0] != "op":
            column = token[2] if token else self.end_column()
            raise self.fail(column, f"expected '{want}' after {word!r}", _example(word))
        if token[1] != want:
            raise self.fail(token[2], f"{word!r} supports only '{want}', not {token[1]!r}", _example(word))
        number = self.take()
        if number is None or number[0] != "number":
            column = number[2] if number else self.end_column()
            raise self.fail(column, f"expected a number after '{want}'")
        limit = float(number[1])
        if word == "users" and not number[1].isdigit():
            raise self.fail(number[2], f"users needs a whole number, not {number[1]!r}")
        nxt = self.peek()
        if nxt is not None and nxt[0] == "pct":
            if word not in ("cpu", "mem"):
                raise self.fail(nxt[2], f"'%' only applies to cpu and mem, not {word!r}")
            self.pos += 1
        if word in ("cpu", "mem") and limit > 100:
            raise self.fail(number[2], f"{word} is a percentage, {number[1]} is above 100")
        return Condition(word, want, limit)  # type: ignore[arg-type]

    def gate(self) -> Gate:
        if not self.tokens:
            raise self.fail(
                1, "the gate is empty", "Leave the gate unset to run everywhere, or write a condition such as 'idle'."
            )
        conditions = [self.condition()]
        while (token := self.take()) is not None:
            if token[0] != "word" or token[1].lower() != "and":
                raise self.fail(token[2], f"expected 'and' before {token[1]!r}")
            conditions.append(self.condition())
        return Gate(self.source, tuple(conditions))


def parse_gate(source: str) -> Gate:
    """Parse a gate expression; raise FleetUsageError naming the column of the first problem."""
    if not isinstance(source, str):
        raise FleetUsageError(f"Invalid gate {source!r}", f"expected a string, got {type(source).__name__}", EXAMPLE)
    return _Parser(source).gate()


def combine_gates(sources: list[str]) -> str | None:
    """Join several gate expressions with 'and' (every flag must hold, never 'first one wins')."""
    parts = [s.strip() for s in sources if s and s.strip()]
    return " and ".join(parts) if parts else None


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _load_per_cpu(metrics: dict[str, Any]) -> float:
    return float(metrics["load1"]) / max(1, int(metrics["cpus"]))


def _check(condition: Condition, metrics: dict[str, Any], idle: IdleThresholds) -> list[str]:
    metric = condition.metric
    if metric == "cpu" and float(metrics["cpu"]) >= condition.limit:
        return [f"cpu {_num(metrics['cpu'])}% >= {_num(condition.limit)}%"]
    if metric == "mem" and float(metrics["mem"]) >= condition.limit:
        return [f"mem {_num(metrics['mem'])}% >= {_num(condition.limit)}%"]
    if metric == "load" and _load_per_cpu(metrics) >= condition.limit:
        return [f"load {_load_per_cpu(metrics):.2f} >= {condition.limit:.2f} per CPU"]
    if metric == "users" and int(metrics["users"]) != condition.limit:
        return [f"users {int(metrics['users'])} != {int(condition.limit)}"]
    if metric == "idle":
        reasons = []
        if float(metrics["cpu"]) >= idle.cpu:
            reasons.append(f"not idle: cpu {_num(metrics['cpu'])}% >= {_num(idle.cpu)}%")
        if _load_per_cpu(metrics) >= idle.load:
            reasons.append(f"not idle: load {_load_per_cpu(metrics):.2f} >= {idle.load:.2f} per CPU")
        for session in metrics.get("sessions") or []:
            if int(session["idle"]) < idle.user_idle_seconds:
                reasons.append(
                    f"not idle: user {session['user']!s} active {int(session['idle'])}s ago"
                    f" (< {idle.user_idle_seconds}s)"
                )
        return reasons
    return []


def evaluate_gate(gate: Gate | None, metrics: dict[str, Any], idle: IdleThresholds = IDLE) -> Verdict:
    """Evaluate a gate on one host's metrics (the fleet_probe ``metrics`` dict); no gate always passes."""
    if gate is None:
        return Verdict(True)
    reasons: list[str] = []
    for condition in gate.conditions:
        reasons.extend(_check(condition, metrics, idle))
    return Verdict(not reasons, tuple(reasons))


def compile_gate(gate: Gate | None, idle: IdleThresholds = IDLE) -> list[dict[str, Any]]:
    """Lower a gate to plain numeric limits that fleet_probe can check on the host while waiting.

    ``idle`` expands to its thresholds here, so the host never needs to know what idle means. The module's
    ``meets_limits`` must agree with :func:`evaluate_gate`; a property test holds them together.
    """
    limits: list[dict[str, Any]] = []
    for condition in gate.conditions if gate else ():
        if condition.metric == "idle":
            limits += [
                {"metric": "cpu", "below": idle.cpu},
                {"metric": "load_per_cpu", "below": idle.load},
                {"metric": "user_idle", "at_least": idle.user_idle_seconds},
            ]
        elif condition.metric == "load":
            limits.append({"metric": "load_per_cpu", "below": condition.limit})
        elif condition.metric == "users":
            limits.append({"metric": "users", "equals": int(condition.limit)})
        else:
            limits.append({"metric": condition.metric, "below": condition.limit})
    return limits
