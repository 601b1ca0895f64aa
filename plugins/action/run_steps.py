# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Documentation: plugins/modules/run_steps.py (ansible-doc -t module azlin.fleet.run_steps).
import contextlib
import fcntl
import os
import signal
import tempfile
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.probe import PROBE_ACTION, ProbeOutputError, measure_with
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import workflow_from_steps
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_run import budget_limit, parse_budget
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_state import FAILED
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_step import Rollout, run_segment, shell_script

display = Display()

ARGUMENT_SPEC = {
    "plan": {"type": "dict", "required": True},
    "segment": {"type": "int", "required": True},
    "tally": {"type": "dict"},
    "wake": {"type": "dict"},
    "states_var": {"type": "str", "default": "fleet_step_last"},
}
#: How often a host waiting for a throttled step's slot looks again.
SLOT_POLL = 0.2


class ActionModule(ActionBase):
    """Thin adapter: this host's states in, one ``run_segment`` call, the step entries out."""

    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        self._fleet_task_vars = task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = task_vars["inventory_hostname"]
        plan = args["plan"]
        last = task_vars.get(args["states_var"])
        mine = {k: dict(v) for k, v in (last.get("fleet_states") or {}).items()} if hasattr(last, "get") else {}
        try:
            workflow = workflow_from_steps(plan["name"], plan["steps"])
            names = plan["segments"][args["segment"]]
            budget = parse_budget(plan.get("max_failures"))
            rollout = Rollout(
                stop_on_failure=bool(plan.get("stop_on_failure")),
                max_failures=budget_limit(budget, len(task_vars.get("ansible_play_hosts_all") or ())),
            )
            entries = run_segment(
                workflow,
                names,
                mine,
                execute=self._execute,
                sleep=time.sleep,
                slot=self._slot_for(plan),
                tally=args["tally"],
                rollout=rollout,
                scripts=_read_scripts(workflow, names),
                base_delay=float(plan.get("retry_delay", 2)),
                down=_down_reason(args["wake"]),
            )
        except FleetError as ex:
            result.update(failed=True, msg=ex.message, fleet_internal_error=ex.message, fleet_states=mine)
            return result
        except Exception as ex:  # noqa: BLE001 -- a bookkeeping bug must reach the report as an internal error
            result.update(
                failed=True,
                msg=f"Running the steps failed: {ex!r}",
                fleet_internal_error=traceback.format_exc(),
                fleet_states=mine,
            )
            return result
        for entry in entries:
            display.vvv(f"step {entry['step']!r}: {entry['status']} {entry['reason']}", host=host)
        failed = [e for e in entries if e["status"] in FAILED and not e["ignored"]]
        result.update(
            changed=any("rc" in e for e in entries),
            failed=bool(failed),
            fleet_steps=entries,
            fleet_states=mine,
        )
        if failed:
            result["msg"] = "; ".join(f"step {e['step']!r} {e['status']}: {e['reason']}" for e in failed)
        return result

    def _slot_for(self, plan):
        """A context manager factory holding one of a throttled step's N slots while it runs on this host.

        The slots are ``flock`` locks on N files of a private per-run directory: every worker process of this
        run sees them, and a worker that dies releases its slot with its file descriptors.
        """
        run_id = str(plan.get("run_id") or "run")

        @contextlib.contextmanager
        def slot(step):
            if not step.throttle:
                yield
                return
            lock_dir = Path(tempfile.gettempdir()) / f"azlin-fleet-{os.getuid()}" / "throttle" / run_id
            lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            while True:
                for number in range(step.throttle):
                    path = lock_dir / f"{step.name}.{number}.lock"
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        os.close(fd)
                        continue
                    try:
                        yield
                    finally:
                        os.close(fd)
                    return
                time.sleep(SLOT_POLL)

        return slot

    def _execute(self, module, module_args):
        """Run one module (or the plain command) on the host; a lost connection is an ``unreachable`` result.

        With a ``deadline`` (seconds) the controller stops waiting then: the exec runs in a thread, and at the
        deadline this worker's SSH client processes are killed, which ends the exec. ``timeout`` on the host cannot
        fire on a frozen host or across a cut network; this can.
        """
        args = dict(module_args)
        deadline = args.pop("deadline", None)
        started = time.monotonic()
        box: dict = {}
        outcome = box  # the thread writes here, never into what the deadline puts in its place

        def work():
            try:
                if module == "ansible.builtin.command":
                    outcome["out"] = self._run_command(args)
                elif module == PROBE_ACTION:
                    outcome["out"] = self._probe(args["interval"])
                else:
                    outcome["out"] = dict(
                        self._execute_module(module_name=module, module_args=args, task_vars=self._fleet_task_vars)
                    )
            except AnsibleConnectionFailure as ex:
                outcome["out"] = {"unreachable": True, "msg": to_text(ex)}
            except BaseException as ex:  # noqa: BLE001 -- handed to the waiting thread, re-raised there
                outcome["error"] = ex

        if deadline is None:
            work()
        else:
            thread = threading.Thread(target=work, name="azlin-fleet-exec", daemon=True)
            thread.start()
            thread.join(deadline)
            if thread.is_alive():
                _kill_ssh_children()
                thread.join(10)
                # whatever the exec reports after its SSH client was killed, the cause is the deadline
                box = {
                    "out": {
                        "deadline_exceeded": True,
                        "deadline": deadline,
                        "unreachable": True,
                        "msg": f"no answer within {deadline}s (controller deadline)",
                    },
                    "late": box,
                }
        if "error" in box:
            raise box["error"]
        out = dict(box["out"])
        if out.get("unreachable"):
            try:
                self._connection.reset()
            except AnsibleConnectionFailure as reset_ex:
                display.vvvv(f"connection reset failed: {to_text(reset_ex)}")
        out["duration"] = round(time.monotonic() - started, 3)
        return out

    def _probe(self, interval):
        """Measure this host for a step's ``when`` gate: the routing probe, one SSH exec, no Python needed."""
        try:
            metrics = measure_with(lambda cmd: self._low_level_execute_command(cmd, sudoable=False), interval)
        except ProbeOutputError as ex:
            return {"failed": True, "msg": str(ex)}
        return {"metrics": metrics}

    def _run_command(self, args):
        """Run a step's command: one SSH exec of ``/bin/sh -s`` with the step on stdin, become steps included.

        Why not the command module: it starts Python on every host for every command, which on a fleet costs more
        than the command itself; a plain exec is what clush does. The command, its environment and script travel on
        stdin (``shell_script``), so no secret shows in an argv, and the script's session guard stops the command
        when the run is cancelled. A become step runs the same script under the task's become settings (the play
        turns become on when any step asks for it), as Ansible pipelines a module; only a become method that cannot
        take data on stdin (``su`` asks for its password on a terminal) falls back to the command module.
        """
        env, become = args.pop("env", {}), args.pop("become", False)
        escalation = self._connection.become if become else None
        if escalation is not None and not escalation.pipelining:
            self._task.environment = [env]  # this worker's own copy of the task: the step's environment
            return dict(
                self._execute_module(
                    module_name="ansible.builtin.command", module_args=args, task_vars=self._fleet_task_vars
                )
            )
        delimiter = f"AZLIN_FLEET_EOF_{uuid.uuid4().hex}"
        script = shell_script(args["argv"], args.get("stdin"), env, args.get("chdir"), delimiter)
        start = datetime.now(UTC)
        res = self._low_level_execute_command("/bin/sh -s", sudoable=escalation is not None, in_data=script)
        end = datetime.now(UTC)
        rc = res.get("rc")
        return {
            "rc": rc,
            "stdout": to_text(res.get("stdout", ""), errors="surrogate_then_replace").rstrip("\r\n"),
            "stderr": to_text(res.get("stderr", ""), errors="surrogate_then_replace").rstrip("\r\n"),
            "cmd": args["argv"],
            "start": str(start),
            "end": str(end),
            "delta": str(end - start),
            "changed": True,
            "failed": rc != 0,
        }


def _down_reason(wake):
    """Why this host cannot run, from its entry of the wake step (None: it is up, or was never asleep)."""
    if not wake or wake.get("status") != "failed_to_wake":
        return None
    error = wake.get("error") or "the start operation failed"
    return f"its VM could not be woken: {error}"


def _kill_ssh_children():
    """End the SSH clients this worker started (the exec past its deadline): their pipes close, the exec returns."""
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue
        if int(fields[1]) == me and comm in ("ssh", "sshpass"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _read_scripts(workflow, names):
    """The text of each script step of the segment (and of its on_failure steps), read on the controller."""
    wanted = set(names) | {workflow.step(n).on_failure for n in names if workflow.step(n).on_failure}
    scripts = {}
    for step in workflow.steps:
        if step.name in wanted and step.script:
            try:
                scripts[step.name] = Path(step.script).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as ex:
                raise FleetError(
                    f"Script of step {step.name!r}",
                    f"cannot be read ({ex})",
                    "Keep the script next to the workflow file.",
                ) from None
    return scripts
