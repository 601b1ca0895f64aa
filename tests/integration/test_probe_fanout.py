"""The probe_fanout strategy (the route path's probe play): plain probes of every host at once from threads of the
controller, whatever forks is; every other task, and every probe it cannot take, in a worker as with linear.

Real ansible-playbook, real SSH to the sandbox hosts; the assertions read what each host's registered result says.
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.multiversion]

HOSTS = ["web-1", "web-2", "web-3", "stage-1", "stage-2", "stage-3", "ci-1", "ci-2"]
INTERVAL = 1.0

PLAY = """---
- name: Probe with the fan-out strategy
  hosts: "{hosts}"
  gather_facts: false
  strategy: azlin.fleet.probe_fanout
  tasks:
    - name: Plain probe (a thread per host)
      azlin.fleet.probe_host:
        interval: "{{{{ probe_interval | default(omit) }}}}"
      register: fleet_probe

    - name: A looped probe (a worker, as with linear)
      azlin.fleet.probe_host:
        interval: 0
      loop: [1]
      register: looped

    - name: A probe whose when is false (skipped by a worker)
      azlin.fleet.probe_host:
      when: false
      register: skipped_probe

    - name: Keep what each host registered
      ansible.builtin.copy:
        content: "{{{{ {{'probe': fleet_probe, 'looped': looped, 'skipped': skipped_probe}} | to_json }}}}"
        dest: "{out}/{{{{ inventory_hostname }}}}.json"
        mode: "0600"
      delegate_to: localhost
"""


@pytest.fixture
def fanout(run_playbook, tmp_path):
    """Runner: (process, {host: what it registered}) of the play above on ``hosts`` with ``forks``."""

    def run(hosts: list[str], forks: int, **extra):
        out = tmp_path / "registered"
        out.mkdir(exist_ok=True)
        playbook = tmp_path / "fanout.yml"
        playbook.write_text(PLAY.format(hosts=",".join(hosts), out=out))
        proc = run_playbook(playbook, "--forks", str(forks), extra_vars={"probe_interval": INTERVAL, **extra})
        return proc, {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}

    return run


def test_every_hosts_sampling_window_overlaps_with_one_fork(fleet, fanout) -> None:
    # with one fork, workers would probe one host after another: the last host's probe would end at least
    # (hosts - 1) intervals after the first one's; from threads they all sample at once
    proc, registered = fanout(HOSTS, forks=1)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(registered) == sorted(HOSTS)
    ended = [registered[h]["probe"]["probed_at"] for h in HOSTS]
    assert max(ended) - min(ended) < (len(HOSTS) - 1) * INTERVAL / 2, ended
    for host in HOSTS:
        probe = registered[host]["probe"]
        assert 0 <= probe["metrics"]["cpu"] <= 100 and probe["metrics"]["cpus"] >= 1, (host, probe)
        # the tasks the strategy leaves to workers behave as under linear
        assert registered[host]["looped"]["results"][0]["metrics"]["cpus"] == probe["metrics"]["cpus"]
        assert registered[host]["skipped"]["skipped"] is True


def test_a_host_it_cannot_reach_is_unreachable_and_the_others_are_probed(fleet, fanout) -> None:
    fleet.fault("stage-3", "stop")
    proc, registered = fanout(HOSTS, forks=4)
    assert proc.returncode == 4, proc.stdout[-3000:]  # ansible-playbook's exit code for an unreachable host
    assert re.search(r"stage-3\s+: ok=0 .*unreachable=1", proc.stdout), proc.stdout[-3000:]
    assert sorted(registered) == sorted(set(HOSTS) - {"stage-3"})
    assert all("metrics" in registered[h]["probe"] for h in registered)


def test_an_unusable_answer_makes_only_that_host_unmeasurable(fleet, fanout) -> None:
    fleet.fault("web-2", "unreadable")
    proc, registered = fanout(["web-1", "web-2", "web-3"], forks=1)
    assert proc.returncode == 0, proc.stdout[-3000:]
    web2 = registered["web-2"]["probe"]
    assert web2["unmeasurable"] is True and web2["fleet_status"] == "unmeasurable" and web2["msg"], web2
    assert "metrics" in registered["web-1"]["probe"] and "metrics" in registered["web-3"]["probe"]


ROUTE_PATH = """---
- name: The route path's probe and routing
  ansible.builtin.import_playbook: azlin.fleet.probe

- name: Keep what each host registered
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write each host's probe
      ansible.builtin.copy:
        content: "{{{{ {{'probe': hostvars[item].fleet_probe}} | to_json }}}}"
        dest: "{out}/{{{{ item }}}}.json"
        mode: "0600"
      loop: {hosts}
"""


def test_the_route_paths_probe_overlaps_every_hosts_window_with_one_fork(fleet, run_playbook, tmp_path) -> None:
    out = tmp_path / "registered"
    out.mkdir()
    playbook = tmp_path / "route.yml"
    playbook.write_text(ROUTE_PATH.format(hosts=json.dumps(HOSTS), out=out))
    proc = run_playbook(
        playbook,
        "--forks",
        "1",
        extra_vars={"fleet_targets": ",".join(HOSTS), "fleet_probe_interval": INTERVAL},
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    ended = [json.loads((out / f"{host}.json").read_text())["probe"]["probed_at"] for host in HOSTS]
    assert max(ended) - min(ended) < (len(HOSTS) - 1) * INTERVAL / 2, ended
