"""Client files: static inventory groups and connection vars, ssh_config, known_hosts."""

from __future__ import annotations

from pathlib import Path

import yaml

from azlin_fleet_sandbox.inventory import groups_for, render_hosts_yml, render_known_hosts, render_ssh_config
from azlin_fleet_sandbox.spec import HostSpec, default_hosts

KEY = Path("/state/id_ed25519")
KNOWN = Path("/state/known_hosts")


def test_groups_are_sanitised_pool_and_tag_groups() -> None:
    host = HostSpec("web-1", "10.0.0.1", pools=("web-servers",), tags={"azlin-pool": "web-servers", "env": "dev"})
    assert groups_for(host) == ["pool_web_servers", "tag_azlin_pool_web_servers", "tag_env_dev"]


def test_hosts_yml_is_a_usable_static_inventory() -> None:
    inventory = yaml.safe_load(render_hosts_yml(default_hosts(8), key_file=KEY, known_hosts=KNOWN))["all"]
    assert inventory["vars"]["ansible_user"] == "root"
    assert inventory["vars"]["ansible_ssh_private_key_file"] == "/state/id_ed25519"
    assert inventory["vars"]["ansible_python_interpreter"] == "/usr/bin/python3"
    args = inventory["vars"]["ansible_ssh_common_args"]
    assert "-o UserKnownHostsFile=/state/known_hosts -o StrictHostKeyChecking=yes" in args
    assert "StrictHostKeyChecking=no" not in args
    assert inventory["hosts"]["stage-2"]["ansible_host"] == "10.213.0.15"
    children = inventory["children"]
    assert sorted(children["pool_web_servers"]["hosts"]) == ["web-1", "web-2", "web-3"]
    assert sorted(children["pool_ci"]["hosts"]) == ["ci-1", "ci-2"]
    assert sorted(children["tag_env_staging"]["hosts"]) == ["stage-1", "stage-2", "stage-3"]
    assert len(children["tag_env_dev"]["hosts"]) == 5


def test_ssh_config_names_each_host_and_checks_host_keys() -> None:
    text = render_ssh_config(default_hosts(2), key_file=KEY, known_hosts=KNOWN)
    assert "Host web-2 10.213.0.12\n    HostName 10.213.0.12\n" in text
    assert "    StrictHostKeyChecking yes\n" in text
    assert "    UserKnownHostsFile /state/known_hosts\n" in text
    assert "StrictHostKeyChecking no" not in text


def test_known_hosts_lists_name_and_address() -> None:
    hosts = default_hosts(2)
    text = render_known_hosts(
        [(hosts[0], "ssh-ed25519 AAAAC3Nza1 root@web-1\n"), (hosts[1], "ssh-ed25519 AAAAB root@web-2")]
    )
    assert text == "web-1,10.213.0.11 ssh-ed25519 AAAAC3Nza1\nweb-2,10.213.0.12 ssh-ed25519 AAAAB\n"
