"""The child ansible-playbook: command line, extra vars encoding, environment, forks."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader

from azlin_fleet_cli.playbook import PlaybookRun, build_command, build_env, forks_for, format_extra_vars


def _run(tmp_path: Path, **changes: object) -> PlaybookRun:
    fields: dict[str, object] = {
        "playbook": "azlin.fleet.run",
        "inventory": ("/inv/hosts.yml",),
        "extra_vars": {"fleet_command": "uptime", "fleet_targets": "pool_web"},
        "report_dir": tmp_path,
        "report_name": "fleet-run-1",
        "forks": 5,
    }
    fields.update(changes)
    return PlaybookRun(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "extra_vars",
    [
        pytest.param({"fleet_command": "docker ps --format '{{.Names}}'"}, id="jinja-braces"),
        pytest.param({"fleet_command": "echo \"a\\b\" 'c'\n\ttab ü {%raw%}"}, id="quotes-escapes-unicode"),
        pytest.param({"fleet_count": 3, "fleet_dry_run": True, "fleet_parallel": "50%"}, id="types"),
        pytest.param({"fleet_command": "echo: colon, {brace} [x] # not a comment"}, id="yaml-syntax"),
        # strings YAML would read as another type (ansible resolves !unsafe scalars as if they were plain)
        pytest.param({"fleet_command": "true", "fleet_targets": "yes", "fleet_parallel": "16", "fleet_gate": "1.5",
                      "fleet_route_by": "null", "fleet_chdir": "~", "fleet_health_url": "off"}, id="yaml-look-alikes"),
    ],
)
def test_extra_vars_round_trip_through_ansibles_loader(extra_vars: dict[str, object]) -> None:
    text = format_extra_vars(extra_vars)
    assert text.startswith("{")  # ansible-playbook -e treats a leading '{' as inline YAML/JSON
    loaded = DataLoader().load(text)
    assert loaded == extra_vars
    assert [isinstance(v, type(extra_vars[k])) for k, v in loaded.items()] == [True] * len(extra_vars)


def test_strings_are_marked_unsafe_so_ansible_never_templates_them() -> None:
    assert (
        format_extra_vars({"fleet_command": "{{ x }}", "fleet_count": 2})
        == '{"fleet_command": !unsafe "{{ x }}", "fleet_count": 2}'
    )


def test_command_line(tmp_path: Path) -> None:
    command = build_command(_run(tmp_path, passthrough=("--check",), verbosity=3))
    assert Path(command[0]).name == "ansible-playbook"
    assert command[1:] == [
        "-i",
        "/inv/hosts.yml",
        "azlin.fleet.run",
        "-e",
        '{"fleet_command": !unsafe "uptime", "fleet_targets": !unsafe "pool_web"}',
        "-vv",
        "--check",
    ]


def test_env_wires_the_report_and_keeps_users_settings(tmp_path: Path) -> None:
    base = {"ANSIBLE_PIPELINING": "False", "ANSIBLE_CALLBACKS_ENABLED": "profile_tasks", "ANSIBLE_FORKS": "2"}
    env = build_env(_run(tmp_path, env={"REQUESTS_CA_BUNDLE": "/ca.pem"}), base)
    assert env["ANSIBLE_PIPELINING"] == "False"  # the user's choice wins
    assert env["ANSIBLE_SSH_ARGS"] == "-o ControlMaster=auto -o ControlPersist=60s"
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert env["ANSIBLE_FORKS"] == "5"  # from --parallel, not the environment
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "profile_tasks,azlin.fleet.fleet_report"
    assert env["AZLIN_FLEET_REPORT_DIR"] == str(tmp_path)
    assert env["AZLIN_FLEET_REPORT_NAME"] == "fleet-run-1"
    assert env["AZLIN_FLEET_EVENTS_FILE"] == str(tmp_path / ".fleet-run-1.events.jsonl")
    assert env["REQUESTS_CA_BUNDLE"] == "/ca.pem"
    root = Path(env["ANSIBLE_COLLECTIONS_PATH"].split(":")[0])
    assert (root / "ansible_collections" / "azlin" / "fleet" / "plugins" / "plugin_utils").is_dir()


@pytest.mark.parametrize(("parallel", "expected"), [("5", 5), ("16", 16), ("1", 1), ("50%", 100)])
def test_forks(parallel: str, expected: int) -> None:
    assert forks_for(parallel) == expected


def test_forks_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANSIBLE_FORKS", raising=False)
    assert forks_for(None) == 16
    monkeypatch.setenv("ANSIBLE_FORKS", "40")
    assert forks_for(None) == 40
