"""Locating the azlin.fleet collection the CLI drives (and hands to ansible-playbook)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from azlin_fleet_cli import collection
from azlin_fleet_cli.outcome import CliError, ExitCode

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def fresh_lookup() -> Iterator[None]:
    collection.find_collections_root.cache_clear()
    yield
    collection.find_collections_root.cache_clear()


def test_development_tree_is_found_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANSIBLE_COLLECTIONS_PATH", raising=False)
    monkeypatch.delenv("ANSIBLE_COLLECTIONS_PATHS", raising=False)
    root = collection.find_collections_root()
    assert (root / "ansible_collections" / "azlin" / "fleet").resolve() == REPO


def test_users_collections_path_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "ansible_collections" / "azlin" / "fleet" / "plugins" / "plugin_utils").mkdir(parents=True)
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", f"{tmp_path / 'empty'}{os.pathsep}{tmp_path}")
    assert collection.find_collections_root() == tmp_path
    assert collection.collections_path_for_child().split(os.pathsep)[0] == str(tmp_path)


def test_missing_collection_is_exit_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(collection, "_candidate_roots", lambda: [tmp_path])
    with pytest.raises(
        CliError, match="collection 'azlin.fleet' not found: searched .*ansible-galaxy collection install"
    ) as caught:
        collection.find_collections_root()
    assert caught.value.code == ExitCode.USAGE
