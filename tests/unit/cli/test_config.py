"""Config file location and inventory resolution order: -i, config file, running sandbox, else a how-to."""

from __future__ import annotations

from pathlib import Path

import pytest

from azlin_fleet_cli import config as config_module
from azlin_fleet_cli.config import UserConfig, config_path, read_user_config, resolve_inventory
from azlin_fleet_cli.outcome import CliError, ExitCode


def test_config_path_honours_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == tmp_path / "azlin-fleet" / "config.yml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_path() == tmp_path / "home" / ".config" / "azlin-fleet" / "config.yml"


def test_config_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("inventory: fleet.azure_pools.yml\nreport_dir: /var/reports\n")
    loaded = read_user_config(path)
    assert loaded.inventory == (str(tmp_path / "fleet.azure_pools.yml"),)
    assert loaded.report_dir == "/var/reports"


def test_missing_config_is_empty(tmp_path: Path) -> None:
    assert read_user_config(tmp_path / "absent.yml") == UserConfig(path=tmp_path / "absent.yml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("inventry: x\n", "unknown key(s) 'inventry'", id="typo-key"),
        pytest.param("- a\n", "is not a mapping", id="list"),
        pytest.param("inventory: {a: 1}\n", "'inventory' must be a path or a list of paths", id="bad-inventory"),
        pytest.param("inventory: [\n", "unreadable", id="bad-yaml"),
    ],
)
def test_bad_config_is_exit_2(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(text)
    with pytest.raises(CliError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        read_user_config(path)
    assert caught.value.code == ExitCode.USAGE


def test_flag_wins_over_config(tmp_path: Path) -> None:
    flagged = tmp_path / "a.yml"
    flagged.write_text("all: {}\n")
    configured = UserConfig(path=tmp_path / "c.yml", inventory=(str(tmp_path / "b.yml"),))
    chosen = resolve_inventory([str(flagged)], configured)
    assert (chosen.sources, chosen.origin) == ((str(flagged),), "-i")


def test_missing_flagged_inventory_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="inventory '.*nope.yml' not found") as caught:
        resolve_inventory([str(tmp_path / "nope.yml")], UserConfig(path=tmp_path / "c.yml"))
    assert caught.value.code == ExitCode.USAGE


def test_config_inventory_used_when_no_flag(tmp_path: Path) -> None:
    inventory = tmp_path / "fleet.azure_pools.yml"
    inventory.write_text("plugin: azlin.fleet.azure_pools\n")
    chosen = resolve_inventory([], UserConfig(path=tmp_path / "c.yml", inventory=(str(inventory),)))
    assert chosen.sources == (str(inventory),)
    assert chosen.origin == str(tmp_path / "c.yml")


def test_no_inventory_anywhere_explains_azure_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config_module, "sandbox_inventory", lambda: None)
    with pytest.raises(
        CliError, match="no inventory: .*plugin: azlin.fleet.azure_pools.*azlin-fleet sandbox up"
    ) as caught:
        resolve_inventory([], UserConfig(path=tmp_path / "c.yml"))
    assert caught.value.code == ExitCode.USAGE
