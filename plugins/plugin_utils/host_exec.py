# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One raw command on a host from the controller process itself, through the host's own connection plugin.

The strategies of this collection probe hosts this way (:class:`ThreadedProbes`): a thread per host (each waiting on
its ``ssh``) instead of a forked worker per host, so a probe step costs the controller one connection set-up and one
parse per host, not a fork of the whole controller and a task executor, and every host's sampling window overlaps
whatever ``forks`` is. The connection is opened as a task's worker opens it (ansible-core's TaskExecutor): the play
context with the task and the host's vars applied, the plugin named by ``ansible_connection`` (or the play's), the
plugin's and its shell's options from the host's vars, and never become (reading /proc needs no privileges).

The result travels back like a worker's (:func:`send_result`), so the strategy's usual result processing runs the
callbacks, the stats and ``register``. Only this module knows how a result is shaped in each ansible-core version.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from collections.abc import Mapping
from typing import Any

from ansible import constants as C

# ansible-core >= 2.19: the template engine the strategies use (ansible.template.Templar wraps it)
from ansible._internal._templating._engine import TemplateEngine
from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.loader import connection_loader
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils.probe import (
    DEFAULT_INTERVAL,
    MAX_INTERVAL,
    PROBE_ACTION,
    probe_result,
)

try:  # ansible-core >= 2.21: a worker sends (host, task, UnifiedTaskResult)
    from ansible._internal._task import UnifiedTaskResult

    _RawTaskResult = None
except ImportError:  # 2.19, 2.20: a worker sends a _RawTaskResult
    UnifiedTaskResult = None
    from ansible.executor.task_result import _RawTaskResult

display = Display()

#: what ansible-core 2.21 registers for ``register: name`` (the task's whole result)
WHOLE_RESULT = "_task.polymorphic_result"
#: most probes in flight in threads at once; more than forks: a probe mostly sleeps through its sampling window
PROBE_FANOUT = 256


def open_connection(host, task, task_vars: dict, play_context, loader) -> tuple[Any, Any]:
    """Return ``(connection, play_context)`` for ``host``, set up as a worker would for ``task`` (no become)."""
    templar = TemplateEngine(loader=loader, variables=task_vars)
    context = play_context.set_task_and_variable_override(task=task, variables=task_vars, templar=templar)
    context.post_validate(templar=templar)
    if not context.remote_addr:
        context.remote_addr = host.address
    name = task_vars.get("ansible_connection")
    name = templar.template(name if name is not None else task.connection)
    connection = connection_loader.get(
        name, context, new_stdin=None, task_uuid=task._uuid, ansible_playbook_pid=str(os.getpid())
    )
    if connection is None:
        raise AnsibleError(f"the connection plugin {name!r} was not found")
    if hasattr(connection, "set_become_plugin"):
        connection.set_become_plugin(None)
    task_keys = task.dump_attrs()
    # as the TaskExecutor does: the connection timeout and password come through the play context
    task_keys["timeout"] = context.timeout
    if context.password:
        task_keys["password"] = context.password
    task_keys.pop("retries", None)
    connection.set_options(task_keys=task_keys, var_options=connection._resolve_option_variables(task_vars, templar))
    shell = connection._shell
    shell_vars = C.config.get_plugin_vars("shell", shell._load_name)
    shell.set_options(
        task_keys=task_keys, var_options={k: templar.template(task_vars[k]) for k in shell_vars if k in task_vars}
    )
    return connection, context


def run_raw(connection, context, command: str) -> dict[str, Any]:
    """Run ``command`` as the action plugins' low-level execute does (through the play's executable); never become."""
    if connection.allow_executable and context.executable:
        command = f"{context.executable} -c {shlex.quote(command)}"
    rc, stdout, stderr = connection.exec_command(command, in_data=None, sudoable=False)
    return {
        "rc": rc,
        "stdout": to_text(stdout, errors="surrogate_then_replace"),
        "stderr": to_text(stderr, errors="surrogate_then_replace"),
    }


def send_result(final_q, host, task, result: Mapping[str, Any], register: str | None) -> None:
    """Put ``result`` on the results queue as a worker would, registered as ``register`` (if any)."""
    result = dict(result)
    if UnifiedTaskResult is not None:
        utr = UnifiedTaskResult.from_action_result_dict(dict(result))
        # 2.21 registers what the worker projected; a probe registers its whole result
        utr.registered_values = {register: result} if register else {}
        final_q.send_task_result(host, task, utr)
    else:
        final_q.send_task_result(
            _RawTaskResult(host=host, task=task, return_data=result, task_fields=task.dump_attrs())
        )


