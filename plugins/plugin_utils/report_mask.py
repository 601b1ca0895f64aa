# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secret masking for report text: default patterns plus the user's, applied before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError

MASK = "********"

# Each default keeps the key visible and hides only the value (group "secret"), so a reader still sees
# which setting was there. Keys may be part of a longer name (DB_PASSWORD, AWS_SECRET_ACCESS_KEY); values
# run to the next whitespace, quote, comma, ampersand or semicolon. Each default comes with the lower-case
# words one of which must be in the text for it to match: a substring test is ~100x cheaper than a
# case-insensitive regex scan of a 64 KB output.
DEFAULT_MASK_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        r"(?i)(?:password|passwd|token|secret|api_key|apikey|api-key)\w*\s*[=:]\s*[\"']?(?P<secret>[^\s\"',;&]+)",
        ("password", "passwd", "token", "secret", "api_key", "apikey", "api-key"),
    ),
    (r"(?i)\bAuthorization:\s*Bearer\s+(?P<secret>[A-Za-z0-9._~+/=-]+)", ("authorization",)),
    (r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?P<secret>.*?)-----END [A-Z0-9 ]*PRIVATE KEY-----", ("private key",)),
)


@dataclass(frozen=True, slots=True)
class Masker:
    """Compiled mask patterns, each with its required words (empty: always run).

    A pattern with a group named ``secret`` masks only that group, otherwise the whole match.
    """

    patterns: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]

    def mask(self, text: str) -> str:
        """Return ``text`` with every secret replaced by the mask."""
        lower = text.lower() if any(entry[1] for entry in self.patterns) else text
        for pattern, words in self.patterns:
            if not words or any(word in lower for word in words):
                text = pattern.sub(_replace, text)
        return text


def _replace(match: re.Match[str]) -> str:
    if "secret" not in match.re.groupindex or match.group("secret") is None:
        return MASK
    start, end = match.span("secret")
    base = match.start()
    whole = match.group(0)
    return whole[: start - base] + MASK + whole[end - base :]


def build_masker(user_patterns: Iterable[str] = (), use_defaults: bool = True) -> Masker:
    """Compile the default and user mask patterns; a bad user pattern is a FleetConfigError naming it."""
    compiled = [(re.compile(p), words) for p, words in DEFAULT_MASK_PATTERNS] if use_defaults else []
    for pattern in user_patterns:
        try:
            compiled.append((re.compile(pattern), ()))
        except re.error as ex:
            raise FleetConfigError(
                f"Mask pattern {pattern!r}",
                f"not a valid regular expression ({ex})",
                "Fix the pattern in the callback option mask_patterns.",
            ) from ex
    return Masker(tuple(compiled))
