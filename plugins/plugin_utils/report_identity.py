# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host-normalised outputs: each host's own identity (inventory name, hostname, addresses) becomes ``{host}``.

Outputs that differ only by the name of the host that printed them (``hostname``, ``deployed on web-3``, a log
line with the host's address) then group together, and diffs show only real differences. Each replaced original
is kept, in order, so the host's own text can be restored exactly (``restore_identity``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = "{host}"
# A name matches only as a whole word of a host name or address: "web-1" is not replaced inside "web-10",
# "web-1_old" or "10.0.0.12"; a dot may follow ("web-1.example.com" -> "{host}.example.com").
_NAME_CHARS = "A-Za-z0-9_-"
_MIN_LENGTH = 2
# Result keys that tell the hostname the host itself reports (facts, or a fleet action's own field).
_FACT_KEYS = ("ansible_hostname", "ansible_nodename", "ansible_fqdn", "hostname", "nodename", "fqdn")


@dataclass(frozen=True, slots=True)
class HostIdentity:
    """The names one host is known by, longest first, with the pattern that finds them in a text."""

    host: str
    names: tuple[str, ...]
    pattern: re.Pattern[str]


def build_identity(host: str, names: Iterable[Any] = ()) -> HostIdentity:
    """Build a host's identity from its inventory name and any other names or addresses (non-strings ignored).

    The literal placeholder is always part of the pattern, so a text that already holds ``{host}`` still restores
    exactly.
    """
    found: dict[str, None] = {}
    for name in (host, *names):
        if isinstance(name, str) and len(name.strip()) >= _MIN_LENGTH:
            found[name.strip()] = None
            found[name.strip().lower()] = None
    ordered = sorted(found, key=lambda n: (-len(n), n))
    alternatives = "|".join(re.escape(name) for name in ordered)
    pattern = re.compile(
        rf"{re.escape(PLACEHOLDER)}|(?<![{_NAME_CHARS}])(?:{alternatives})(?![{_NAME_CHARS}])"
        if alternatives
        else re.escape(PLACEHOLDER)
    )
    return HostIdentity(host, tuple(ordered), pattern)


def is_identity_in(identity: HostIdentity, text: str) -> bool:
    """Tell cheaply (plain substring search) whether any of the host's names, or the placeholder, occur in text."""
    return PLACEHOLDER in text or any(name in text for name in identity.names)


def replace_identity(text: str, identity: HostIdentity) -> tuple[str, list[str]]:
    """Replace every whole-word occurrence of the host's names by ``{host}``; return the text and the originals."""
    if not is_identity_in(identity, text):
        return text, []
    originals: list[str] = []

    def _swap(match: re.Match[str]) -> str:
        originals.append(match.group(0))
        return PLACEHOLDER

    return identity.pattern.sub(_swap, text), originals


def restore_identity(text: str, originals: list[str] | None) -> str:
    """Put a host's originals back into a normalised text (the inverse of ``replace_identity``).

    A text that holds fewer placeholders than originals (it was truncated) takes the first and last originals,
    as truncation keeps the head and the tail.
    """
    if not originals:
        return text
    parts = text.split(PLACEHOLDER)
    holes = len(parts) - 1
    if holes < len(originals):
        return text  # the caller passes the originals of the kept text; a mismatch must not misplace names
    out = [parts[0]]
    for original, part in zip(originals, parts[1:], strict=False):
        out += [original, part]
    out += [PLACEHOLDER + part for part in parts[len(originals) + 1 :]]
    return "".join(out)


def kept_originals(kept: str, originals: list[str], truncated: bool, marker_at: int | None) -> list[str]:
    """The originals that belong to a truncated text: those of its head, then those of its tail."""
    if not truncated or marker_at is None:
        return originals
    head = kept[:marker_at].count(PLACEHOLDER)
    tail = kept[marker_at:].count(PLACEHOLDER)
    return originals[:head] + (originals[len(originals) - tail :] if tail else [])


def names_from_result(result: Mapping[str, Any]) -> list[str]:
    """Hostnames a result reveals about its own host: gathered facts or a ``fleet_hostname`` field."""
    names = []
    if isinstance(result.get("fleet_hostname"), str):
        names.append(result["fleet_hostname"])
    facts = result.get("ansible_facts")
    if isinstance(facts, Mapping):
        names += [facts[key] for key in _FACT_KEYS if isinstance(facts.get(key), str)]
        for key in ("ansible_all_ipv4_addresses", "ansible_all_ipv6_addresses"):
            if isinstance(facts.get(key), list):
                names += [address for address in facts[key] if isinstance(address, str)]
    return names
