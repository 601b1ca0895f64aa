"""Shared pytest set-up: make the working tree importable as ``ansible_collections.azlin.fleet``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".build" / "collections"

if not (COLLECTIONS / "ansible_collections" / "azlin" / "fleet").exists():
    raise RuntimeError(f"{COLLECTIONS} is missing the azlin.fleet link; run scripts/bootstrap.sh first.")
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
