"""Find the azlin.fleet collection the CLI drives and make its plugin_utils importable.

The CLI has no logic of its own: gate grammar, routing values, workflow schema, group-name sanitizing and
report rendering all come from the collection's ``plugin_utils``. So the first thing it does is find the
collection (the user's ANSIBLE_COLLECTIONS_PATH, then the development tree this package was installed from,
then Ansible's default paths and site-packages), put that collections root on ``sys.path`` and hand the same
root to the child ``ansible-playbook`` through ANSIBLE_COLLECTIONS_PATH, so both sides use the same code.
"""

from __future__ import annotations

import importlib
import os
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from azlin_fleet_cli.outcome import CliError, ExitCode

NAMESPACE = "azlin"
NAME = "fleet"
_PLUGIN_UTILS = f"ansible_collections.{NAMESPACE}.{NAME}.plugins.plugin_utils"


def _candidate_roots() -> list[Path]:
    roots: list[Path] = []
    for var in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"):
        roots += [Path(p).expanduser() for p in os.environ.get(var, "").split(os.pathsep) if p]
    # Development tree: src/azlin_fleet_cli/ -> repo root, whose .build/collections links back to the tree.
    repo = Path(__file__).resolve().parents[2]
    if (repo / "galaxy.yml").is_file():
        roots.append(repo / ".build" / "collections")
    roots += [Path("~/.ansible/collections").expanduser(), Path("/usr/share/ansible/collections")]
    roots += [Path(p) for p in sys.path if p]
    return roots


def _is_collections_root(root: Path) -> bool:
    base = root / "ansible_collections" / NAMESPACE / NAME
    if root.name == "ansible_collections":
        base = root / NAMESPACE / NAME
    return (base / "plugins" / "plugin_utils").is_dir()


@cache
def find_collections_root() -> Path:
    """Return the collections root (the dir holding ``ansible_collections/``) that contains azlin.fleet."""
    tried = []
    for root in _candidate_roots():
        tried.append(str(root))
        if _is_collections_root(root):
            return root.parent if root.name == "ansible_collections" else root
    raise CliError(
        ExitCode.USAGE,
        f"collection 'azlin.fleet' not found: searched {', '.join(dict.fromkeys(tried))}. "
        "Install it with 'ansible-galaxy collection install azlin.fleet' or point ANSIBLE_COLLECTIONS_PATH at it.",
    )


def import_plugin_utils(module: str) -> ModuleType:
    """Import ``plugins/plugin_utils/<module>.py`` of the located collection as a plain Python module."""
    root = str(find_collections_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(f"{_PLUGIN_UTILS}.{module}")
    except ModuleNotFoundError as ex:
        raise CliError(
            ExitCode.USAGE,
            f"collection 'azlin.fleet' at {root} is incomplete: cannot import plugin_utils.{module} ({ex}). "
            "Reinstall the collection.",
        ) from ex


def collections_path_for_child() -> str:
    """ANSIBLE_COLLECTIONS_PATH for the child ansible-playbook: the located root first, then the user's."""
    paths = [str(find_collections_root())]
    paths += [p for p in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(paths))
