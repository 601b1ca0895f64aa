#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: health_check
short_description: Wait until a host is healthy (command exit 0, HTTP status, or TCP port)
version_added: 0.1.0
description:
  - Polls one health probe on the host every O(interval) seconds until it succeeded O(successes) times in a row,
    or fails after O(timeout) seconds with the last probe's outcome.
  - A probe is one of a shell command that must exit 0 (O(command)), a URL that must answer with O(status)
    (O(url)), or a TCP port that must accept a connection (O(port)).
  - Used by M(azlin.fleet.run) (C(fleet_health_cmd), C(fleet_health_url), C(fleet_health_port)) to stop a rolling
    rollout at the first unhealthy host, and by workflow steps with C(health).
options:
  command:
    description: Shell command run on the host; healthy when it exits 0.
    type: str
  url:
    description: URL fetched from the host; healthy when the response status is O(status).
    type: str
  status:
    description: HTTP status that counts as healthy for O(url).
    type: int
    default: 200
  validate_certs:
    description: Verify the TLS certificate of O(url). Set V(false) only for self-signed test endpoints.
    type: bool
    default: true
  port:
    description: TCP port on O(host) that must accept a connection.
    type: int
  host:
    description: Address to connect to for O(port).
    type: str
    default: 127.0.0.1
  interval:
    description: Seconds between probes.
    type: float
    default: 2
  timeout:
    description: Give up after this many seconds; the module then fails with the last probe's outcome.
    type: float
    default: 60
  successes:
    description: Consecutive successful probes required; a failed probe resets the count.
    type: int
    default: 1
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The probe is read-only, so it also runs in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode).
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
author:
  - azlin.fleet developers (@azlin)
"""

EXAMPLES = r"""
- name: Wait until the service answers on its health URL
  azlin.fleet.health_check:
    url: http://127.0.0.1:8080/healthz

- name: Wait until systemctl reports the unit active, three times in a row
  azlin.fleet.health_check:
    command: systemctl is-active myapp
    successes: 3
    interval: 5
    timeout: 120

- name: Wait until the port accepts connections
  azlin.fleet.health_check:
    port: 5432
"""

RETURN = r"""
healthy:
  description: Whether the host passed.
  returned: always
  type: bool
  sample: true
probes:
  description: How many probes ran.
  returned: always
  type: int
  sample: 3
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 4.02
last:
  description: Outcome of the last probe, e.g. C(exit code 1), C(HTTP 503), C(connection refused).
  returned: always
  type: str
  sample: HTTP 200
"""

import socket
import time
from urllib.error import HTTPError, URLError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url


def probe_command(module, command):
    """One command probe: (healthy, detail)."""
    rc, dummy, err = module.run_command(command, use_unsafe_shell=True)
    detail = "exit code %d" % rc
    if rc != 0 and err.strip():
        detail += ": " + err.strip().splitlines()[-1][:200]
    return rc == 0, detail


def probe_url(url, status, timeout, validate_certs):
    """One HTTP probe: (healthy, detail)."""
    try:
        response = open_url(url, timeout=timeout, validate_certs=validate_certs, follow_redirects="safe")
        code = response.getcode()
    except HTTPError as ex:
        code = ex.code
    except (URLError, socket.error, ValueError) as ex:
        return False, "request failed: %s" % to_text(getattr(ex, "reason", ex))
    return code == status, "HTTP %d" % code


def probe_port(host, port, timeout):
    """One TCP probe: (healthy, detail)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (socket.error, OSError) as ex:
        return False, "port %d on %s: %s" % (port, host, to_text(getattr(ex, "strerror", None) or ex))
    sock.close()
    return True, "port %d on %s open" % (port, host)


def wait_healthy(probe, interval, timeout, successes, clock=time.monotonic, sleep=time.sleep):
    """Poll ``probe()`` until ``successes`` passes in a row or ``timeout``; return (healthy, probes, elapsed, last)."""
    start = clock()
    probes = 0
    streak = 0
    while True:
        healthy, last = probe()
        probes += 1
        streak = streak + 1 if healthy else 0
        elapsed = clock() - start
        if streak >= successes:
            return True, probes, elapsed, last
        if elapsed + interval > timeout:
            return False, probes, elapsed, last
        sleep(interval)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            command=dict(type="str"),
            url=dict(type="str"),
            status=dict(type="int", default=200),
            validate_certs=dict(type="bool", default=True),
            port=dict(type="int"),
            host=dict(type="str", default="127.0.0.1"),
            interval=dict(type="float", default=2.0),
            timeout=dict(type="float", default=60.0),
            successes=dict(type="int", default=1),
        ),
        mutually_exclusive=[("command", "url", "port")],
        required_one_of=[("command", "url", "port")],
        supports_check_mode=True,
    )
    p = module.params
    if p["interval"] <= 0 or p["timeout"] <= 0 or p["successes"] < 1:
        module.fail_json(
            msg="Health check settings: interval and timeout must be > 0 and successes >= 1.",
            healthy=False,
            probes=0,
            elapsed=0.0,
            last="",
        )
    per_probe = max(1.0, min(p["interval"], p["timeout"]))
    if p["command"] is not None:

        def probe():
            return probe_command(module, p["command"])

        what = "command %r" % p["command"]
    elif p["url"] is not None:

        def probe():
            return probe_url(p["url"], p["status"], per_probe, p["validate_certs"])

        what = "%s (expecting HTTP %d)" % (p["url"], p["status"])
    else:

        def probe():
            return probe_port(p["host"], p["port"], per_probe)

        what = "TCP port %d on %s" % (p["port"], p["host"])
    healthy, probes, elapsed, last = wait_healthy(probe, p["interval"], p["timeout"], p["successes"])
    result = dict(changed=False, healthy=healthy, probes=probes, elapsed=round(elapsed, 2), last=last)
    if not healthy:
        module.fail_json(
            msg="Health check %s failed after %.0fs (%d probes, %d consecutive successes required): %s."
            % (what, elapsed, probes, p["successes"], last),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
