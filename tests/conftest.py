"""Shared pytest set-up: make the working tree importable as ``ansible_collections.azlin.fleet``.

Ansible's own collection finder is installed (as ansible-playbook does), so plugin modules imported by tests and
plugins loaded through the plugin loader are the same module objects.
"""

from __future__ import annotations

from pathlib import Path

from ansible.plugins.loader import init_plugin_loader

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".build" / "collections"

if not (COLLECTIONS / "ansible_collections" / "azlin" / "fleet").exists():
    raise RuntimeError(f"{COLLECTIONS} is missing the azlin.fleet link; run scripts/bootstrap.sh first.")
init_plugin_loader([str(COLLECTIONS)])
