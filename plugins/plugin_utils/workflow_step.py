# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running one workflow step on one host: the argv, retries, attempt outcomes, health check and ``when`` gate.

The ``run_step`` action supplies the I/O (``execute`` runs a module on the host, ``sleep`` waits); everything
here decides what to run and how to record it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import evaluate_gate, parse_gate
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import Decision, Health, Step, parse_workflow
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_run import budget_limit, decide_start, parse_budget
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_state import States, decide_step, record_status

#: Runs one module on the host: (module name, args) -> result dict; ``{"unreachable": True}`` on connection loss.
Execute = Callable[[str, dict[str, Any]], Mapping[str, Any]]
#: Exit codes of coreutils ``timeout``: 124 after TERM, 137 when ``--kill-after`` had to KILL.
TIMEOUT_RCS = frozenset({124, 137})
MAX_RETRY_DELAY = 60.0


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


def retry_delay(attempt: int, base: float) -> float:
    """Backoff before retry number ``attempt`` (1-based): base, 2*base, 4*base ... at most 60 s."""
    return min(base * (2 ** (attempt - 1)), MAX_RETRY_DELAY)


def classify_attempt(step: Step, result: Mapping[str, Any]) -> tuple[str, str]:
    """(status, reason) of one command attempt."""
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


def run_step(
    workflow_data: Mapping[str, Any], step_name: str, host: str, hosts: Sequence[str], states: States, *,
    execute: Execute, sleep: Callable[[float], None],
    judge_when: Callable[[str, Mapping[str, Any]], tuple[bool, str]] = evaluate_when, trigger: str | None = None,
    stop_on_failure: bool = False, max_failures: Any = None, base_delay: float = 2.0, script_text: str | None = None,
) -> dict[str, Any]:
    """Decide and, if allowed, run one step on one host; return the task result (with ``fleet_*`` keys).

    ``judge_when(gate, metrics) -> (passes, reason)`` judges a step's ``when`` gate on fresh probe metrics.
    """
    workflow = parse_workflow(workflow_data)
    step = workflow.step(step_name)
    mine = {k: dict(v) for k, v in states.get(host, {}).items()}
    if trigger is not None:
        decision = Decision(step_name, "run", f"on_failure of {trigger!r}")
    else:
        decision = decide_step(workflow, step_name, host, states)
        if decision.action == "run" and (stop_on_failure or max_failures not in (None, "")):
            outcomes = {h: states[h][step_name]["status"] for h in hosts if step_name in states.get(h, {})}
            limit = budget_limit(parse_budget(max_failures), len(hosts))
            decision = decide_start(host, hosts, outcomes, max_failures=limit, stop_on_failure=stop_on_failure)
            decision = Decision(step_name, decision.action, decision.reason, decision.cause)
    if decision.action == "wait":
        raise FleetUsageError(f"Step {step_name!r}", f"started on {host!r} before its dependencies finished "
                              f"({decision.reason})", "Run the steps in the order of the workflow plan.")
    result: dict[str, Any] = {"changed": False, "failed": False, "fleet_step": step_name, "fleet_attempts": 0}
    if decision.action != "run":
        mine[step_name] = record_status(step, decision.action, decision.reason, decision.cause)
        return _finish(result, mine, step_name)
    if step.when:
        probe = execute("azlin.fleet.fleet_probe", {})
        if probe.get("unreachable") or probe.get("failed"):
            passes, why = False, f"unmeasurable: {probe.get('msg', 'probe failed')}"
        else:
            passes, why = judge_when(step.when, probe.get("metrics", probe))
        if not passes:
            mine[step_name] = record_status(step, "skipped", f"gate {step.when!r} not met: {why}")
            result["fleet_report_status"] = "gated"
            return _finish(result, mine, step_name)
    argv, stdin = build_argv(step, script_text)
    module_args: dict[str, Any] = {"argv": argv}
    if stdin is not None:
        module_args["stdin"] = stdin
    if step.chdir:
        module_args["chdir"] = step.chdir
    status, reason, last = "failed", "", {}
    for attempt in range(1, step.retries + 2):
        if attempt > 1:
            sleep(retry_delay(attempt - 1, base_delay))
        last = execute("ansible.builtin.command", module_args)
        result["fleet_attempts"] = attempt
        status, reason = classify_attempt(step, last)
        if status == "ok":
            break
    if status == "ok" and step.health is not None:
        check = execute("azlin.fleet.health_check", health_args(step.health))
        if check.get("unreachable") or check.get("failed"):
            status, reason = "failed", f"unhealthy: {check.get('msg', 'health check failed')}"
            result["fleet_health"] = {
                k: check[k] for k in ("healthy", "probes", "elapsed", "last", "msg") if k in check
            }
    if trigger is not None:
        reason = f"on_failure of {trigger!r}" + (f"; {reason}" if reason else "")
    if result["fleet_attempts"] > 1 and status == "ok":
        reason = f"succeeded on attempt {result['fleet_attempts']}"
    for key in ("rc", "stdout", "stderr", "cmd", "delta", "start", "end"):
        if key in last:
            result[key] = last[key]
    if last.get("unreachable"):
        result["msg"] = last.get("msg", "")
    result["changed"] = True
    mine[step_name] = record_status(step, status, reason)
    return _finish(result, mine, step_name)


def _finish(result: dict[str, Any], mine: dict[str, Any], step_name: str) -> dict[str, Any]:
    entry = mine[step_name]
    status = entry["status"]
    # The report shows the raw failure of a continue_on_error step; the playbook marks it ignored.
    shown = result.pop("fleet_report_status", None) or (
        entry["reason"].split(" ", 1)[0] if status == "ignored" else status
    )
    result.update(
        fleet_status=shown,
        fleet_reason=entry["reason"],
        fleet_states=mine,
        failed=status in {"failed", "timeout", "unreachable", "ignored"},
    )
    if result["failed"] and "msg" not in result:
        result["msg"] = f"step {step_name!r} {status}: {entry['reason']}"
    return result
