# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: probe_fanout
short_description: Linear, with every host's probe at once from threads of the controller
version_added: "0.2.0"
description:
  - The P(ansible.builtin.linear#strategy) strategy, except for plain probe tasks. A M(azlin.fleet.probe_host) task
    with at most an C(interval) (no C(wait_for), no C(ttl)), without loop, delegation, async, retries, result
    conditions, C(no_log) or C(throttle), whose C(when) holds, runs in a thread of the controller process through
    the host's own connection plugin and options, as the P(azlin.fleet.least_loaded#strategy) strategy probes,
    instead of in a forked worker.
  - So the sampling intervals of all hosts overlap (up to 256 hosts at once, whatever C(forks)) and the probe step
    costs the controller one connection set-up and one parse per host rather than a fork of the controller per
    host. The result is registered, reported and counted exactly as a worker's (an unreachable host is
    C(unreachable), an unusable answer makes the host C(unmeasurable)).
  - Every other task, and a probe whose connection this process cannot open itself, runs in a worker as with
    P(ansible.builtin.linear#strategy).
  - The playbook C(azlin.fleet.probe) (and so C(azlin.fleet.run), C(azlin.fleet.workflow) and C(azlin-fleet)) probes
    with this strategy.
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
# Probe a large fleet in one sampling window, then use the metrics in the same play
- hosts: all
  strategy: azlin.fleet.probe_fanout
  gather_facts: false
  tasks:
    - name: Probe host metrics
      azlin.fleet.probe_host:
        interval: 0.5
      register: fleet_probe

    - name: Show the CPU
      ansible.builtin.debug:
        msg: "{{ fleet_probe.metrics.cpu | default('unmeasurable') }}"
"""

from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule

from ansible_collections.azlin.fleet.plugins.plugin_utils.host_exec import (
    ThreadedProbes,
    plain_probe_interval,
    register_name,
)


class StrategyModule(ThreadedProbes, LinearStrategyModule):
    """A variant of linear by one hook: where a task is queued."""

    def _queue_task(self, host, task, task_vars, play_context):
        interval = plain_probe_interval(task, task_vars, self._loader)
        if interval is None or not self._start_probe_thread(
            host, task, task_vars, play_context, interval, register_name(task)
        ):
            super()._queue_task(host, task, task_vars, play_context)
