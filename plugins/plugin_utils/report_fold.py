# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fold host names into ClusterShell node sets (``web-[1-3,5]``), with a plain sorted list as fallback."""

from __future__ import annotations

import re
from collections.abc import Iterable

try:
    from ClusterShell.NodeSet import NodeSet, NodeSetException
except ImportError:  # the callback still works, hosts are listed unfolded (report option "folding" says so)
    NodeSet = None  # type: ignore[assignment,misc]
    NodeSetException = Exception  # type: ignore[assignment,misc]

# NodeSet treats , ! & ^ @ [ ] and spaces as syntax and silently mangles names holding them
# ("a!b" folds to "a"), so only plain host names are handed to it.
_FOLDABLE = re.compile(r"^[A-Za-z0-9._-]+$")


def is_folding_available() -> bool:
    """Tell whether ClusterShell is importable (otherwise host sets are plain lists)."""
    return NodeSet is not None


def fold_hosts(hosts: Iterable[str]) -> str:
    """Fold host names into one node-set string; names that do not round-trip are listed sorted, comma-separated."""
    names = sorted(set(hosts))
    if not names:
        return ""
    if NodeSet is None or not all(_FOLDABLE.match(name) for name in names):
        return ",".join(names)
    try:
        folded = str(NodeSet.fromlist(names))
        if sorted(NodeSet(folded)) != names:
            return ",".join(names)
    except NodeSetException:
        return ",".join(names)
    return folded


def sort_hosts(hosts: Iterable[str]) -> list[str]:
    """Sort host names naturally (web-2 before web-10)."""
    return sorted(hosts, key=host_sort_key)


def host_sort_key(name: str) -> list[tuple[int, int | str]]:
    """Key for natural host order: digit runs compare as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]
