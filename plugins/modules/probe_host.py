#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the work is done on the controller by plugins/action/probe_host.py.

from __future__ import annotations

DOCUMENTATION = r"""
module: probe_host
short_description: Measure a host's load with one SSH exec, no Python needed on the host (read-only)
version_added: "0.2.0"
description:
  - Runs one POSIX C(sh) command on the host that reads the cpu lines of C(/proc/stat) twice (C(sed)),
    O(interval) seconds apart, then
    C(/proc/loadavg), C(/proc/meminfo), C(/proc/uptime), the host's clock, the utmp file (as hex bytes from
    C(od -An -v -tx1)) and the terminals' access times (C(stat -c)). The controller parses the answer with the same
    parsers as M(azlin.fleet.fleet_probe) and returns the same RV(metrics).
  - Hosts without Python (or with a broken C(ansible_python_interpreter)) can be measured and routed.
  - A file that cannot be read, or an answer that is not a well-formed probe (wrong types, NaN, missing fields),
    fails the task with RV(unmeasurable), so the host is never routed to as if it were idle; other hosts are not
    affected.
  - Used by the P(azlin.fleet.least_loaded#strategy) strategy and by C(playbooks/probe.yml) (the
    M(azlin.fleet.route) path). Other actions reuse the same command and parser (C(plugin_utils/probe.py)).
options:
  interval:
    description:
      - Seconds between the two C(/proc/stat) samples used for CPU utilisation. Fractions are allowed.
      - "Trade-off: the CPU figure is the average over this window, so a longer window smooths short bursts and a
        shorter one makes the probe faster. The default 0.4 s costs 0.4 s once per run, because all hosts are
        probed at the same time (the windows overlap, they never add up), and still averages 40 scheduler ticks
        per CPU at the usual 100 Hz. Pass a longer interval (for example 1 or 2) to smooth bursts further."
      - Needs a C(sleep) that takes fractions (GNU coreutils, BusyBox); a C(sleep) that refuses them sleeps 1 s.
    type: float
    default: 0.4
  wait_for:
    description:
      - Numeric limits the host must meet, as compiled from a gate by the controller
        (RV(azlin.fleet.route#module:fleet_wait)). Write gates with the gate grammar (C(fleet_gate)), not by hand.
      - When set, the host is re-measured (one exec per round) until the limits hold or O(wait_timeout) passes,
        timed by the controller's monotonic clock, so a step of the host's clock changes nothing.
    type: list
    elements: dict
  wait_timeout:
    description:
      - Seconds to keep re-measuring when O(wait_for) is set.
    type: float
    default: 300
  ttl:
    description:
      - Re-check mode, for the play that starts the routed hosts (the strategy-free path of C(fleet_probe_ttl)).
        When the host's registered O(probe_var) is older than O(ttl) seconds (by RV(probed_at)), or missing, the host
        is re-probed; otherwise nothing runs on it and the registered metrics are returned.
      - With O(gate), a re-probed host that no longer passes it fails this task with RV(fleet_status=gated) and the
        reason, so it starts nothing; one whose re-probe fails is V(unmeasurable).
    type: float
  gate:
    description: The gate to re-check in O(ttl) mode, e.g. the plan's C(gate) (RV(azlin.fleet.route#module:fleet_plan)).
    type: str
  probe_var:
    description: The registered probe result O(ttl) mode reads on the host.
    type: str
    default: fleet_probe
attributes:
  check_mode:
    support: full
    description: The command only reads files, so check mode runs it unchanged.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode).
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
notes:
  - Never uses become; reading C(/proc) and utmp needs no privileges.
seealso:
  - module: azlin.fleet.fleet_probe
  - module: azlin.fleet.route
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Measure the host (no Python needed there)
  azlin.fleet.probe_host:
  register: fleet_probe

- name: Before each routed host starts, re-probe it when its metrics are older than 60 s and re-check the gate
  azlin.fleet.probe_host:
    ttl: 60
    gate: "{{ fleet_route.fleet_plan.gate }}"

- name: Wait up to 5 minutes until the CPU is below 50 %
  azlin.fleet.probe_host:
    wait_for: [{metric: cpu, below: 50}]
    wait_timeout: 300
  register: fleet_probe_wait
"""

RETURN = r"""
gate_met:
  description: Whether the last metrics met O(wait_for).
  returned: when O(wait_for) is set
  type: bool
  sample: true
waited:
  description: Seconds spent re-measuring for O(wait_for), timed by the controller's monotonic clock.
  returned: when O(wait_for) is set
  type: float
  sample: 4.2
reprobed:
  description: In O(ttl) mode, whether the host was re-probed (its metrics were older than O(ttl)).
  returned: when O(ttl) is set
  type: bool
  sample: true
fleet_status:
  description: In O(ttl) mode, V(gated) or V(unmeasurable) when the host must not start (the task then fails).
  returned: when the re-check stops the host
  type: str
  sample: gated
fleet_reason:
  description: Why the re-check stops the host.
  returned: when the re-check stops the host
  type: str
  sample: "re-probe before dispatch: cpu 91% >= 50%"
probed_at:
  description:
    - When the metrics were taken, in seconds of the controller's monotonic clock (C(time.monotonic()), shared by
      every process of the controller). Compare it with the same clock to decide whether the metrics are older than
      C(fleet_probe_ttl).
  returned: success
  type: float
  sample: 81234.56
unmeasurable:
  description: Set when a file could not be read, or the host's answer could not be parsed; never route to the host.
  returned: failure
  type: bool
  sample: true
metrics:
  description: The host's load metrics.
  returned: success
  type: dict
  contains:
    load1:
      description: 1 minute load average.
      type: float
      sample: 0.42
    load5:
      description: 5 minute load average.
      type: float
      sample: 0.30
    load15:
      description: 15 minute load average.
      type: float
      sample: 0.25
    cpus:
      description: Number of CPUs (the C(cpuN) lines of C(/proc/stat)).
      type: int
      sample: 4
    cpu:
      description: CPU utilisation in percent over O(interval).
      type: float
      sample: 12.5
    mem:
      description: Memory used in percent, from C(MemTotal) and C(MemAvailable).
      type: float
      sample: 31.2
    users:
      description: Number of interactive sessions (C(USER_PROCESS) records of C(/run/utmp)).
      type: int
      sample: 1
    sessions:
      description: The interactive sessions with their idle seconds (tty access time, else time since login).
      type: list
      elements: dict
      sample: [{"user": "alice", "line": "pts/0", "host": "10.0.0.5", "idle": 1260}]
    uptime:
      description: Seconds since boot.
      type: float
      sample: 86400.5
    interval:
      description: The sampling interval actually used, in seconds.
      type: float
      sample: 0.5
  sample:
    load1: 0.42
    load5: 0.30
    load15: 0.25
    cpus: 4
    cpu: 12.5
    mem: 31.2
    users: 0
    sessions: []
    uptime: 86400.5
    interval: 0.5
"""
