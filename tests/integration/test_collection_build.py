"""The collection builds into a clean tarball that installs and whose plugins ansible-doc lists (issue 2)."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# What a user of the collection gets, by plugin type (ansible-doc -l lists these).
EXPECTED_PLUGINS = {
    "inventory": {"azlin.fleet.azure_pools"},
    "module": {
        "azlin.fleet.fleet_probe",
        "azlin.fleet.health_check",
        "azlin.fleet.route",
        "azlin.fleet.job_artifacts",
        "azlin.fleet.report_upload",
        "azlin.fleet.report_merge",
    },
    "callback": {"azlin.fleet.fleet_report"},
    "strategy": {"azlin.fleet.least_loaded", "azlin.fleet.probe_fanout"},
}
# Development-only paths that must never reach the tarball.
FORBIDDEN_PREFIXES = (
    ".venv",
    ".build",
    "build/",
    ".sandbox",
    ".ci/",
    "src/",
    "scripts/",
    "benchmarks/",
    "requirements/",
    "tests/",
    "reports/",
    ".git/",
    ".ansible/",
    ".hypothesis/",
    "ansible.cfg",
)


def _run(cmd: list[str], ansible_bin: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(ansible_bin / cmd[0]), *cmd[1:]], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, ansible_bin: Path) -> tuple[Path, Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("collection")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    # No repo ansible.cfg: only the installed copy may be visible.
    env |= {
        "ANSIBLE_CONFIG": str(work / "none.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(work / "installed"),
        "ANSIBLE_NOCOLOR": "1",
    }
    build = subprocess.run(
        [str(ansible_bin / "ansible-galaxy"), "collection", "build", "--output-path", str(work), str(REPO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
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
def test_installed_collection_lists_its_plugins(
    installed: tuple[Path, Path, dict], ansible_bin: Path, plugin_type: str
) -> None:
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


# What an execution environment must get from the collection (meta/execution-environment.yml, requirements.txt,
# bindep.txt), whatever ansible-builder version builds it.
EE_PYTHON = {
    "azure-identity",
    "azure-mgmt-compute",
    "azure-mgmt-network",
    "azure-storage-blob",
    "azure-core",
    "clustershell",
}
EE_SYSTEM = {"openssh-client [platform:dpkg]", "openssh-clients [platform:rpm]"}


def _requirement_names(lines: list[str]) -> set[str]:
    return {
        line.split("#")[0].strip().split(";")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
        for line in lines
        if line.split("#")[0].strip()
    }


def test_tarball_holds_the_execution_environment_files(installed: tuple[Path, Path, dict]) -> None:
    tarball, _, _ = installed
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert {"meta/execution-environment.yml", "requirements.txt", "bindep.txt", "playbooks/artifacts.yml"} <= set(names)


def test_ansible_builder_introspects_the_dependencies(installed: tuple[Path, Path, dict], ansible_bin: Path) -> None:
    _, path, env = installed
    proc = _run(["ansible-builder", "introspect", str(path)], ansible_bin, env)
    data = yaml.safe_load(proc.stdout.split("---", 1)[1])
    ours = [line for line in data["python"] if line.endswith("# from collection azlin.fleet")]
    python = _requirement_names(ours)
    assert EE_PYTHON <= python, data
    # Red Hat's certification rules: no ansible-core and no pins in a collection's requirements.
    assert not {"ansible-core", "ansible", "ansible-base"} & python
    assert not [line for line in ours if any(op in line for op in ("==", ">=", "<", "~="))]
    system = {line.split("#")[0].strip() for line in data["system"] if line.endswith("# from collection azlin.fleet")}
    assert EE_SYSTEM <= system, data


def test_ansible_builder_creates_a_build_context(
    installed: tuple[Path, Path, dict], ansible_bin: Path, tmp_path: Path
) -> None:
    """The EE definition of docs/awx.md makes a build context that installs the collection and introspects it."""
    tarball, _, env = installed
    definition = tmp_path / "execution-environment.yml"
    definition.write_text(
        yaml.safe_dump(
            {
                "version": 3,
                "images": {"base_image": {"name": "quay.io/ansible/awx-ee:24.6.1"}},
                "dependencies": {
                    "ansible_core": {"package_pip": "ansible-core>=2.19"},
                    "ansible_runner": {"package_pip": "ansible-runner"},
                    "galaxy": {"collections": [{"name": f"/build/files/{tarball.name}", "type": "file"}]},
                },
                "additional_build_files": [{"src": str(tarball), "dest": "files"}],
            }
        )
    )
    context = tmp_path / "context"
    _run(
        ["ansible-builder", "create", "-f", str(definition), "-c", str(context), "--output-filename", "Containerfile"],
        ansible_bin,
        env,
    )
    containerfile = (context / "Containerfile").read_text()
    build = context / "_build"
    assert (build / "files" / tarball.name).read_bytes() == tarball.read_bytes()
    assert yaml.safe_load((build / "requirements.yml").read_text())["collections"][0]["name"].endswith(tarball.name)
    assert "ansible-galaxy" in containerfile and "introspect" in containerfile, containerfile
    # The image build runs the context's own introspect script on the installed collections: run it the same way.
    install_root = tmp_path / "collections"
    _run(
        ["ansible-galaxy", "collection", "install", "--force", str(tarball), "-p", str(install_root)], ansible_bin, env
    )
    script = next(build.rglob("introspect.py"))
    proc = subprocess.run(
        [
            str(ansible_bin / "python"),
            str(script),
            "introspect",
            str(install_root),
            "--write-pip",
            str(tmp_path / "pip.txt"),
            "--write-bindep",
            str(tmp_path / "bindep.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert EE_PYTHON <= _requirement_names((tmp_path / "pip.txt").read_text().splitlines())
    assert EE_SYSTEM <= {line.split("#")[0].strip() for line in (tmp_path / "bindep.txt").read_text().splitlines()}
