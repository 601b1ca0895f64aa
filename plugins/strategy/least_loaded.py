# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: least_loaded
short_description: Run a play on the least-loaded hosts first, only where a gate holds
version_added: "0.1.0"
description:
  - Host-pinned scheduling (like P(ansible.builtin.host_pinned#strategy)) with a probe step. At play start every
    targeted host is probed at once, one SSH exec each and no Python needed on the host, with the command and the
    parser of M(azlin.fleet.probe_host) (the result is registered as C(fleet_probe)). The probes run in threads of
    the controller process through each host's own connection plugin and options, not in a forked worker per
    host, so the sampling intervals of all hosts overlap (up to 256 at once, whatever C(forks)) and the step costs
    the controller one connection set-up and one parse per host. Hosts are gated, scored, ordered least loaded
    first (ties by name) and the best C(fleet_count) are selected.
  - Selected hosts start in that order, at most C(fleet_parallel) at a time; each runs all its tasks through.
  - When the order cannot change anything - no C(fleet_count), a slot for every host (C(fleet_parallel) and
    C(forks) at least the number of hosts), gate mode V(skip), not a dry run - each host starts as soon as its own
    probe is in and passes its gate, without waiting for the slowest host's probe. The plan is announced once every
    probe is in, exactly as it would have been built at once.
  - A selected host whose metrics are older than C(fleet_probe_ttl) is re-probed (and re-gated) before it starts,
    while the hosts already running go on; hosts after it in the order wait for that re-probe, so the order holds.
  - In gate mode V(wait) only the gated hosts are re-probed (by M(azlin.fleet.probe_host) in a worker per gated
    host), and the wait is timed by the controller's monotonic clock.
  - Gated, unmeasurable (probe failed) and not-selected hosts run nothing. The whole plan is sent to callbacks as
    the custom event C(v2_playbook_on_fleet_plan(plan)) (sent again if a re-probe changes it) and printed.
  - Settings are play vars (or extra vars), read once at play start. The same decisions are available without
    this strategy through the M(azlin.fleet.route) action, since ansible-core 2.19 warns about every strategy
    plugin outside ansible.builtin.
  - Not supported, as with the free strategy it builds on, and warned about by it - C(max_fail_percentage),
    C(run_once), C(any_errors_fatal).
options:
  fleet_gate:
    description:
      - Gate every host must pass to run, e.g. V(idle), V(cpu<50), V(mem<80 and load<0.7), V(users==0).
      - Unset runs on every measurable host.
    type: str
    vars: [{name: fleet_gate}]
  fleet_gate_mode:
    description:
      - V(skip) reports gated hosts with the reason and runs nothing on them. V(wait) re-probes gated hosts every
        C(fleet_probe_interval) until they pass or C(fleet_gate_timeout) passes.
    type: str
    choices: [skip, wait]
    default: skip
    vars: [{name: fleet_gate_mode}]
  fleet_gate_timeout:
    description: Seconds to wait for gated hosts in V(wait) mode.
    type: float
    default: 300
    vars: [{name: fleet_gate_timeout}]
  fleet_route_by:
    description: Score to order by. V(score) is the max of cpu %, mem % and 100*load1/cpus.
    type: str
    choices: [score, cpu, mem, load]
    default: score
    vars: [{name: fleet_route_by}]
  fleet_count:
    description: Run only on the N least-loaded hosts that pass the gate. Unset runs on all of them.
    type: int
    vars: [{name: fleet_count}]
  fleet_parallel:
    description:
      - At most this many hosts run at once, as a number (V(5)) or a share of the targeted hosts (V(25%)).
      - Unset uses forks.
    type: str
    vars: [{name: fleet_parallel}]
  fleet_probe_ttl:
    description: Metrics older than this many seconds are re-probed before a host starts.
    type: float
    default: 60
    vars: [{name: fleet_probe_ttl}]
  fleet_probe_interval:
    description:
      - CPU sampling interval of the probe in seconds (fractions allowed). CPU % is the average over this window.
      - "Trade-off: longer windows smooth short bursts, shorter ones start the play sooner. All hosts are probed at
        the same time, so the play start is delayed by about one interval, whatever the number of hosts."
    type: float
    default: 0.4
    vars: [{name: fleet_probe_interval}]
  fleet_dry_run:
    description: Probe and print the plan (order, metrics, verdicts) but run no task on any host.
    type: bool
    default: false
    vars: [{name: fleet_dry_run}]
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
# Run on every host, least loaded first, 2 at a time
- hosts: pool_web_servers
  strategy: azlin.fleet.least_loaded
  vars:
    fleet_parallel: 2
  tasks:
    - name: Run the tests
      ansible.builtin.command: npm test

# Only the 3 least-loaded hosts whose CPU is below 50 %
- hosts: pool_ci
  strategy: azlin.fleet.least_loaded
  vars:
    fleet_gate: cpu<50
    fleet_count: 3
  tasks:
    - name: Build
      ansible.builtin.command: make

# Show the plan only: ansible-playbook site.yml -e fleet_dry_run=true -e fleet_gate=idle
"""

import gc
import time

from ansible.errors import AnsibleError
from ansible.executor.play_iterator import IteratingStates
from ansible.playbook.block import Block
from ansible.plugins.strategy.host_pinned import StrategyModule as HostPinnedStrategyModule
from ansible.template import Templar
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.gates import compile_gate
from ansible_collections.azlin.fleet.plugins.plugin_utils.host_exec import PROBE_FANOUT, ThreadedProbes
from ansible_collections.azlin.fleet.plugins.plugin_utils.probe import PROBE_ACTION
from ansible_collections.azlin.fleet.plugins.plugin_utils.routing import (
    PLAN_EVENT,
    SETTING_VARS,
    Arrivals,
    RouteRun,
    build_plan,
    is_stale,
    next_wait,
    parse_parallel,
    parse_settings,
    plan_summary,
    probe_from_result,
    recheck_host,
    selected_hosts,
    starts_on_arrival,
)

display = Display()

PROBE_VAR = "fleet_probe"


def _task_uuid(result) -> str | None:
    # the task of a result: ``task`` since 2.21 (HostTaskResult), ``_task`` before; a copy of the queued one
    task = getattr(result, "task", None) or getattr(result, "_task", None)
    return getattr(task, "_uuid", None)


class StrategyModule(ThreadedProbes, HostPinnedStrategyModule):
    def __init__(self, tqm) -> None:
        super().__init__(tqm)
        # the routing of this play; None until the probe step has run
        self._route: RouteRun | None = None
        self._probe_context = None
        # the TTL re-probe in flight: (host name, task), and the hosts held back (blocked) until theirs is done
        self._reprobe: tuple[str, object] | None = None
        self._held: set[str] = set()
        # hosts re-probed just before their start: fresh for their dispatch, whatever the TTL
        self._reprobed: set[str] = set()
        # when hosts start on arrival: the probes in so far, and the probe task in flight
        self._arrivals: Arrivals | None = None
        self._arrival_task = None

    def run(self, iterator, play_context):  # type: ignore[override]
        # every worker is a fork of this process: objects frozen here are never traversed by a worker's garbage
        # collections, so the workers do not copy the pages of this heap (fewer copy-on-write faults per task)
        gc.freeze()
        try:
            return self._run(iterator, play_context)
        finally:
            gc.unfreeze()

    def _run(self, iterator, play_context):
        play = iterator._play
        # kept for re-probes started from get_hosts_left, which gets no play context
        self._probe_context = play_context
        self._set_hosts_cache(play)
        try:
            settings = parse_settings(self._play_settings(play))
        except FleetError as ex:
            raise AnsibleError(str(ex), obj=play.get_ds()) from ex
        hosts = super().get_hosts_left(iterator)
        slots = len(self._workers)
        if settings.parallel is not None:
            slots = min(slots, parse_parallel(settings.parallel, len(hosts)))
        if starts_on_arrival(settings, len(hosts), slots):
            self._probe_on_arrival(iterator, play_context, hosts, settings)
            return super().run(iterator, play_context)
        probes = self._probe(iterator, play_context, hosts, settings.probe_interval)
        plan = build_plan(settings, probes.values())
        waiting = next_wait(plan, settings)
        if waiting:
            display.display(
                f"Waiting up to {settings.gate_timeout:g}s for {len(waiting)} gated host(s): {', '.join(waiting)}"
            )
            waited = [h for h in hosts if h.name in waiting]
            limits = {"wait_for": compile_gate(settings.parsed_gate), "wait_timeout": settings.gate_timeout}
            probes.update(self._probe(iterator, play_context, waited, settings.probe_interval, limits))
            plan = build_plan(settings, probes.values(), waited=settings.gate_timeout)
        self._route = RouteRun(settings, plan, {name: p.at for name, p in probes.items()})
        self._announce(plan)
        chosen = set() if settings.dry_run else set(selected_hosts(plan))
        for host in hosts:
            if host.name not in chosen:
                iterator.end_host(host.name)
        if settings.parallel is not None and chosen:
            # host_pinned keeps one host per worker slot busy, so the slot count is the number of active hosts
            del self._workers[parse_parallel(settings.parallel, len(hosts)) :]
        return super().run(iterator, play_context)

    def get_hosts_left(self, iterator):
        hosts = super().get_hosts_left(iterator)
        if self._route is None:
            return hosts
        self._recheck_stale(iterator, hosts)
        rank = self._route.rank()
        # reorder, never drop: 2.19's free loop indexes hosts_left with the previous pass's position
        return sorted(hosts, key=lambda host: rank.get(host.name, len(rank)))

    def _process_pending_results(self, iterator, one_pass=False, max_passes=None):
        results = super()._process_pending_results(iterator, one_pass=one_pass, max_passes=max_passes)
        if self._arrivals is not None:
            task = self._arrival_task
            arrived = [r.host.name for r in results if _task_uuid(r) == task._uuid]
            for name in arrived:
                self._take_arrival(iterator, name)
            # the probes are ours: the dispatch loop never queued them, so it must not count them as its own
            results = [r for r in results if _task_uuid(r) != task._uuid]
        if self._reprobe is None:
            return results
        name, task = self._reprobe
        kept = [r for r in results if _task_uuid(r) != task._uuid]
        if len(kept) != len(results):
            self._finish_reprobe(iterator, name)
        return kept

    def _play_settings(self, play) -> dict:
        variables = self._variable_manager.get_vars(
            play=play, _hosts=self._hosts_cache, _hosts_all=self._hosts_cache_all
        )
        templar = Templar(loader=self._loader, variables=variables)
        return {name: templar.template(variables[name]) for name in SETTING_VARS if name in variables}

    def _probe_task(self, play, name, args):
        block = Block.load(
            {"block": [{"name": f"{name} (azlin.fleet.least_loaded)", PROBE_ACTION: args, "register": PROBE_VAR}]},
            play=play,
            variable_manager=self._variable_manager,
            loader=self._loader,
        )
        return block.block[0]

    def _queue_probe(self, play, task, host, play_context, interval: float | None = None) -> None:
        """Queue ``task`` on ``host``; a plain probe (``interval`` given) runs in a thread of this process."""
        # a result left from an earlier play or probe must not pass for this one
        self._variable_manager.set_nonpersistent_facts(host.name, {PROBE_VAR: None})
        task_vars = self._variable_manager.get_vars(
            play=play, host=host, task=task, _hosts=self._hosts_cache, _hosts_all=self._hosts_cache_all
        )
        self.add_tqm_variables(task_vars, play=play)
        if interval is None or not self._start_probe_thread(host, task, task_vars, play_context, interval, PROBE_VAR):
            self._queue_task(host, task, task_vars, play_context)

    def _probe_result(self, name: str, now: float):
        # registered results live in the variable manager's per-host cache (set_nonpersistent_facts); reading that
        # one dict instead of get_vars keeps the probe step O(hosts)
        result = self._variable_manager._nonpersistent_fact_cache.get(name, {}).get(PROBE_VAR)
        probe = probe_from_result(name, result, now)
        display.vvv(f"probe: {probe}", host=name)
        return probe

    def _probe(self, iterator, play_context, hosts, interval, wait=None) -> dict:
        """Probe the hosts all at once (in threads; gate waits in workers); return a Probe per host."""
        play = iterator._play
        name = "Wait for the fleet gate" if wait else "Probe host metrics"
        task = self._probe_task(play, name, {"interval": interval, **(wait or {})})
        self._tqm.send_callback("v2_playbook_on_task_start", task, is_conditional=False)
        # gate waits run in workers: one per host (up to PROBE_FANOUT) for this step only, since a wait mostly sleeps
        # through its sampling intervals and with fewer workers than hosts the intervals would add up wave after wave
        forks = len(self._workers)
        if wait:
            self._workers.extend([None] * max(0, min(len(hosts), PROBE_FANOUT) - forks))
        try:
            for host in hosts:
                # a gate wait loops in the probe_host action, so it needs a worker; a plain probe is one exec
                self._queue_probe(play, task, host, play_context, None if wait else interval)
            self._wait_on_pending_results(iterator)
        finally:
            for worker in self._workers[forks:]:
                if worker is not None and not worker.is_alive():
                    worker.close()
            del self._workers[forks:]
        now = time.monotonic()
        return {host.name: self._probe_result(host.name, now) for host in hosts}

    def _probe_on_arrival(self, iterator, play_context, hosts, settings) -> None:
        """Queue every host's probe and hold each host until its own probe is in (see starts_on_arrival)."""
        play = iterator._play
        task = self._probe_task(play, "Probe host metrics", {"interval": settings.probe_interval})
        self._tqm.send_callback("v2_playbook_on_task_start", task, is_conditional=False)
        self._arrivals = Arrivals(settings, tuple(h.name for h in hosts))
        self._arrival_task = task
        for host in hosts:
            # blocked: the dispatch loop skips the host (and keeps the play going) until its probe's result
            self._blocked_hosts[host.name] = True
            self._queue_probe(play, task, host, play_context, settings.probe_interval)

    def _take_arrival(self, iterator, name: str) -> None:
        """Take one host's probe: release the host or end it; once all are in, publish the plan."""
        arrivals = self._arrivals
        probe = self._probe_result(name, time.monotonic())
        if arrivals.take(probe):
            # probed just now: fresh for its dispatch whatever the TTL (the result's processing unblocked it)
            self._reprobed.add(name)
        else:
            iterator.end_host(name)
        if arrivals.complete():
            plan = arrivals.plan()
            self._route = RouteRun(arrivals.settings, plan, {n: p.at for n, p in arrivals.probes.items()})
            self._arrivals = None
            self._announce(plan)

    def _recheck_stale(self, iterator, hosts) -> None:
        """Hold back the hosts yet to start from the first one whose metrics are older than the TTL; re-probe it.

        Hosts already running go on. The held hosts are blocked (the dispatch loop skips them) so none starts
        before the re-probed one, and a re-probe starts only when a worker slot is free, so it never waits.
        """
        if self._route.settings.dry_run:
            return
        pristine = {h.name for h in hosts if iterator.get_state_for_host(h.name).run_state == IteratingStates.SETUP}
        order = [name for name in selected_hosts(self._route.plan) if name in pristine]
        now = time.monotonic()
        first = next(
            (
                i
                for i, name in enumerate(order)
                if name not in self._reprobed
                and is_stale(self._route.probed_at.get(name, 0.0), now, self._route.settings.probe_ttl)
            ),
            None,
        )
        hold = set(order[first:]) if first is not None else set()
        for name in self._held - hold:
            if self._reprobe is None or name != self._reprobe[0]:
                self._blocked_hosts[name] = False
        for name in hold - self._held:
            self._blocked_hosts[name] = True
        self._held = hold | ({self._reprobe[0]} if self._reprobe else set())
        # only the very next host, and only into a free slot: a host ready to start never waits for a re-probe
        if first != 0 or self._reprobe is not None or self._pending_results >= len(self._workers):
            return
        name = order[first]
        host = next(h for h in hosts if h.name == name)
        display.vvv("metrics older than fleet_probe_ttl; re-probing before dispatch", host=name)
        play = iterator._play
        task = self._probe_task(play, "Probe host metrics", {"interval": self._route.settings.probe_interval})
        self._tqm.send_callback("v2_playbook_on_task_start", task, is_conditional=False)
        self._reprobe = (name, task)
        self._reprobed.add(name)
        self._queue_probe(play, task, host, self._probe_context, self._route.settings.probe_interval)

    def _finish_reprobe(self, iterator, name: str) -> None:
        """Take the re-probe's result: re-gate the host, release it, announce a changed plan."""
        probe = self._probe_result(name, time.monotonic())
        self._route.probed_at[name] = probe.at
        plan = recheck_host(self._route.plan, self._route.settings, probe)
        self._route.update(plan)
        self._reprobe = None
        # the result's processing already unblocked the host; the next pass holds whatever still must wait
        self._held.discard(name)
        if name not in selected_hosts(plan):
            # the verdict changed: the host runs nothing, and callbacks get the new plan (the last one wins)
            iterator.end_host(name)
            self._announce(plan)

    def _announce(self, plan: dict) -> None:
        """Print the plan and send it to callbacks as the custom event v2_playbook_on_fleet_plan."""
        display.banner(f"FLEET PLAN [{'dry run' if plan['dry_run'] else 'gate: ' + str(plan['gate'] or 'none')}]")
        for line in plan_summary(plan):
            display.display(line)
        # since 2.19 the task queue manager only dispatches the methods CallbackBase declares, so opt in the
        # callbacks that implement the plan event
        for callback in self._tqm._callback_plugins:
            implemented = getattr(callback, "_implemented_callback_methods", None)
            if (
                callable(getattr(callback, PLAN_EVENT, None))
                and implemented is not None
                and PLAN_EVENT not in implemented
            ):
                callback._implemented_callback_methods = frozenset(implemented) | {PLAN_EVENT}
        self._tqm.send_callback(PLAN_EVENT, plan)
