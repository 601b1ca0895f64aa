#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/azure_metrics.py.

from __future__ import annotations

DOCUMENTATION = r"""
module: azure_metrics
short_description: Read hosts' CPU (and memory) from Azure Monitor instead of probing them over SSH
version_added: "0.1.0"
description:
  - Runs on the controller (no connection to any host) and reads the C(Percentage CPU) platform metric (and
    C(Available Memory Percentage) with O(metrics=[cpu, mem])) of the Azure VMs behind inventory hosts of
    P(azlin.fleet.azure_pools#inventory), found by their C(azure_id), C(azure_subscription_id) and C(azure_location)
    host vars.
  - Uses Azure Monitor's regional batch API C(metrics:getBatch), which takes up to 50 resources of one subscription
    and region per call; VMs are grouped accordingly, so 1,000 VMs of one region take 20 calls. It uses the
    azure-monitor-querymetrics client when installed, else the same request through an azure-core pipeline.
  - Returns per-host metrics dicts with the keys of the gate grammar (C(cpu), C(mem) as used %), plus the metric's
    C(age) in seconds, its C(granularity) and C(time), and C(source=azure). Gates such as V(cpu<50) and V(mem<80)
    evaluate on them unchanged. Load average and interactive users are not Azure metrics, so V(load), V(users) and
    V(idle) still need the SSH probe; O(gate) reports which terms those are in RV(gate_problems).
  - A host with no recent data point (a deallocated VM, metrics not yet published, a host that is no Azure VM) is
    listed in RV(fleet_unmeasurable) with the reason, never given made-up numbers. A failed call makes only its
    batch's hosts unmeasurable, with a warning.
  - No SSH connection is opened to any host.
  - Credentials and endpoints come from the task, else from the play's C(azure_pools) inventory file, else from the
    environment (see O(inventory_file)).
options:
  hosts:
    description: Inventory host names to measure.
    type: list
    elements: str
    required: true
  metrics:
    description: Which metrics to read - V(cpu) (C(Percentage CPU)) and V(mem) (100 - C(Available Memory Percentage)).
    type: list
    elements: str
    choices: [cpu, mem]
    default: [cpu]
  window:
    description: Minutes of history to query; the newest complete point in it is used.
    type: int
    default: 5
  granularity:
    description: Aggregation interval of the points (ISO 8601), as Azure Monitor takes it.
    type: str
    choices: [PT1M, PT5M, PT15M, PT30M, PT1H]
    default: PT1M
  max_age:
    description:
      - Seconds; a host whose newest point ended longer ago is unmeasurable. Azure publishes VM metrics with a delay
        of a few minutes.
    type: float
    default: 900
  max_batch:
    description: Resources per call (at most 50, the API's limit).
    type: int
    default: 50
  max_concurrency:
    description: Calls in flight at once.
    type: int
    default: 4
  client:
    description:
      - How the calls are made. V(querymetrics) uses the azure-monitor-querymetrics C(MetricsClient); V(pipeline)
        sends the same request through an azure-core pipeline (same token, retries and C(Retry-After) handling)
        and reads the JSON without building models, which costs about a quarter of the CPU per VM.
      - V(auto) uses V(querymetrics) when it is installed, else V(pipeline).
    type: str
    choices: [auto, querymetrics, pipeline]
    default: auto
  gate:
    description:
      - A gate expression (the gate grammar of the collection) to check; terms Azure Monitor cannot answer are
        named in RV(gate_problems). Nothing is gated here.
    type: str
extends_documentation_fragment:
  - azlin.fleet.azure_auth.actions
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
requirements:
  - azure-identity
  - azure-core
  - azure-monitor-querymetrics (optional; without it the requests go through azure-core directly)
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
# CPU of a pool's VMs without SSH; gated hosts are never connected to.
- name: Measure the pool from Azure Monitor
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read Percentage CPU of the web servers
      azlin.fleet.azure_metrics:
        hosts: "{{ groups['pool_web_servers'] }}"
        gate: cpu<50
      register: fleet_azure

    - name: Keep the hosts under 50 % CPU
      ansible.builtin.add_host:
        name: "{{ item.key }}"
        groups: fleet_cool
      loop: "{{ fleet_azure.fleet_metrics | dict2items }}"
      when: item.value.cpu < 50

# CPU and memory, at most 2 minutes old.
- name: Measure CPU and memory
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read CPU and memory
      azlin.fleet.azure_metrics:
        hosts: "{{ groups['all'] }}"
        metrics: [cpu, mem]
        max_age: 120
      register: fleet_azure
"""

RETURN = r"""
fleet_metrics:
  description:
    - Metrics per measured host - C(cpu) and C(mem) (percent used), C(source) (V(azure)), C(granularity),
      C(time) (start of the newest point used) and C(age) (seconds since that point's interval ended).
  returned: always
  type: dict
  sample: {web-1: {cpu: 12.5, source: azure, granularity: PT1M, time: "2026-12-04T18:20:00Z", age: 41.0}}
fleet_unmeasurable:
  description: Why each host without metrics has none.
  returned: always
  type: dict
  sample:
    ci-1: no Percentage CPU data from Azure Monitor in the queried window (the VM is not running, or its metrics are
      late)
fleet_probes:
  description:
    - One entry per host of O(hosts), shaped like a registered M(azlin.fleet.fleet_probe) result - C(metrics) for a
      measured host, C(failed=true) and C(msg) for an unmeasurable one.
  returned: always
  type: dict
  sample: {web-1: {failed: false, metrics: {cpu: 12.5, source: azure, granularity: PT1M, age: 41.0}}}
azure_metrics_calls:
  description: How many getBatch calls were made.
  returned: always
  type: int
  sample: 20
azure_metrics_client:
  description: V(querymetrics) (azure-monitor-querymetrics) or V(pipeline) (azure-core), null when no call was made.
  returned: always
  type: str
  sample: querymetrics
gate_problems:
  description: One line per term of O(gate) that needs SSH (V(load), V(users), V(idle)); empty otherwise.
  returned: always
  type: list
  elements: str
  sample: ["Gate term 'load' needs SSH: load average is not an Azure Monitor metric."]
"""
