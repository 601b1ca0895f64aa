# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One raw command on a host from the controller process itself, through the host's own connection plugin.

The ``least_loaded`` strategy probes its hosts this way: a thread per host (each waiting on its ``ssh``) instead of
a forked worker per host, so the probe step costs the controller one connection set-up and one parse per host, not
a fork of the whole controller and a task executor. The connection is opened as a task's worker opens it
(ansible-core's TaskExecutor): the play context with the task and the host's vars applied, the plugin named by
``ansible_connection`` (or the play's), the plugin's and its shell's options from the host's vars, and never
become (reading /proc needs no privileges).

The result travels back like a worker's (:func:`send_result`), so the strategy's usual result processing runs the
callbacks, the stats and ``register``. Only this module knows how a result is shaped in each ansible-core version.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from typing import Any

from ansible import constants as C

# ansible-core >= 2.19: the template engine the strategies use (ansible.template.Templar wraps it)
from ansible._internal._templating._engine import TemplateEngine
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.loader import connection_loader

try:  # ansible-core >= 2.21: a worker sends (host, task, UnifiedTaskResult)
    from ansible._internal._task import UnifiedTaskResult

    _RawTaskResult = None
except ImportError:  # 2.19, 2.20: a worker sends a _RawTaskResult
    UnifiedTaskResult = None
    from ansible.executor.task_result import _RawTaskResult


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


def send_result(final_q, host, task, result: Mapping[str, Any], register: str) -> None:
    """Put ``result`` on the results queue as a worker would, registered as ``register``."""
    result = dict(result)
    if UnifiedTaskResult is not None:
        utr = UnifiedTaskResult.from_action_result_dict(dict(result))
        # 2.21 registers what the worker projected; a probe registers its whole result
        utr.registered_values = {register: result}
        final_q.send_task_result(host, task, utr)
    else:
        final_q.send_task_result(
            _RawTaskResult(host=host, task=task, return_data=result, task_fields=task.dump_attrs())
        )
