#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/route.py.

from __future__ import annotations

DOCUMENTATION = r"""
module: route
short_description: Gate, order and select probed hosts (least-loaded routing without a custom strategy)
version_added: "0.1.0"
description:
  - The strategy-free path of the P(azlin.fleet.least_loaded#strategy) strategy, for the builtin strategies
    (ansible-core 2.19 and later warn about every strategy plugin outside ansible.builtin) and AWX.
  - Runs once, on the controller, after a probe task (M(azlin.fleet.probe_host), or M(azlin.fleet.fleet_probe))
    registered C(fleet_probe) on the play's hosts. It gates, scores and orders every host of the play (least loaded
    first, ties by name), selects the best O(count), returns the plan plus the selected hosts in order, and adds them
    to the group O(group) in that order, for the next play to target.
  - ansible-core 2.21 and later let the action add the hosts itself (one call per host, no loop task). Earlier
    versions take one host per task result, so the hosts still to add are in RV(fleet_group_pending) for one
    M(ansible.builtin.add_host) task with a loop, as C(playbooks/probe.yml) does.
  - A probe result that is not well-formed (a non-numeric, NaN, negative or missing field, as a compromised host
    might send) makes that host C(unmeasurable) with the reason; the other hosts are routed as usual.
  - Hosts whose probe failed or did not run are C(unmeasurable); they, gated and not-selected hosts are left out of
    RV(fleet_hosts).
  - Each option defaults to the play var of the same name with a C(fleet_) prefix (C(fleet_gate), C(fleet_count), ...),
    so a play can be driven by extra vars.
  - In gate mode V(wait), RV(fleet_wait) names the gated hosts and the limits to wait for, and the gated hosts go to
    the group O(wait_group) instead; run M(azlin.fleet.probe_host) with O(azlin.fleet.probe_host#module:wait_for) on
    that group, registering C(fleet_probe_wait), and call this action again. See C(playbooks/probe.yml).
  - An internal problem fails the task with RV(fleet_internal_error).
  - This action bypasses the host loop, so use it in a play with the V(linear) strategy, with C(run_once) so that the
    registered result is visible on every host.
options:
  gate:
    description: Gate hosts must pass, e.g. V(idle), V(cpu<50 and mem<80). Defaults to C(fleet_gate).
    type: str
  gate_mode:
    description: V(skip) or V(wait). Defaults to C(fleet_gate_mode), else V(skip).
    type: str
    choices: [skip, wait]
  gate_timeout:
    description: Seconds to wait for gated hosts in V(wait) mode. Defaults to C(fleet_gate_timeout), else 300.
    type: float
  route_by:
    description: Score to order by. Defaults to C(fleet_route_by), else V(score) (max of cpu %, mem %, 100*load1/cpus).
    type: str
    choices: [score, cpu, mem, load]
  count:
    description: Keep only the N least-loaded hosts that pass the gate. Defaults to C(fleet_count), else all.
    type: int
  parallel:
    description:
      - Hosts to run at once, V(N) or V(N%), returned as a number in RV(fleet_parallel).
      - Defaults to C(fleet_parallel).
    type: str
  dry_run:
    description: Return the plan but select no host. Defaults to C(fleet_dry_run), else false.
    type: bool
  probe_var:
    description: Name of the registered fleet_probe result to read on each host.
    type: str
    default: fleet_probe
  wait_var:
    description: Name of the registered result of the wait task; when a host has one, it replaces O(probe_var).
    type: str
    default: fleet_probe_wait
  group:
    description: The group the selected hosts are added to, in dispatch order.
    type: str
    default: fleet_routed
  wait_group:
    description: The group the gated hosts to wait for are added to (gate mode V(wait)).
    type: str
    default: fleet_waiting
  azure_var:
    description:
      - Name of the registered (run once) M(azlin.fleet.azure_metrics) result. When it holds C(fleet_probes), each
        host's metrics come from it (CPU and memory from Azure Monitor, no SSH) instead of O(probe_var).
    type: str
    default: fleet_azure_metrics
  keep_order:
    description:
      - Keep the play's host order (the inventory order) instead of ordering least loaded first; the plan's
        C(route_by) is then V(inventory). M(azlin.fleet.workflow_plan) plans use it for a dry run without routing,
        which shows the order the run would use.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  bypass_host_loop:
    description: Forces a global task that does not execute per host; it bypasses per host templating and serial.
    support: full
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Probe and route
  hosts: pool_web_servers
  gather_facts: false
  tasks:
    - name: Probe host metrics (one SSH exec, no Python needed on the hosts)
      azlin.fleet.probe_host:
      register: fleet_probe

    - name: Route the pool
      azlin.fleet.route:
        gate: cpu<50
        count: 3
      register: fleet_route
      run_once: true  # registers fleet_route on every host of the play

    - name: Build the routed group in plan order (ansible-core before 2.21; no item on 2.21)
      ansible.builtin.add_host:
        name: "{{ item }}"
        groups: fleet_routed
      loop: "{{ fleet_route.fleet_group_pending }}"

- name: Run on the routed hosts, least loaded first
  hosts: fleet_routed
  gather_facts: false
  serial: 1
  tasks:
    - name: Build
      ansible.builtin.command: make
      changed_when: true
"""

RETURN = r"""
fleet_plan:
  description: The routing plan (schema version 1), one entry per host of the play.
  returned: always
  type: dict
  sample:
    version: 1
    gate: cpu<50
    gate_mode: skip
    route_by: score
    count: null
    dry_run: false
    hosts:
      - {host: web-2, status: selected, order: 1, score: 12.5, metrics: {cpu: 12.5}, reasons: []}
      - {host: web-1, status: gated, order: null, score: 63.0, metrics: {cpu: 63.0}, reasons: ["cpu 63% >= 50%"]}
fleet_hosts:
  description: The selected hosts in dispatch order (empty in dry run).
  returned: always
  type: list
  elements: str
  sample: [web-2, web-3]
fleet_parallel:
  description: O(parallel) as a host count, or null when unset.
  returned: always
  type: int
  sample: 2
fleet_verdicts:
  description: Each host's verdict, C(status) as in the plan and C(reason) (empty when selected).
  returned: always
  type: dict
  sample: {web-2: {status: selected, reason: ""}, web-1: {status: gated, reason: "cpu 63% >= 50%"}}
fleet_group:
  description: The group this call filled (O(group), or O(wait_group) while gated hosts are to be waited for).
  returned: always
  type: str
  sample: fleet_routed
fleet_group_pending:
  description: Hosts still to add to RV(fleet_group), in order (always empty on ansible-core 2.21 and later).
  returned: always
  type: list
  elements: str
  sample: []
fleet_internal_error:
  description: What went wrong when the action hit an internal problem (a bug); the task fails.
  returned: failure
  type: str
  sample: "route: KeyError: 'hosts'"
fleet_summary:
  description: One line per host - order, name, status, score and reasons.
  returned: always
  type: list
  elements: str
  sample: ["  1 web-2 selected score= 12.5", "  - web-1 gated score= 63.0: cpu 63% >= 50%"]
fleet_wait:
  description: Gated hosts to wait for in gate mode V(wait) (empty otherwise), the limits and the timeout.
  returned: always
  type: dict
  sample: {hosts: [web-1], limits: [{metric: cpu, below: 50.0}], timeout: 300.0}
"""
