#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/vm_power.py.

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_power
short_description: Wake deallocated or stopped Azure VMs for a run, then return them to their former power state
version_added: "0.1.0"
description:
  - Runs on the controller (no connection to any host) and acts on the Azure VMs behind inventory hosts of
    P(azlin.fleet.azure_pools#inventory), found by their C(azure_id) host var; Uniform scale-set instances are
    handled too.
  - With O(state=started), every host whose C(azure_power_state) is not V(running) is started, and the former
    state is recorded per host. Hosts already running are reported V(already_running) and are never put back to
    sleep.
  - With O(state=restored) and O(former) (the RV(vm_power) dict of the V(started) call), every host that was woken
    is returned to its former state - V(deallocated) ones are deallocated, V(stopped) ones powered off. Run it in
    an C(always) section so it also happens when the run fails or is interrupted.
  - Operations are Azure Resource Manager long-running operations (azure-mgmt-compute C(begin_start),
    C(begin_deallocate), C(begin_power_off)); the SDK polls their C(Azure-AsyncOperation) status and honours
    C(Retry-After), and its retry policy waits out 429 answers to the writes. At most O(max_concurrency) run at
    once, which keeps a large wake within ARM's write limits.
  - A VM that cannot be woken is reported V(failed_to_wake) with the ARM error, never dropped; the task itself does
    not fail for it, so the caller decides (for example, report the host and leave it out of the run).
  - It does not wait for SSH; follow it with M(ansible.builtin.wait_for_connection) on the woken hosts.
  - It acts on all of O(hosts) each time it runs, so run it once - in a play on C(localhost), or with C(run_once).
  - In check mode nothing is changed and the hosts that would be woken or returned are reported as V(would_wake)
    or V(would_return).
  - Credentials and endpoints come from the task, else from the play's C(azure_pools) inventory file, else from the
    environment (see O(inventory_file)).
options:
  hosts:
    description: Inventory host names whose VMs to act on (they need the C(azure_id) host var of the inventory).
    type: list
    elements: str
    required: true
  state:
    description:
      - V(started) wakes the VMs that are not running.
      - V(restored) returns the VMs woken by a V(started) call (given as O(former)) to their former power state.
    type: str
    choices: [started, restored]
    default: started
  former:
    description:
      - The RV(vm_power) result of the V(started) call, for O(state=restored).
      - When not given, the hosts recorded in O(state_file) are returned.
    type: dict
  state_file:
    description:
      - A JSON file (written atomically, mode 0600) that records the hosts a V(started) call woke, with their former
        state, until a V(restored) call puts them back (or leaves them up with O(keep_awake)).
      - With it, a run interrupted before its return step can still be put back by a later
        O(state=restored) call with the same file and no O(former).
    type: path
  keep_awake:
    description: With O(state=restored), leave woken VMs running and report them as V(kept_awake).
    type: bool
    default: false
  max_concurrency:
    description: Power operations in flight at once.
    type: int
    default: 4
  timeout:
    description: Seconds one VM's operation may take before it is reported as failed (code V(Timeout)).
    type: float
    default: 600
  polling_interval:
    description: Seconds between status polls when ARM sends no C(Retry-After) (its C(Retry-After) wins).
    type: float
    default: 5
extends_documentation_fragment:
  - azlin.fleet.azure_auth.actions
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
requirements:
  - azure-identity
  - azure-mgmt-compute
notes:
  - Deallocation releases a VM's dynamic public IP; with O(azlin.fleet.azure_pools#inventory:hostname_source) on
    public addresses, refresh the inventory (M(ansible.builtin.meta) C(refresh_inventory)) after waking.
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
# Wake the pool's deallocated VMs, run, and put them back to sleep even when the run fails.
- name: Run on a sleeping pool
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Wake the VMs of the pool
      azlin.fleet.vm_power:
        hosts: "{{ groups['pool_ci'] }}"
        state: started
        state_file: ~/.local/state/azlin-fleet/woken.json
      register: fleet_wake

    - name: Run the command
      block:
        - name: Wait until the woken VMs answer over SSH, then build
          ansible.builtin.include_tasks: build.yml
      always:
        - name: Return the woken VMs to their former power state
          azlin.fleet.vm_power:
            hosts: "{{ groups['pool_ci'] }}"
            state: restored
            former: "{{ fleet_wake.vm_power }}"

# After an interrupted run: put back whatever the state file still lists as woken.
- name: Return the VMs a broken run left awake
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Return the recorded VMs
      azlin.fleet.vm_power:
        hosts: "{{ groups['all'] }}"
        state: restored
        state_file: ~/.local/state/azlin-fleet/woken.json

# Which VMs would be woken (changes nothing).
- name: Show the VMs a wake would start
  hosts: localhost
  gather_facts: false
  check_mode: true
  tasks:
    - name: Plan the wake
      azlin.fleet.vm_power:
        hosts: "{{ groups['pool_ci'] }}"
      register: fleet_wake_plan
"""

RETURN = r"""
vm_power:
  description:
    - One entry per host of O(hosts) (O(state=started)) or per host woken earlier (O(state=restored)).
    - C(status) is one of V(woken), V(already_running), V(would_wake), V(failed_to_wake), V(returned_to_sleep),
      V(would_return), V(failed_to_return), V(kept_awake), V(not_an_azure_vm).
    - C(former_state) is the power state before the wake; C(power_state) the state after this call; C(error) and
      C(error_code) the ARM error of a failed operation (for example C(AllocationFailed)); C(duration) seconds.
  returned: always
  type: dict
  sample:
    ci-1: {host: ci-1, status: woken, former_state: deallocated, power_state: running, vm_id: "/subscriptions/...",
           error: null, error_code: null, duration: 42.1}
    ci-2: {host: ci-2, status: failed_to_wake, former_state: deallocated, power_state: deallocated,
           vm_id: "/subscriptions/...", error: "Failed to start VM 'ci-2': AllocationFailed: Allocation failed.",
           error_code: AllocationFailed, duration: 3.2}
vm_power_summary:
  description: Host names per status, sorted.
  returned: always
  type: dict
  sample: {woken: [ci-1], failed_to_wake: [ci-2]}
changed:
  description: True when a VM was woken or returned to sleep.
  returned: always
  type: bool
  sample: true
"""
