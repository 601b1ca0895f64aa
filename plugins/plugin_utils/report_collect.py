# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collect host results during a run: plain records, each distinct output stored once by content hash."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_identity import (
    HostIdentity,
    build_identity,
    kept_originals,
    may_occur,
    names_from_result,
    replace_identity,
    word_set,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_mask import Masker, mask_private_keys

Status = Literal[
    "ok",
    "changed",
    "failed",
    "unreachable",
    "skipped",
    "timeout",
    "gated",
    "unmeasurable",
    "not_selected",
    "blocked",
    "not_started",
    "interrupted",
    "selected",
]
# Worst first: a host's overall status is the worst status of its results.
STATUS_RANK: tuple[str, ...] = (
    "failed",
    "timeout",
    "unreachable",
    "interrupted",
    "blocked",
    "not_started",
    "unmeasurable",
    "gated",
    "not_selected",
    "changed",
    "ok",
    "selected",
    "skipped",
)
RESULT_STATUSES = frozenset(STATUS_RANK)
SUCCESS_STATUSES = frozenset({"ok", "changed", "skipped", "selected"})
# The task var internal playbook tasks carry: their results are not report rows, only their failures are kept.
QUIET_VAR = "fleet_report_quiet"
TRUNCATION_MARKER = "\n[... {omitted} characters truncated by azlin.fleet.fleet_report ...]\n"


@dataclass(frozen=True, slots=True)
class NormalizeOptions:
    """How outputs are compared: regexes whose matches are ignored, whitespace, stderr, and the kept size."""

    ignore_patterns: tuple[str, ...] = ()
    ignore_whitespace: bool = False
    include_stderr: bool = True
    max_output: int = 65536
    normalize_hosts: bool = True


@dataclass(frozen=True, slots=True)
class OutputEntry:
    """One distinct (masked) output: its hash over the full normalized text, the kept text and the full size."""

    hash: str
    text: str
    size: int
    truncated: bool
    binary: bool = False


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A task as the report names it."""

    id: str
    name: str
    play: str = ""
    path: str = ""
    kind: str = "task"
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class RunError:
    """A failure of a quiet task (internal playbook task or include): not a report row, but never lost."""

    host: str
    task: str
    play: str
    path: str
    status: str
    reason: str | None = None
    ignored: bool = False


def is_quiet_task(task_vars: Mapping[str, Any], is_include: bool = False) -> bool:
    """Tell whether a task's results stay out of the report rows: includes, and tasks whose vars set QUIET_VAR.

    Only a literal true value counts (a boolean, or a string such as ``true``/``yes``); templates are not evaluated.
    """
    if is_include:
        return True
    value = task_vars.get(QUIET_VAR, False)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return value is True


@dataclass(frozen=True, slots=True)
class HostResult:
    """One host's outcome of one task; ``output`` is a key into the collector's outputs (None: no output or no_log)."""

    host: str
    task_id: str
    status: str
    rc: int | None = None
    output: str | None = None
    reason: str | None = None
    duration: float | None = None
    attempts: int | None = None
    step: str | None = None
    ignored: bool = False
    no_log: bool = False
    start: float | None = None
    end: float | None = None
    # The host's own names the output's {host} placeholders stand for, in order (None: nothing replaced).
    identity: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class InternalError:
    """An internal problem of a fleet action (``fleet_internal_error``, or a quiet task that crashed)."""

    host: str
    task: str
    error: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a raw Ansible result dict means for the report, before masking and storage."""

    status: str
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    reason: str | None = None
    step: str | None = None
    attempts: int | None = None
    duration: float | None = None


