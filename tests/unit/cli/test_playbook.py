"""The child ansible-playbook: command line, extra vars encoding, environment, forks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader

from azlin_fleet_cli.playbook import (
    Canceller,
    PlaybookRun,
    build_command,
    build_env,
    default_parallel,
    forks_for,
    format_extra_vars,
    private_passthrough,
)


def _run(tmp_path: Path, **changes: object) -> PlaybookRun:
    fields: dict[str, object] = {
        "playbook": "azlin.fleet.run",
        "inventory": ("/inv/hosts.yml",),
        "extra_vars": {"fleet_command": "uptime", "fleet_targets": "pool_web"},
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
        pytest.param(
            {
                "fleet_command": "true",
                "fleet_targets": "yes",
                "fleet_parallel": "16",
                "fleet_gate": "1.5",
                "fleet_route_by": "null",
                "fleet_chdir": "~",
                "fleet_health_url": "off",
            },
            id="yaml-look-alikes",
        ),
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


def test_command_line_passes_extra_vars_by_file_never_in_argv(tmp_path: Path) -> None:
    vars_file = tmp_path / "extra-vars.yml"
    command = build_command(_run(tmp_path, passthrough=("--check",), verbosity=3), vars_file)
    assert Path(command[0]).name == "ansible-playbook"
    assert command[1:] == ["-i", "/inv/hosts.yml", "azlin.fleet.run", "-e", f"@{vars_file}", "-vv", "--check"]
    assert not any("uptime" in arg for arg in command)


def test_env_wires_the_report_and_keeps_users_settings(tmp_path: Path) -> None:
    base = {
        "ANSIBLE_PIPELINING": "False",
        "ANSIBLE_CALLBACKS_ENABLED": "profile_tasks",
        "ANSIBLE_FORKS": "2",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": "/shared/cp",
        "AZLIN_FLEET_COMPARE_TO": "/stale.json",
    }
    workspace = tmp_path / "ws"
    env = build_env(_run(tmp_path, env={"REQUESTS_CA_BUNDLE": "/ca.pem"}), workspace, base)
    assert env["ANSIBLE_PIPELINING"] == "False"  # the user's choice wins
    assert env["ANSIBLE_SSH_ARGS"].split() == [
        "-o",
        "ControlMaster=auto",
        "-o",
        "ControlPersist=60s",
        "-o",
        "ServerAliveInterval=10",
        "-o",
        "ServerAliveCountMax=3",
    ]
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] == "True"
    assert env["ANSIBLE_FORKS"] == "5"  # the run's (forks_for), not the environment's
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "profile_tasks,azlin.fleet.fleet_report"
    # per-run private places: control sockets never shared with another run, the report written where only we can
    assert env["ANSIBLE_SSH_CONTROL_PATH_DIR"] == str(workspace / "cp")
    assert env["AZLIN_FLEET_REPORT_DIR"] == str(workspace / "report")
    assert env["AZLIN_FLEET_REPORT_NAME"] == "fleet-run-1"
    assert env["AZLIN_FLEET_EVENTS_FILE"] == str(workspace / "events.jsonl")
    assert "AZLIN_FLEET_COMPARE_TO" not in env and "AZLIN_FLEET_REPORT_FULL" not in env
    assert env["REQUESTS_CA_BUNDLE"] == "/ca.pem"
    root = Path(env["ANSIBLE_COLLECTIONS_PATH"].split(":")[0])
    assert (root / "ansible_collections" / "azlin" / "fleet" / "plugins" / "plugin_utils").is_dir()


def test_env_compare_to_and_full(tmp_path: Path) -> None:
    env = build_env(_run(tmp_path, compare_to="/r/fleet-run-0.json", full=True), tmp_path, {})
    assert env["AZLIN_FLEET_COMPARE_TO"] == "/r/fleet-run-0.json"
    assert env["AZLIN_FLEET_REPORT_FULL"] == "1"


def test_nested_environment_strings_are_unsafe_too() -> None:
    text = format_extra_vars({"fleet_environment": {"TOKEN": "{{ lookup('pipe', 'id') }}", "N": "3"}})
    loaded = DataLoader().load(text)
    assert loaded == {"fleet_environment": {"TOKEN": "{{ lookup('pipe', 'id') }}", "N": "3"}}
    assert '"TOKEN": !unsafe' in text


@pytest.mark.parametrize(("parallel", "expected"), [(None, 64), ("1", 64), ("16", 64), ("300", 300), ("50%", 64)])
def test_forks_leave_room_for_the_probe_whatever_parallel(
    parallel: str | None, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the playbook holds the steps to --parallel; forks that low would only make the probes wait for each other
    monkeypatch.setenv("ANSIBLE_FORKS", "4")
    assert forks_for(parallel) == expected


def test_default_parallel_is_the_users_forks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANSIBLE_FORKS", raising=False)
    assert default_parallel() == 16
    monkeypatch.setenv("ANSIBLE_FORKS", "40")
    assert default_parallel() == 40


@pytest.mark.parametrize(
    ("passthrough", "expected_args", "expected_files"),
    [
        pytest.param(
            ("-e", '{"fleet_environment": {"API_TOKEN": "s3cr3t"}}'),
            ("-e", "@/ws/extra-vars-1.yml"),
            {"extra-vars-1.yml": '{"fleet_environment": {"API_TOKEN": "s3cr3t"}}'},
            id="inline-yaml",
        ),
        pytest.param(
            ("--limit", "web-1", "-e", "a=1 token='x y'", "--extra-vars=@mine.yml"),
            ("--limit", "web-1", "-e", "@/ws/extra-vars-1.yml", "-e", "@mine.yml"),
            {"extra-vars-1.yml": '{"a": "1", "token": "x y"}'},
            id="key-value-and-file",
        ),
        pytest.param(("--check", "-e"), ("--check", "-e"), {}, id="dangling-flag-left-to-ansible"),
        pytest.param(
            ("-e@vars.yml", '-e{"x": 1}', "--extra-vars", "b=2"),
            ("-e", "@vars.yml", "-e", "@/ws/extra-vars-1.yml", "-e", "@/ws/extra-vars-2.yml"),
            {"extra-vars-1.yml": '{"x": 1}', "extra-vars-2.yml": '{"b": "2"}'},
            id="glued-short-and-long-flag",
        ),
    ],
)
def test_passthrough_extra_vars_move_into_files(
    passthrough: tuple[str, ...], expected_args: tuple[str, ...], expected_files: dict[str, str]
) -> None:
    args, files = private_passthrough(passthrough, Path("/ws"))
    assert args == expected_args
    assert {name: data.decode() for name, data in files.items()} == expected_files


def test_passthrough_files_load_as_ansible_loads_the_argument() -> None:
    value = "a=1 b='two words' c={{ x }}"
    _, files = private_passthrough(("-e", value), Path("/ws"))
    from ansible.parsing.splitter import parse_kv

    assert DataLoader().load(files["extra-vars-1.yml"].decode()) == parse_kv(value)


def test_cancel_forwards_to_the_whole_group_once_then_kills(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    # A parent that ignores SIGTERM for 1 s (like ansible-playbook writing its report) and a child in its group.
    script = "trap 'sleep 1; exit 7' TERM; sleep 60 & wait"
    child = subprocess.Popen(["sh", "-c", script], process_group=0)
    canceller = Canceller()
    canceller.attach(child.pid)
    time.sleep(0.3)
    canceller.on_signal(signal.SIGTERM, None)
    assert canceller.signal_name == "SIGTERM" and not canceller.overdue()
    assert child.wait(timeout=10) == 7
    with pytest.raises(ProcessLookupError):
        os.killpg(child.pid, 0)  # the sleep in the same group got the signal too


def test_a_signal_before_the_child_exists_is_forwarded_when_it_starts() -> None:
    import signal
    import subprocess

    canceller = Canceller()
    canceller.on_signal(signal.SIGINT, None)
    child = subprocess.Popen(["sleep", "30"], process_group=0)
    canceller.attach(child.pid)
    assert child.wait(timeout=10) == -signal.SIGINT
    assert canceller.signal_name == "SIGINT"