def plain_probe_interval(task, task_vars: dict, loader) -> float | None:
    """The sampling interval when ``task`` is a plain one-exec probe a thread can run, else None (a worker runs it).

    Plain: ``azlin.fleet.probe_host`` with at most an ``interval`` (no wait, no TTL re-check); no loop, delegation,
    async, retries, result conditions, ``no_log`` or ``throttle``; its ``when`` true here. Anything else, or anything
    that does not template, goes to a worker, which runs it (or reports its error) exactly as for any task.
    """
    if getattr(task, "resolved_action", None) != PROBE_ACTION:
        return None
    if task.loop or task.loop_with or task.delegate_to or task.async_val or task.until:
        return None
    if task.changed_when or task.failed_when or task.ignore_unreachable or task.no_log or task.throttle:
        return None  # the worker applies these; a thread would skip them
    if isinstance(task.register, Mapping) and any(str(e) != WHOLE_RESULT for e in task.register.values()):
        return None  # 2.21 register projections: a worker evaluates them
    try:
        templar = TemplateEngine(loader=loader, variables=task_vars)
        args = templar.template(task.args)
        if set(args) - {"interval"} or not all(templar.evaluate_conditional(c) for c in task.when):
            return None
        interval = float(args.get("interval", DEFAULT_INTERVAL))
    except Exception:  # the worker templates it again and reports the error with the task's context
        return None
    return interval if 0 <= interval <= MAX_INTERVAL else None


def register_name(task) -> str | None:
    """The variable ``task`` registers its whole result as (None: it registers nothing)."""
    register = task.register
    if isinstance(register, Mapping):  # 2.21: {name: expression}
        return next(iter(register), None)
    return register or None


class ThreadedProbes:
    """Strategy mixin: run a plain probe in a thread of the controller process instead of a forked worker.

    What ``StrategyBase._queue_task`` does, with a thread in place of the worker: the queued-task entry, the
    ``v2_runner_on_start`` callback, one more pending result, and the result sent back on the results queue.
    """

    _probe_slots = threading.BoundedSemaphore(PROBE_FANOUT)

    def _start_probe_thread(self, host, task, task_vars, play_context, interval: float, register: str | None) -> bool:
        """Start ``task`` (a probe) on ``host`` in a thread; False if this process cannot open its connection."""
        try:
            connection, context = open_connection(host, task, task_vars, play_context, self._loader)
        except Exception as ex:  # a connection this step cannot open itself: a worker opens it, as for any task
            display.vvv(f"probing through a worker: {ex}", host=host.name)
            return False
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host,
            "task": task,
            "task_vars": task_vars,
            "play_context": play_context,
        }
        self._tqm.send_callback("v2_runner_on_start", host, task)
        self._pending_results += 1
        display.vvv("probing from a thread of the controller", host=host.name)
        threading.Thread(
            target=self._probe_in_thread,
            args=(host, task, connection, context, interval, register),
            name=f"fleet-probe-{host.name}",
            daemon=True,
        ).start()
        return True

    def _probe_in_thread(self, host, task, connection, context, interval: float, register: str | None) -> None:
        # runs beside the strategy loop; it only waits on the host's exec and hands the result to the results queue.
        # The strategy waits for this one result, so whatever happens, exactly one is sent.
        try:
            result = self._probe_once(connection, context, interval)
            send_result(self._final_q, host, task, result, register)
        except Exception as ex:
            send_result(
                self._final_q, host, task, {"changed": False, "failed": True, "msg": f"probe failed: {ex}"}, None
            )

    def _probe_once(self, connection, context, interval: float) -> dict[str, Any]:
        with self._probe_slots:
            try:
                result = probe_result(lambda command: run_raw(connection, context, command), interval, time.monotonic)
            except AnsibleConnectionFailure as ex:
                result = {"changed": False, "unreachable": True, "msg": str(ex)}
            except Exception as ex:  # the worker path turns any action error into a failed result too
                result = {"changed": False, "failed": True, "msg": f"probe failed: {ex}"}
            finally:
                try:
                    connection.close()
                except Exception:  # closing a persisted connection only forgets it; nothing to report
                    pass
        return result