def classify_result(event: str, result: Mapping[str, Any], no_log: bool = False) -> Outcome:
    """Map a runner event (ok, failed, unreachable, skipped) and its result dict to an Outcome.

    ``fleet_status``/``fleet_reason`` override the status, ``fleet_step`` and ``fleet_attempts`` enrich it.
    A no_log result keeps only its status: no output and no reason.
    """
    status = event
    if event == "ok" and result.get("changed"):
        status = "changed"
    if event == "failed" and result.get("timedout"):
        status = "timeout"
    override = result.get("fleet_status")
    if isinstance(override, str) and override in RESULT_STATUSES:
        status = override
    attempts = result.get("fleet_attempts", result.get("attempts"))
    attempts = attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else None
    step = result.get("fleet_step") if isinstance(result.get("fleet_step"), str) else None
    if no_log:
        return Outcome(status=status, step=step, attempts=attempts)
    rc = result.get("rc") if isinstance(result.get("rc"), int) else None
    reason = result.get("fleet_reason") or None
    msg = result.get("msg") if isinstance(result.get("msg"), str) else ""
    if "stdout" in result or "stderr" in result:
        stdout, stderr = _text(result.get("stdout")), _text(result.get("stderr"))
        reason = reason or (msg if status not in ("ok", "changed") and msg else None)
        if not reason and status == "failed" and result.get("failed_when_result") is True:
            reason = "failed_when condition is true"  # ansible-core before 2.21 leaves msg empty here
    elif isinstance(result.get("results"), list):
        stdout, stderr = _loop_output(result["results"]), ""
    elif status in ("ok", "changed"):
        stdout, stderr = msg, ""
    else:
        # Failure and unreachable messages name the host (address, port), so they are reasons, not
        # output: all unreachable hosts form one group and the reasons list says why for each.
        stdout, stderr = "", ""
        reason = reason or msg or result.get("skip_reason") or None
    return Outcome(
        status, rc, stdout, stderr, str(reason) if reason else None, step, attempts, _delta(result.get("delta"))
    )


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "surrogateescape")  # clean_text turns undecodable bytes into U+FFFD
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _loop_output(items: list[Any]) -> str:
    parts = []
    for item in items:
        if isinstance(item, Mapping):
            parts.append(_text(item.get("stdout", item.get("msg", ""))))
    return "\n".join(parts)


def _delta(value: Any) -> float | None:
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", value) if isinstance(value, str) else None
    if not match:
        return None
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


def classify_step(entry: Mapping[str, Any], no_log: bool = False) -> Outcome:
    """Map one ``fleet_steps`` entry (step, status, rc, stdout, stderr, reason, attempts, ...) to an Outcome.

    An unknown status is kept as it is (the report shows it; it outranks success). A no_log entry keeps only its
    status, step and attempts.
    """
    status = _text(entry.get("status")) or "failed"
    step = _text(entry.get("step")) or None
    attempts = entry.get("attempts")
    attempts = attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else None
    if no_log:
        return Outcome(status=status, step=step, attempts=attempts)
    rc = entry.get("rc") if isinstance(entry.get("rc"), int) and not isinstance(entry.get("rc"), bool) else None
    reason = _text(entry.get("reason")) or None
    return Outcome(status, rc, _text(entry.get("stdout")), _text(entry.get("stderr")), reason, step, attempts, None)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch from a number or an ISO 8601 string (naive means UTC); None otherwise."""
    number = _number(value)
    if number is not None or not isinstance(value, str):
        return number
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _brief(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def compile_ignore_patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """Compile the ignore regexes; a bad one is a FleetConfigError naming it."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.MULTILINE))
        except re.error as ex:
            raise FleetConfigError(
                f"Ignore pattern {pattern!r}",
                f"not a valid regular expression ({ex})",
                "Fix the pattern in the callback option ignore_patterns.",
            ) from ex
    return tuple(compiled)


def normalize_output(text: str, ignore: tuple[re.Pattern[str], ...], ignore_whitespace: bool) -> str:
    """Return the text outputs are compared by: ignored matches removed, whitespace runs collapsed if asked."""
    for pattern in ignore:
        text = pattern.sub("", text)
    if ignore_whitespace:
        text = "\n".join(" ".join(line.split()) for line in text.strip().splitlines())
    return text


