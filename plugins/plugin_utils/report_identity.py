# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host-normalised outputs: each host's own identity (inventory name, hostname, addresses) becomes ``{host}``.

Outputs that differ only by the name of the host that printed them (``hostname``, ``deployed on web-3``, a log
line with the host's address) then group together, and diffs show only real differences. Each replaced original
is kept, in order, so the host's own text can be restored exactly (``restore_identity``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = "{host}"
_WORD = re.compile(r"[A-Za-z0-9_-]+")
# A name matches only as a whole word of a host name or address: "web-1" is not replaced inside "web-10",
# "web-1_old" or "10.0.0.12"; a dot may follow ("web-1.example.com" -> "{host}.example.com").
_MIN_LENGTH = 2
# Result keys that tell the hostname the host itself reports (facts, or a fleet action's own field).
_FACT_KEYS = ("ansible_hostname", "ansible_nodename", "ansible_fqdn", "hostname", "nodename", "fqdn")


@dataclass(frozen=True, slots=True)
class HostIdentity:
    """The names one host is known by, longest first."""

    host: str
    names: tuple[str, ...]
    # Each name cut into its words (runs of letters, digits, '_' and '-'), for the cheap test ``may_occur``.
    words: tuple[tuple[str, ...], ...] = ()


def build_identity(host: str, names: Iterable[Any] = ()) -> HostIdentity:
    """Build a host's identity from its inventory name and any other names or addresses (non-strings ignored).

    A literal placeholder in a text is always recorded as an original too, so such a text still restores exactly.
    """
    found: dict[str, None] = {}
    for name in (host, *names):
        if isinstance(name, str) and len(name.strip()) >= _MIN_LENGTH:
            found[name.strip()] = None
            found[name.strip().lower()] = None
    ordered = sorted(found, key=lambda n: (-len(n), n))
    return HostIdentity(host, tuple(ordered), tuple(tuple(_WORD.findall(name)) for name in ordered))


def word_set(text: str, limit: int = 50_000) -> frozenset[str] | None:
    """The distinct words of a text (runs of letters, digits, '_' and '-'), or None when there are over ``limit``.

    Built once for an output many hosts print, it answers "could this host's name be in it?" without scanning.
    """
    words = set()
    for word in _WORD.findall(text):
        words.add(word)
        if len(words) > limit:
            return None
    return frozenset(words)


def may_occur(identity: HostIdentity, words: frozenset[str]) -> bool:
    """Tell whether any of the host's names (or the placeholder) could occur in a text with these words."""
    return "host" in words or any(all(w in words for w in name_words) for name_words in identity.words)


def replace_identity(text: str, identity: HostIdentity) -> tuple[str, list[str]]:
    """Replace every whole-word occurrence of the host's names by ``{host}``; return the text and the originals.

    Plain substring searches (longest name first, so a known FQDN wins over the short name inside it), each
    checked for word boundaries: linear in the text for each name, and free when no name occurs.
    """
    spans: list[tuple[int, int]] = []
    for name in (PLACEHOLDER, *identity.names):
        start = text.find(name)
        while start >= 0:
            end = start + len(name)
            if (name == PLACEHOLDER or _is_boundary(text, start - 1) and _is_boundary(text, end)) and _is_free(
                spans, start, end
            ):
                bisect.insort(spans, (start, end))
            start = text.find(name, start + 1)
    if not spans:
        return text, []
    parts, originals, position = [], [], 0
    for start, end in spans:
        parts += [text[position:start], PLACEHOLDER]
        originals.append(text[start:end])
        position = end
    parts.append(text[position:])
    return "".join(parts), originals


def _is_free(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Tell whether [start, end) overlaps none of the sorted, disjoint spans."""
    index = bisect.bisect_left(spans, (start, end))
    if index < len(spans) and spans[index][0] < end:
        return False
    return not (index > 0 and spans[index - 1][1] > start)


def _is_boundary(text: str, index: int) -> bool:
    if index < 0 or index >= len(text):
        return True
    char = text[index]
    return not (char.isascii() and (char.isalnum() or char in "_-"))


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
