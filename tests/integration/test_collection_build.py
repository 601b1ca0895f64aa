"""The collection builds into a clean tarball that installs and whose plugins ansible-doc lists (issue 2)."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What a user of the collection gets, by plugin type (ansible-doc -l lists these).
EXPECTED_PLUGINS = {
    "inventory": {"azlin.fleet.azure_pools"},
    "module": {"azlin.fleet.fleet_probe", "azlin.fleet.health_check", "azlin.fleet.route"},
    "callback": {"azlin.fleet.fleet_report"},
    "strategy": {"azlin.fleet.least_loaded"},
}
# Development-only paths that must never reach the tarball.
FORBIDDEN_PREFIXES = (".venv", ".build", "build/", ".sandbox", ".ci/", "src/", "scripts/", "benchmarks/",
                      "requirements/",
                      "tests/", "reports/", ".git/", ".ansible/", ".hypothesis/", "ansible.cfg")


def _run(cmd: list[str], ansible_bin: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(ansible_bin / cmd[0]), *cmd[1:]], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, ansible_bin: Path) -> tuple[Path, Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("collection")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    # No repo ansible.cfg: only the installed copy may be visible.
    env |= {"ANSIBLE_CONFIG": str(work / "none.cfg"), "ANSIBLE_COLLECTIONS_PATH": str(work / "installed"),
            "ANSIBLE_NOCOLOR": "1"}
    build = subprocess.run([str(ansible_bin / "ansible-galaxy"), "collection", "build", "--output-path", str(work),
                            str(REPO)], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stderr
    tarball = next(work.glob("azlin-fleet-*.tar.gz"))
    _run(["ansible-galaxy", "collection", "install", str(tarball), "-p", str(work / "installed")], ansible_bin, env)
    return tarball, work / "installed", env


def test_tarball_holds_the_collection_and_no_development_files(installed: tuple[Path, Path, dict]) -> None:
    tarball, _, _ = installed
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert "plugins/inventory/azure_pools.py" in names
    assert "playbooks/run.yml" in names
    leaked = [n for n in names if n.startswith(FORBIDDEN_PREFIXES) or "__pycache__" in n]
    assert leaked == []


@pytest.mark.parametrize("plugin_type", sorted(EXPECTED_PLUGINS))
def test_installed_collection_lists_its_plugins(installed: tuple[Path, Path, dict], ansible_bin: Path,
                                                plugin_type: str) -> None:
    _, path, env = installed
    listing = _run(["ansible-doc", "-t", plugin_type, "-l", "azlin.fleet"], ansible_bin, env).stdout
    listed = {line.split()[0] for line in listing.splitlines() if line.startswith("azlin.fleet.")}
    assert EXPECTED_PLUGINS[plugin_type] <= listed, listing
    # The listing comes from the installed copy, not from the working tree.
    assert (path / "ansible_collections" / "azlin" / "fleet" / "MANIFEST.json").exists()


def test_installed_playbook_resolves_by_name(installed: tuple[Path, Path, dict], ansible_bin: Path) -> None:
    _, path, env = installed
    proc = _run(["ansible-playbook", "--syntax-check", "-i", "localhost,", "azlin.fleet.run"], ansible_bin, env)
    run_yml = path / "ansible_collections" / "azlin" / "fleet" / "playbooks" / "run.yml"
    assert f"playbook: {run_yml}" in proc.stdout, proc.stdout