def truncate_output(text: str, limit: int) -> tuple[str, bool]:
    """Keep the head and the tail of an output longer than ``limit`` characters, with a marker between."""
    if limit <= 0 or len(text) <= limit:
        return text, False
    head = limit // 2
    tail = limit - head
    return text[:head] + TRUNCATION_MARKER.format(omitted=len(text) - limit) + text[-tail:], True


@dataclass
class ReportCollector:
    """Everything the callback learns during a run, as plain records; rendering happens once, later."""

    masker: Masker
    options: NormalizeOptions = NormalizeOptions()
    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    results: list[HostResult] = field(default_factory=list)
    outputs: dict[str, OutputEntry] = field(default_factory=dict)
    plans: list[dict[str, Any]] = field(default_factory=list)
    playbooks: list[str] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    interrupted: str | None = None
    # The run's own health (the report's ``run`` object): internal errors, refused input, an empty selection.
    internal_errors: list[InternalError] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    nothing_selected: dict[str, str] | None = None
    # The hosts the run targets (the plan's ``fleet_targeted``): each ends in the report, reached or not.
    targeted: list[str] = field(default_factory=list)
    dry_run: bool = False
    # Raw-content digest -> output key: identical raw outputs skip masking and normalizing entirely.
    _raw_index: dict[bytes, str] = field(default_factory=dict)
    # (host, task id) -> start time of results still running; they are what an interrupt marks.
    _running: dict[tuple[str, str], float] = field(default_factory=dict)
    # (host, task id) of every result taken, rows or not (a segment's result is its steps' rows): never not_started.
    _finished: set[tuple[str, str]] = field(default_factory=set)
    _ignore: tuple[re.Pattern[str], ...] = ()
    # Host -> extra names (addresses, hostnames) and the identity built from them (rebuilt when they grow).
    _names: dict[str, list[str]] = field(default_factory=dict)
    _identities: dict[str, HostIdentity] = field(default_factory=dict)
    # Raw-content digest -> the words of an output several hosts printed (None: too many words to keep).
    _words: dict[bytes, frozenset[str] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ignore = compile_ignore_patterns(self.options.ignore_patterns)

    def add_task(self, task: TaskInfo) -> None:
        """Register a task (first registration wins, so the report keeps the run's task order)."""
        if task.id not in self.tasks:
            name = self.masker.mask(clean_text(task.name)[0])
            self.tasks[task.id] = TaskInfo(task.id, name, task.play, task.path, task.kind, task.quiet)

    def is_quiet(self, task_id: str) -> bool:
        """Tell whether a registered task is quiet (its results are not rows)."""
        return task_id in self.tasks and self.tasks[task_id].quiet

    def start(self, host: str, task_id: str, now: float) -> None:
        """Note that a host started a task, at monotonic time ``now``."""
        self._running[(host, task_id)] = now

    def _end(self, host: str, task_id: str) -> float | None:
        """Note that a host's result of a task arrived (row or not); return the time it started, if known."""
        self._finished.add((host, task_id))
        return self._running.pop((host, task_id), None)

    def add_result(
        self,
        host: str,
        task_id: str,
        outcome: Outcome,
        *,
        ignored: bool = False,
        no_log: bool = False,
        now: float | None = None,
        is_outcome: bool = False,
    ) -> HostResult | None:
        """Record one host result; output is masked, normalized and stored once per distinct content.

        ``now`` is the time the result arrived (seconds since the epoch, as passed to ``start``).
        A result of a quiet task is no row (None is returned); if it is a failure it becomes a RunError, unless
        ``is_outcome`` says the failure is the host's judged outcome (it carries ``fleet_status``).
        """
        started = self._end(host, task_id)
        if self.is_quiet(task_id):
            if not is_outcome:
                self._add_error(host, task_id, outcome, ignored, no_log)
            return None
        duration = outcome.duration
        if duration is None and started is not None and now is not None:
            duration = round(now - started, 3)
        record = self._row(host, task_id, outcome, ignored, no_log, started, now, duration)
        self.results.append(record)
        return record

    def _row(
        self,
        host: str,
        task_id: str,
        outcome: Outcome,
        ignored: bool,
        no_log: bool,
        start: float | None,
        end: float | None,
        duration: float | None,
    ) -> HostResult:
        output, identity = (None, None) if no_log else self._store(host, outcome.stdout, outcome.stderr)
        reason = self.masker.mask(clean_text(outcome.reason)[0]) if outcome.reason and not no_log else None
        return HostResult(
            host,
            task_id,
            outcome.status,
            outcome.rc,
            output,
            reason,
            duration,
            outcome.attempts,
            outcome.step,
            ignored,
            no_log,
            start,
            end,
            identity,
        )

    def take_result(
        self,
        host: str,
        task_id: str,
        event: str,
        result: Mapping[str, Any],
        *,
        task_no_log: bool = False,
        ignored: bool = False,
        now: float | None = None,
    ) -> tuple[list[HostResult], Mapping[str, Any] | None]:
        """Record a raw runner result (event ok, failed, unreachable or skipped) of a registered task.

        A ``fleet_plan`` in the result is taken in even from a quiet task. A result carrying ``fleet_steps`` (the
        per-step entries of a host's walk through a workflow segment) becomes one row per entry, under the report
        task ``step:<name>``; the task's own result is then no row. ``fleet_internal_error``, ``fleet_refused`` and
        ``fleet_nothing_selected`` go to the run's health (see ``run_summary``).
        Returns the rows (none for a quiet task) and the plan when it was new or changed (None otherwise).
        """
        no_log = task_no_log or bool(result.get("_ansible_no_log")) or "censored" in result
        if self.options.normalize_hosts and not no_log:
            self.learn_host(host, names_from_result(result))
        plan = result.get("fleet_plan") if not no_log else None
        new_plan = plan if isinstance(plan, Mapping) and self.add_plan(plan) else None
        self._take_run_fields(host, task_id, event, result, ignored=ignored, no_log=no_log)
        steps = result.get("fleet_steps")
        if isinstance(steps, list) and not self.is_quiet(task_id):
            started = self._end(host, task_id)
            rows = [self._add_step(host, task_id, e, no_log, started, now) for e in steps if isinstance(e, Mapping)]
            return [row for row in rows if row is not None], new_plan
        outcome = classify_result(event, result, no_log=no_log)
        is_outcome = isinstance(result.get("fleet_status"), str)
        record = self.add_result(host, task_id, outcome, ignored=ignored, no_log=no_log, now=now, is_outcome=is_outcome)
        return ([record] if record is not None else []), new_plan

    def _add_step(
        self,
        host: str,
        task_id: str,
        entry: Mapping[str, Any],
        no_log: bool,
        started: float | None,
        now: float | None,
    ) -> HostResult | None:
        name = entry.get("step")
        if not isinstance(name, str) or not name:
            self.internal_errors.append(
                InternalError(host, self.tasks[task_id].name, f"a fleet_steps entry has no step name: {_brief(entry)}")
            )
            return None
        step_id = f"step:{name}"
        if step_id not in self.tasks:
            task = self.tasks[task_id]
            self.add_task(TaskInfo(step_id, name, task.play, task.path, "step"))
        outcome = classify_step(entry, no_log=no_log)
        if outcome.status not in RESULT_STATUSES:
            self.internal_errors.append(
                InternalError(host, name, f"step status {outcome.status!r} is not a report status")
            )
            outcome = Outcome(
                "failed", outcome.rc, outcome.stdout, outcome.stderr, outcome.reason, name, outcome.attempts
            )
        start, end = _timestamp(entry.get("start")), _timestamp(entry.get("end"))
        duration = _number(entry.get("duration"))
        if duration is None and start is not None and end is not None:
            duration = round(end - start, 3)
        record = self._row(host, step_id, outcome, entry.get("ignored") is True, no_log, start, end, duration)
        self.results.append(record)
        return record

    def _take_run_fields(
        self, host: str, task_id: str, event: str, result: Mapping[str, Any], *, ignored: bool, no_log: bool
    ) -> None:
        task = self.tasks[task_id]
        refused = result.get("fleet_refused")
        if isinstance(refused, list):
            for line in refused:
                text = self.masker.mask(_text(line))
                if text not in self.refused:
                    self.refused.append(text)
        targeted = result.get("fleet_targeted")
        if isinstance(targeted, list) and not self.targeted:
            self.targeted = [_text(h) for h in targeted]
            self.dry_run = result.get("fleet_dry_run") is True
        nothing = result.get("fleet_nothing_selected")
        if isinstance(nothing, Mapping):
            self.nothing_selected = {
                "targets": self.masker.mask(_text(nothing.get("targets"))),
                "reason": self.masker.mask(_text(nothing.get("reason"))),
            }
        internal = result.get("fleet_internal_error")
        if internal:
            self.internal_errors.append(InternalError(host, task.name, self.masker.mask(_text(internal))))
        elif (
            task.quiet
            and event == "failed"
            and not ignored
            and not isinstance(refused, list)
            and not isinstance(nothing, Mapping)
            and "fleet_status" not in result
        ):
            # A quiet fleet task that failed without saying why in data: a crash, never a host outcome.
            why = "(hidden: no_log)" if no_log else _text(result.get("msg")) or "failed without a message"
            self.internal_errors.append(InternalError(host, task.name, self.masker.mask(why)))

    def run_summary(self) -> dict[str, Any]:
        """The report's ``run`` object: status (interrupted, incomplete, complete) and what decides it."""
        if self.interrupted:
            status = "interrupted"
        elif self.internal_errors:
            status = "incomplete"
        else:
            status = "complete"
        return {
            "status": status,
            "internal_errors": [asdict(error) for error in self.internal_errors],
            "refused": list(self.refused),
            "nothing_selected": dict(self.nothing_selected) if self.nothing_selected else None,
        }

    def _add_error(self, host: str, task_id: str, outcome: Outcome, ignored: bool, no_log: bool) -> None:
        if outcome.status in SUCCESS_STATUSES:
            return
        task = self.tasks[task_id]
        reason = self.masker.mask(outcome.reason) if outcome.reason and not no_log else None
        self.errors.append(RunError(host, task.name, task.play, task.path, outcome.status, reason, ignored))

    def add_plan(self, plan: Mapping[str, Any]) -> bool:
        """Record a routing plan; a plan over the same hosts replaces the earlier one (a re-probe updates it).

        Tells whether anything changed.
        """
        plan = json.loads(json.dumps(plan, default=str))
        hosts = _plan_hosts(plan)
        for index, known in enumerate(self.plans):
            if _plan_hosts(known) == hosts:
                changed = known != plan
                self.plans[index] = plan
                return changed
        self.plans.append(plan)
        return True

    def unreached_hosts(self) -> tuple[list[str], str, str]:
        """Targeted hosts with no row at all: (hosts, status, reason). They never got as far as a task: a dry run
        would have run them (``selected``); otherwise the run ended first (``not_started``)."""
        seen = {r.host for r in self.results}
        seen.update(str(h.get("host")) for plan in self.plans for h in plan.get("hosts", []) if isinstance(h, Mapping))
        missing = [h for h in self.targeted if h not in seen]
        if self.dry_run:
            return missing, "selected", "dry run: it would run here"
        if self.interrupted:
            return missing, "not_started", f"run interrupted by {self.interrupted} before this host started"
        return missing, "not_started", "the run ended before this host started"

    def mark_interrupted(self, signal_name: str) -> list[HostResult]:
        """Record the interruption: results still running become interrupted, and hosts of the same play
        that had not started those tasks become not_started."""
        self.interrupted = signal_name
        running = list(self._running)
        marked = []
        for host, task_id in running:
            outcome = Outcome("interrupted", reason=f"run interrupted by {signal_name} before this host finished")
            record = self.add_result(host, task_id, outcome)
            if record is not None:
                marked.append(record)
        for task_id in dict.fromkeys(key[1] for key in running if not self.is_quiet(key[1])):
            play = self.tasks[task_id].play if task_id in self.tasks else None
            seen = {r.host for r in self.results if r.task_id in self.tasks and self.tasks[r.task_id].play == play}
            done = {host for host, finished in self._finished if finished == task_id}
            for host in sorted(seen - done):
                outcome = Outcome("not_started", reason=f"run interrupted by {signal_name} before this host started")
                record = self.add_result(host, task_id, outcome)
                if record is not None:
                    marked.append(record)
        return marked

    def learn_host(self, host: str, names: Iterable[Any]) -> None:
        """Add names or addresses a host is known by (inventory address, hostname it reported)."""
        known = self._names.setdefault(host, [])
        fresh = [n for n in names if isinstance(n, str) and n and n != host and n not in known]
        if fresh:
            known += fresh
            self._identities.pop(host, None)

    def identity_of(self, host: str) -> HostIdentity:
        """The host's identity (its names, longest first, and the pattern finding them)."""
        identity = self._identities.get(host)
        if identity is None:
            identity = self._identities[host] = build_identity(host, self._names.get(host, ()))
        return identity

    def _store(self, host: str, stdout: str, stderr: str) -> tuple[str | None, tuple[str, ...] | None]:
        """Store an output once per distinct normalised content; return its key and the host's replaced names.

        Order: clean (non-UTF-8 -> replacement characters, marked binary), replace the host's identity, then (once
        per distinct text) mask, normalize for comparison, hash and truncate for storage.
        """
        parts = [stdout, stderr] if self.options.include_stderr and stdout and stderr else [stdout or stderr]
        if not self.options.include_stderr:
            parts = [stdout]
        total = sum(len(part) for part in parts)
        if not total:
            return None, None
        if 0 < self.options.max_output and total > max(STREAM_THRESHOLD, 4 * self.options.max_output):
            return self._store_large(host, parts)
        raw = "\n".join(parts)
        raw, binary = clean_text(raw)
        originals: list[str] = []
        digest = hashlib.sha256(raw.encode("utf-8")).digest()
        if self.options.normalize_hosts:
            identity = self.identity_of(host)
            words = self._words.get(digest)
            if words is not None and not may_occur(identity, words):
                return self._raw_index[digest], None  # a text seen before, without this host's names
            raw, originals = replace_identity(raw, identity)
            if originals:
                digest = hashlib.sha256(raw.encode("utf-8")).digest()
            elif digest in self._raw_index and digest not in self._words:
                # Printed by a second host: its words answer for every further host without a scan.
                self._words[digest] = word_set(raw)
        key = self._raw_index.get(digest)
        if key is None:
            masked = self.masker.mask(raw)
            del raw
            normalized = normalize_output(masked, self._ignore, self.options.ignore_whitespace)
            key = hashlib.sha256(normalized.encode("utf-8")).hexdigest()
            del normalized
            if key not in self.outputs:
                text, truncated = truncate_output(masked, self.options.max_output)
                self.outputs[key] = OutputEntry(key, text, len(masked), truncated, binary)
            self._raw_index[digest] = key
        if not originals:
            return key, None
        entry = self.outputs[key]
        kept = kept_originals(entry.text, originals, entry.truncated, self.options.max_output // 2)
        return key, tuple(kept) or None

    def _store_large(self, host: str, parts: list[str]) -> tuple[str | None, tuple[str, ...] | None]:
        """Store an output far beyond max_output window by window: never a whole copy of it, only its hash and
        the head and tail it keeps.

        Windows end at newlines, and every mask shape except PEM blocks (handled on the whole text first, which
        copies only when a key block is there) lies within a line, so masking by window masks what masking the
        whole text would. Ignore patterns and whitespace normalisation apply per window.
        """
        identity = self.identity_of(host) if self.options.normalize_hosts else None
        digest = hashlib.sha256()
        half = self.options.max_output // 2
        tail_size = self.options.max_output - half
        head: list[str] = []
        head_size = 0
        tail: list[str] = []
        kept_tail = 0
        size = 0
        binary = False
        # Names replaced in the head's windows and in the windows still in the tail (never all of them: a log
        # naming its host on every line would hold one string per line).
        head_originals: list[str] = []
        tail_originals: list[list[str]] = []
        for window in _windows([mask_private_keys(part) for part in parts]):
            window, unclean = clean_text(window)
            binary = binary or unclean
            found: list[str] = []
            if identity is not None:
                window, found = replace_identity(window, identity)
            masked = self.masker.mask(window)
            del window
            digest.update(normalize_output(masked, self._ignore, self.options.ignore_whitespace).encode("utf-8"))
            size += len(masked)
            if head_size < half:
                head.append(masked[: half - head_size])
                head_size += len(head[-1])
                head_originals += found
            tail.append(masked[-tail_size:])
            tail_originals.append(found)
            kept_tail += len(tail[-1])
            while len(tail) > 1 and kept_tail - len(tail[0]) >= tail_size:
                kept_tail -= len(tail.pop(0))
                tail_originals.pop(0)
            del masked, found
        key = digest.hexdigest()
        if key not in self.outputs:
            omitted = max(0, size - half - tail_size)
            text = "".join(head) + TRUNCATION_MARKER.format(omitted=omitted) + "".join(tail)[-tail_size:]
            self.outputs[key] = OutputEntry(key, text, size, True, binary)
        originals = head_originals + [name for found in tail_originals for name in found]
        if not originals:
            return key, None
        kept = kept_originals(self.outputs[key].text, originals, True, half)
        return key, tuple(kept) or None


# Outputs longer than this (and than 4 x max_output) are processed window by window (see _store_large).
STREAM_THRESHOLD = 1 << 20
_WINDOW = 1 << 18


def _windows(parts: list[str]) -> Iterator[str]:
    """The parts joined by newlines, as windows of about _WINDOW characters that end at a newline.

    A line longer than a window stays whole (its secrets must be seen whole): one window may then be large.
    """
    for number, part in enumerate(parts):
        if number:
            yield "\n"
        position = 0
        while position < len(part):
            end = position + _WINDOW
            if end < len(part):
                newline = part.rfind("\n", position, end)
                end = newline + 1 if newline >= position else part.find("\n", end) + 1 or len(part)
            yield part[position:end]
            position = end


def clean_text(value: Any) -> tuple[str, bool]:
    """Text that is safe to store as UTF-8: bytes and undecodable characters become U+FFFD.

    The flag tells whether the value was not clean text: undecodable bytes (here or, as U+FFFD, already on the
    host) or NUL characters, which mark binary data.
    """
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "replace")
        return text, "\ufffd" in text or "\x00" in text
    text = value if isinstance(value, str) else str(value)
    if text.isascii():
        return text, "\x00" in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: how Python carries undecodable bytes (surrogateescape) through str.
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), True
    # U+FFFD: the bytes were already decoded with replacement on the host (Ansible's modules do that).
    return text, "\x00" in text or "\ufffd" in text


def _plan_hosts(plan: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(str(h.get("host")) for h in plan.get("hosts", []) if isinstance(h, Mapping))
