# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a host's workflow steps: the argv, retries, attempt outcomes, health check, ``when`` gate, rollout.

The ``run_steps`` action supplies the I/O (``execute`` runs a module or the command on the host, ``sleep``
waits, ``slot`` holds a step's throttle slot); everything here decides what to run and how to record it.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import evaluate_gate, parse_gate
from ansible_collections.azlin.fleet.plugins.plugin_utils.probe import DEFAULT_INTERVAL, PROBE_ACTION
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import Health, Step, Workflow, order_steps
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_run import decide_start
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_state import FAILED, decide_step, record_status

#: Runs one module on the host: (module name, args) -> result dict; ``{"unreachable": True}`` on connection loss.
Execute = Callable[[str, dict[str, Any]], Mapping[str, Any]]
#: Exit codes of coreutils ``timeout``: 124 after TERM, 137 when ``--kill-after`` had to KILL.
TIMEOUT_RCS = frozenset({124, 137})
MAX_RETRY_DELAY = 60.0
#: Characters of a step's stdout (and of its stderr) that leave the worker process: the rest is cut here, on the
#: controller's worker, so a host printing gigabytes never reaches the controller's main process, its registered
#: variables or the report several times over. The report keeps a smaller excerpt still (its max_output).
STEP_OUTPUT_LIMIT = 1 << 20
#: A step's ``when`` gate reads the routing probe (PROBE_ACTION: one SSH exec, no Python on the host), sampling CPU
#: over the routing probe's window.
WHEN_PROBE_INTERVAL = DEFAULT_INTERVAL
#: Seconds past a step's own timeout after which the controller stops waiting for the host: ``timeout`` on the
#: host kills the command 5 s after the limit, so only a frozen host or a cut network is still silent then.
DEADLINE_MARGIN = 15.0


def deadline_for(step: Step) -> float | None:
    """The controller-side deadline of one attempt of a step: its timeout plus a margin (None: no timeout)."""
    return step.timeout + DEADLINE_MARGIN if step.timeout else None


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


#: The part of a step's script that ties the command to its SSH session: it finds the sshd process serving it,
#: starts the command in a process group of its own (setsid, where the host has it) and, should that sshd go away
#: (the run was cancelled, the controller died), stops the whole group: TERM, then KILL 5 s later. Without this
#: the command would run to its end on the host with nobody to report to. The sshd is looked up in /proc rather
#: than with ``kill -0``: a become step runs as another user, who may not signal root's sshd.
_SESSION_GUARD = """s=$PPID
while [ "${s:-1}" -gt 1 ]; do case "$(cat /proc/$s/comm 2>/dev/null)" in sshd*) break;; esac
s=$(sed 's/.*) [A-Za-z] \\([0-9]*\\).*/\\1/' /proc/$s/stat 2>/dev/null); done
if command -v setsid >/dev/null 2>&1; then g=setsid; else g=; fi
"""
_SESSION_WAIT = """c=$!
( while kill -0 "$c" 2>/dev/null; do
    if [ "${s:-1}" -gt 1 ] && [ ! -d "/proc/$s" ]; then
      kill -TERM -"$c" "$c" 2>/dev/null; sleep 5; kill -KILL -"$c" "$c" 2>/dev/null; exit 0
    fi; sleep 1; done ) </dev/null >/dev/null 2>&1 &
w=$!
wait "$c"; r=$?
kill "$w" 2>/dev/null
exit "$r"
"""


def shell_script(
    argv: Sequence[str], stdin: str | None, env: Mapping[str, str], chdir: str | None, delimiter: str
) -> str:
    """The text fed to ``/bin/sh -s`` on the host that runs a step without Python, in one SSH exec.

    The command, its environment and a script body travel on stdin, never in an argv that ``ps`` shows on the
    controller or the host. The command's own stdin is /dev/null, or the script (a quoted here-document ended
    by ``delimiter``, which must not occur in it). The command ends with its SSH session (``_SESSION_GUARD``):
    a cancelled run leaves nothing running on the host.
    """
    lines = [f"export {name}={shlex.quote(str(value))}" for name, value in env.items()]
    if chdir:
        lines.append(f"cd -- {shlex.quote(chdir)} || exit 1")
    lines.append(_SESSION_GUARD.rstrip("\n"))
    command = "$g " + shlex.join(argv)
    if stdin is None:
        lines.append(command + " </dev/null &")
    else:
        body = stdin if stdin.endswith("\n") else stdin + "\n"
        lines.append(f"{command} <<'{delimiter}' &\n{body}{delimiter}")
    lines.append(_SESSION_WAIT.rstrip("\n"))
    return "\n".join(lines) + "\n"


def retry_delay(attempt: int, base: float) -> float:
    """Backoff before retry number ``attempt`` (1-based): base, 2*base, 4*base ... at most 60 s."""
    return min(base * (2 ** (attempt - 1)), MAX_RETRY_DELAY)


def classify_attempt(step: Step, result: Mapping[str, Any]) -> tuple[str, str]:
    """(status, reason) of one command attempt."""
    if result.get("deadline_exceeded"):
        return "timeout", (
            f"no answer from the host within {result.get('deadline')}s: frozen or cut off (controller deadline)"
        )
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


@dataclass(frozen=True, slots=True)
class Rollout:
    """The rollout rules a host checks before its first step: stop at the first failure, or an error budget."""

    stop_on_failure: bool = False
    max_failures: int | None = None  # failed hosts tolerated (already resolved against the host count)

    @property
    def applies(self) -> bool:
        return self.stop_on_failure or self.max_failures is not None


#: Holds a throttle slot of a step for as long as the step runs on this host (a context manager factory).
Slot = Callable[[Step], AbstractContextManager[None]]


def run_segment(
    workflow: Workflow,
    names: Sequence[str],
    mine: dict[str, dict[str, Any]],
    *,
    execute: Execute,
    sleep: Callable[[float], None],
    slot: Slot,
    tally: Mapping[str, Any] | None = None,
    rollout: Rollout = Rollout(),
    scripts: Mapping[str, str] | None = None,
    base_delay: float = 2.0,
    down: str | None = None,
) -> list[dict[str, Any]]:
    """Walk one host through the steps ``names`` of a segment (in run order); return one entry per step.

    ``mine`` is this host's step states so far and is updated in place. A step starts as soon as its
    ``requires`` succeeded here (and, for fleet-wide ones, everywhere: ``tally``); a failed step blocks its
    dependents on this host only and runs its ``on_failure`` step here. A host that has not started yet first
    checks the ``rollout`` rules against the hosts that failed in earlier batches (``tally["failed"]``). A host
    known to be ``down`` (e.g. its VM failed to wake) records every step ``unreachable`` with that reason and is
    never contacted.
    """
    entries: list[dict[str, Any]] = []
    if down is not None and not mine:
        for name in order_steps(workflow):
            mine[name] = record_status(workflow.step(name), "unreachable", down)
            entries.append(step_entry(name, mine[name]))
        return entries
    if not mine and rollout.applies:
        failed = dict((tally or {}).get("failed", {}))
        start = decide_start(failed, max_failures=rollout.max_failures, stop_on_failure=rollout.stop_on_failure)
        if start.action != "run":
            for name in order_steps(workflow):
                mine[name] = record_status(workflow.step(name), start.action, start.reason, start.cause)
                entries.append(step_entry(name, mine[name]))
            return entries
    for name in names:
        if name in mine:
            continue
        step = workflow.step(name)
        decision = decide_step(workflow, name, mine, tally)
        if decision.action == "wait":
            raise FleetUsageError(
                f"Step {name!r}",
                f"reached before its dependencies ran ({decision.reason})",
                "This is a planning bug: the segments must follow the dependency order.",
            )
        if decision.action != "run":
            mine[name] = record_status(step, decision.action, decision.reason, decision.cause)
            entries.append(step_entry(name, mine[name]))
            continue
        entry = _run_one(
            step, mine, execute=execute, sleep=sleep, slot=slot, scripts=scripts or {}, base_delay=base_delay
        )
        entries.append(entry)
        if step.on_failure and mine[name]["status"] in FAILED:
            handler = workflow.step(step.on_failure)
            entries.append(
                _run_one(
                    handler,
                    mine,
                    execute=execute,
                    sleep=sleep,
                    slot=slot,
                    scripts=scripts or {},
                    base_delay=base_delay,
                    trigger=name,
                )
            )
    return entries


def cap_output(text: str, limit: int = STEP_OUTPUT_LIMIT) -> str:
    """Keep the head and the tail of an output longer than ``limit`` characters, with a marker between that gives
    the whole output's size and SHA-256 (so outputs that differ only in the cut part still group apart)."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    half = limit // 2
    marker = (
        f"\n[... {len(text) - 2 * half} characters cut before leaving the worker; the whole output was "
        f"{len(text)} characters, sha256 {digest} ...]\n"
    )
    return text[:half] + marker + text[-half:]


def step_entry(
    name: str, state: Mapping[str, Any], shown: str | None = None, result: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One element of ``fleet_steps``: the step's report status (an ignored failure shows as that failure, with
    ``ignored``), its reason and, when it ran, the command's rc, streams, attempts and times."""
    status = shown or state.get("failure") or state["status"]
    entry: dict[str, Any] = {
        "step": name,
        "status": status,
        "reason": state.get("reason", ""),
        "cause": state.get("cause"),
        "ignored": state["status"] == "ignored",
    }
    for key in ("rc", "stdout", "stderr", "start", "end", "delta", "duration", "attempts", "health", "binary"):
        if result is not None and key in result:
            entry[key] = (
                cap_output(result[key]) if key in ("stdout", "stderr") and isinstance(result[key], str) else result[key]
            )
    return entry


def _run_one(
    step: Step,
    mine: dict[str, dict[str, Any]],
    *,
    execute: Execute,
    sleep: Callable[[float], None],
    slot: Slot,
    scripts: Mapping[str, str],
    base_delay: float,
    trigger: str | None = None,
) -> dict[str, Any]:
    """Run one step on this host (gate, attempts, health), record its state in ``mine``; return its entry."""
    with slot(step):
        if step.when:
            probe = execute(PROBE_ACTION, {"interval": WHEN_PROBE_INTERVAL, "deadline": DEADLINE_MARGIN * 2})
            if probe.get("unreachable") or probe.get("failed"):
                passes, why = False, f"unmeasurable: {probe.get('msg', 'probe failed')}"
            else:
                passes, why = evaluate_when(step.when, probe.get("metrics", probe))
            if not passes:
                mine[step.name] = record_status(step, "skipped", f"gate {step.when!r} not met: {why}")
                return step_entry(step.name, mine[step.name], shown="gated")
        argv, stdin = build_argv(step, scripts.get(step.name))
        module_args: dict[str, Any] = {
            "argv": argv,
            "env": dict(step.env),
            "become": step.become,
            "deadline": deadline_for(step),
        }
        if stdin is not None:
            module_args["stdin"] = stdin
        if step.chdir:
            module_args["chdir"] = step.chdir
        status, reason, last, attempts = "failed", "", {}, 0
        for attempt in range(1, step.retries + 2):
            if attempt > 1:
                sleep(retry_delay(attempt - 1, base_delay))
            last = execute("ansible.builtin.command", module_args)
            attempts = attempt
            status, reason = classify_attempt(step, last)
            if status == "ok":
                break
        health: dict[str, Any] | None = None
        if status == "ok" and step.health is not None:
            check = execute(
                "azlin.fleet.health_check",
                {**health_args(step.health), "deadline": step.health.timeout + DEADLINE_MARGIN},
            )
            if check.get("unreachable") or check.get("failed"):
                status, reason = "failed", f"unhealthy: {check.get('msg', 'health check failed')}"
                health = {k: check[k] for k in ("healthy", "probes", "elapsed", "last", "msg") if k in check}
    if trigger is not None:
        reason = f"on_failure of {trigger!r}" + (f"; {reason}" if reason else "")
    if attempts > 1 and status == "ok":
        reason = f"succeeded on attempt {attempts}"
    mine[step.name] = record_status(step, status, reason)
    result = dict(last, attempts=attempts)
    if health is not None:
        result["health"] = health
    return step_entry(step.name, mine[step.name], result=result)
