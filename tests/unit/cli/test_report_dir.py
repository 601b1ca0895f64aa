"""The report dir: private default home, checks before any host is touched, safe files, list and 'last'."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from azlin_fleet_cli.outcome import CliError, ExitCode
from azlin_fleet_cli.private_files import create_file, open_dir, read_file, write_file_atomic
from azlin_fleet_cli.report_dir import (
    RunRecord,
    choose_report_dir,
    default_report_dir,
    describe_report,
    find_last,
    list_reports,
    new_report_name,
    prepare_report_dir,
    save_report,
)


def test_default_home_is_the_xdg_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_report_dir() == tmp_path / "state" / "azlin-fleet" / "reports"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_report_dir() == tmp_path / "home" / ".local" / "state" / "azlin-fleet" / "reports"


def test_choice_order_flag_env_config_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("AZLIN_FLEET_REPORT_DIR", raising=False)
    assert choose_report_dir(None, None) == tmp_path / "state" / "azlin-fleet" / "reports"
    assert choose_report_dir(None, str(tmp_path / "cfg")) == tmp_path / "cfg"
    monkeypatch.setenv("AZLIN_FLEET_REPORT_DIR", str(tmp_path / "env"))
    assert choose_report_dir(None, str(tmp_path / "cfg")) == tmp_path / "env"
    assert choose_report_dir(str(tmp_path / "flag"), str(tmp_path / "cfg")) == tmp_path / "flag"


def test_missing_dirs_are_created_0700_each(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "reports"
    assert prepare_report_dir(target) == target
    for path in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert os.listdir(target) == []  # the writability probe leaves nothing behind


def test_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "reports").write_text("x")
    with pytest.raises(CliError, match=r"is a file, not a directory") as caught:
        prepare_report_dir(tmp_path / "reports")
    assert caught.value.code == ExitCode.USAGE


def test_a_dir_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(CliError, match=r"cannot be created: '.*plain' is a file"):
        prepare_report_dir(tmp_path / "plain" / "reports")


def test_writable_by_others_is_refused_unless_sticky_and_mine(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(CliError, match=r"writable by other users \(mode 777\)"):
        prepare_report_dir(shared)
    shared.chmod(0o1777)
    assert prepare_report_dir(shared) == shared
    shared.chmod(0o775)
    with pytest.raises(CliError, match=r"writable by other users"):
        prepare_report_dir(shared)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory away")
def test_a_dir_of_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 4242, 4242)
    with pytest.raises(CliError, match=r"belongs to another user \(uid 4242\)"):
        prepare_report_dir(theirs)


def test_create_file_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "planted").symlink_to(victim)
    fd = open_dir(tmp_path)
    try:
        with pytest.raises(FileExistsError):
            create_file(fd, "planted", b"overwritten")
        write_file_atomic(fd, "planted", b"report")  # replaces the link itself
    finally:
        os.close(fd)
    assert victim.read_text() == "precious"
    assert not (tmp_path / "planted").is_symlink() and (tmp_path / "planted").read_text() == "report"
    assert stat.S_IMODE((tmp_path / "planted").stat().st_mode) == 0o600


def test_read_file_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    fd = open_dir(tmp_path)
    try:
        assert read_file(fd, "real.json") == b"{}"
        with pytest.raises(OSError):
            read_file(fd, "link.json")
    finally:
        os.close(fd)


def test_report_names_are_unique_even_in_the_same_millisecond() -> None:
    now = datetime(2026, 12, 4, 18, 0, 0, 123456, tzinfo=UTC)
    names = {new_report_name("run", now) for _ in range(200)}
    assert len(names) == 200
    assert all(name.startswith("fleet-run-20261204T180000123Z-") for name in names)


def _report(name: str, started: str, **extra: object) -> dict[str, object]:
    return {
        "format": "azlin.fleet.report",
        "version": 1,
        "name": name,
        "started": started,
        "complete": True,
        "interrupted": None,
        "counts": {"ok": 2, "failed": 1},
        "hosts": [],
        **extra,
    }


def _save(tmp_path: Path, name: str, started: str, record: RunRecord) -> None:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / f"{name}.json").write_text(json.dumps(_report(name, started)))
    (work / f"{name}.md").write_text("# r")
    fd = open_dir(work)
    try:
        saved, error = save_report(fd, name, tmp_path / "reports", record, ("json", "md", "html"))
    finally:
        os.close(fd)
    assert error is None
    assert [path.name for path in saved] == [f"{name}.json", f"{name}.md"]  # no html in the workspace


UPTIME_WEB = RunRecord("run", "uptime", None, "pool_web")
UPTIME_CI = RunRecord("run", "uptime", None, "pool_ci")
DEPLOY_WEB = RunRecord("workflow", None, "/w/deploy.yaml", "pool_web")


def test_list_newest_first_and_last_of_the_same_command_and_targets(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir(mode=0o700)
    _save(tmp_path, "r1", "2026-12-04T10:00:00+00:00", UPTIME_WEB)
    _save(tmp_path, "r2", "2026-12-04T11:00:00+00:00", UPTIME_CI)
    _save(tmp_path, "r3", "2026-12-04T12:00:00+00:00", DEPLOY_WEB)
    (tmp_path / "reports" / "junk.json").write_text("not json")
    (tmp_path / "reports" / "other.json").write_text('{"format": "something else"}')
    saved = list_reports(tmp_path / "reports")
    assert [item.path.name for item in saved] == ["r3.json", "r2.json", "r1.json"]
    assert stat.S_IMODE((tmp_path / "reports" / "r1.json").stat().st_mode) == 0o600
    last = find_last(tmp_path / "reports", RunRecord("run", "uptime", None, "pool_web"))
    assert last is not None and last.path.name == "r1.json"
    assert find_last(tmp_path / "reports", RunRecord("run", "uptime", None, "pool_x")) is None
    newest = find_last(tmp_path / "reports")
    assert newest is not None and newest.path.name == "r3.json"
    assert describe_report(saved[0]) == [
        "2026-12-04 12:00:00",
        "workflow /w/deploy.yaml",
        "pool_web",
        "complete",
        "ok=2 failed=1",
        "r3.json",
    ]
    assert describe_report(saved[2])[1:3] == ["uptime", "pool_web"]


def test_list_of_a_missing_dir_is_empty(tmp_path: Path) -> None:
    assert list_reports(tmp_path / "none") == []
