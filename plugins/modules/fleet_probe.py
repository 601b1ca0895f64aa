#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_probe
short_description: Measure a host's load from /proc (read-only)
version_added: "0.1.0"
description:
  - Reads C(/proc/loadavg), C(/proc/stat), C(/proc/meminfo), C(/proc/uptime) and C(/run/utmp) and returns the host's
    load averages, CPU count, CPU utilisation, memory use, interactive users with their idle time, and uptime.
  - CPU utilisation comes from two samples of C(/proc/stat) taken O(interval) seconds apart, never from
    C(os.getloadavg()).
  - A file that cannot be read fails the module with a message naming the file, so the host is treated as
    unmeasurable and never routed to as if it were idle.
  - For plays of your own. The P(azlin.fleet.least_loaded#strategy) strategy and C(playbooks/probe.yml) use
    M(azlin.fleet.probe_host) instead, which returns the same RV(metrics) with one SSH exec and needs no Python on
    the host; either result can be registered as C(fleet_probe) for the M(azlin.fleet.route) action.
options:
  interval:
    description:
      - Seconds between the two C(/proc/stat) samples used for CPU utilisation. Fractions are allowed.
      - Longer intervals smooth short bursts; shorter ones make the probe faster. See
        M(azlin.fleet.probe_host) for the trade-off of the default.
    type: float
    default: 0.4
  wait_for:
    description:
      - Numeric limits the host must meet, as compiled from a gate by the controller (the
        P(azlin.fleet.least_loaded#strategy) strategy, or RV(azlin.fleet.route#module:fleet_wait) of the route
        action). Write gates with the gate grammar (C(fleet_gate)), not by hand.
      - When set, the module re-measures every O(interval) until the limits hold or O(wait_timeout) passes, and
        returns the last metrics with RV(gate_met).
    type: list
    elements: dict
  wait_timeout:
    description:
      - Seconds to keep re-measuring when O(wait_for) is set.
    type: float
    default: 300
attributes:
  check_mode:
    support: full
    description: The module only reads files, so check mode runs it unchanged.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode).
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Measure the host
  azlin.fleet.fleet_probe:
  register: fleet_probe

- name: Measure with a short CPU sample (faster probe, noisier CPU %)
  azlin.fleet.fleet_probe:
    interval: 0.3
  register: fleet_probe
"""

RETURN = r"""
gate_met:
  description: Whether the last metrics met O(wait_for).
  returned: when O(wait_for) is set
  type: bool
  sample: true
waited:
  description: Seconds spent re-measuring for O(wait_for), timed by the host's monotonic clock.
  returned: when O(wait_for) is set
  type: float
  sample: 4.2
unmeasurable:
  description: Set when a file could not be read or parsed; the host must not be routed to.
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

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.azlin.fleet.plugins.module_utils.proc_metrics import (
    meets_limits,
    metrics_from,
    parse_loadavg,
    parse_meminfo,
    parse_stat,
    parse_uptime,
    parse_utmp,
    session_idle,
)

UTMP_PATHS = ("/run/utmp", "/var/run/utmp")


class ProbeError(Exception):
    """A /proc or utmp file could not be read or parsed."""


def _read(path, mode="r"):
    try:
        with open(path, mode) as handle:
            return handle.read()
    except (IOError, OSError) as ex:
        raise ProbeError(
            "Cannot read %s: %s. The host is unmeasurable; check that /proc is mounted and readable."
            % (path, ex.strerror or ex)
        ) from None


def _parse(path, parser, text):
    try:
        return parser(text)
    except ValueError as ex:
        raise ProbeError("Cannot parse %s: %s." % (path, ex)) from None


def _sessions(now):
    path = next((p for p in UTMP_PATHS if os.path.exists(p)), None)
    if path is None:
        return []  # no utmp at all (e.g. a container): nobody can be logged in interactively
    sessions = _parse(path, parse_utmp, _read(path, "rb"))
    for session in sessions:
        try:
            atime = os.stat(os.path.join("/dev", session["line"])).st_atime if session["line"] else None
        except OSError:
            atime = None
        session["idle"] = session_idle(now, session.pop("login"), atime)
    return sessions


def measure(interval):
    """Read every metric; raise ProbeError naming the first file that fails."""
    first = _parse("/proc/stat", parse_stat, _read("/proc/stat"))
    time.sleep(interval)
    second = _parse("/proc/stat", parse_stat, _read("/proc/stat"))
    load1, load5, load15 = _parse("/proc/loadavg", parse_loadavg, _read("/proc/loadavg"))
    mem = _parse("/proc/meminfo", parse_meminfo, _read("/proc/meminfo"))
    uptime = _parse("/proc/uptime", parse_uptime, _read("/proc/uptime"))
    sessions = _sessions(time.time())
    return metrics_from((load1, load5, load15), first, second, mem, uptime, sessions, interval)


def wait_for(limits, interval, timeout):
    """Re-measure until the limits hold or timeout seconds pass; return (metrics, met, waited)."""
    # monotonic: a step of the wall clock neither lengthens the wait nor falsifies the time reported
    started = time.monotonic()
    while True:
        metrics = measure(interval)
        waited = round(time.monotonic() - started, 1)
        if meets_limits(limits, metrics):
            return metrics, True, waited
        if waited >= timeout:
            return metrics, False, waited


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interval=dict(type="float", default=0.4),
            wait_for=dict(type="list", elements="dict"),
            wait_timeout=dict(type="float", default=300.0),
        ),
        supports_check_mode=True,
    )
    interval = module.params["interval"]
    if interval < 0 or interval > 60:
        module.fail_json(
            msg="Invalid interval %r: it must be between 0 and 60 seconds. Use e.g. interval: 1." % interval
        )
    try:
        if module.params["wait_for"] is None:
            module.exit_json(changed=False, metrics=measure(interval))
        # at least one sample per round, so a zero interval cannot spin
        metrics, met, waited = wait_for(module.params["wait_for"], max(interval, 0.1), module.params["wait_timeout"])
    except ProbeError as ex:
        module.fail_json(msg=str(ex), unmeasurable=True)
    except (KeyError, TypeError, ValueError) as ex:
        module.fail_json(
            msg="Invalid wait_for %r: %s. Pass the limits the route action returns." % (module.params["wait_for"], ex)
        )
    module.exit_json(changed=False, metrics=metrics, gate_met=met, waited=waited)


if __name__ == "__main__":
    main()
