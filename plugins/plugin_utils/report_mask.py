# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secret masking for report text: default shapes plus the user's, applied before anything is stored.

Every default runs in time linear in the text: regexes have bounded repetitions before any part that may fail
(so a failed attempt costs a bounded number of steps, whatever the input), and the two shapes that cannot be
written that way (PEM blocks, bare JWTs) are found with plain substring searches. The whole text is masked before
it is truncated, so no secret survives by being cut in half.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError

MASK = "********"

# Key words whose value is a secret. A key may be part of a longer name (DB_PASSWORD, AWS_SECRET_ACCESS_KEY,
# client_secret, accessToken).
_KEYS = r"(?:password|passwd|token|secret|api_key|apikey|api-key)"
_KEY_WORDS = ("password", "passwd", "token", "secret", "api_key", "apikey", "api-key")

# Each regex keeps the key visible and hides only the value (group "secret"), so a reader still sees which
# setting was there. Each comes with the lower-case words one of which must be in the text for it to run: a
# substring test is ~100x cheaper than a case-insensitive regex scan of a 64 KB output.
DEFAULT_MASK_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # key=value, key: value, "key": "value", key='value': a quoted value runs to its closing quote, an unquoted
    # one to whitespace, a quote, a comma, an ampersand or a semicolon.
    (
        rf"(?i){_KEYS}[\w-]{{0,40}}+[\"']?[ \t]{{0,8}}+[=:][ \t]{{0,8}}+"
        r"(?:\"(?P<secret>[^\"\n]+)|'(?P<secret_single>[^'\n]+)|(?P<secret_bare>[^\s\"',;&]+))",
        _KEY_WORDS,
    ),
    # command-line options: --password X, --db-password X, --client-secret X, --token X
    (
        r"(?i)--(?=[\w-]{0,40}(?:password|passwd|token|secret))[\w-]{1,60}+[ \t]{1,8}+[\"']?"
        r"(?P<secret>[^\s\"'-][^\s\"']*)",
        ("--",),
    ),
    # HTTP authorization headers of any scheme
    (
        r"(?i)\bAuthorization[\"']?[ \t]{0,8}+[:=][ \t]{0,8}+[\"']?(?:(?:Bearer|Basic|Token|Digest|Negotiate|NTLM)"
        r"[ \t]{1,8}+)?(?P<secret>[A-Za-z0-9._~+/=-]+)",
        ("authorization",),
    ),
    # AWS access key ids
    (
        r"\b(?P<secret>(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16})\b",
        ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
    ),
    # Azure storage SAS signatures and connection-string keys
    (r"(?i)\bsig=(?P<secret>[A-Za-z0-9%+/=._-]+)", ("sig=",)),
    (
        r"(?i)\b(?:AccountKey|SharedAccessKey|SharedAccessSignature|SharedSecret)[ \t]{0,8}+=[ \t]{0,8}+"
        r"(?P<secret>[^;\s\"']+)",
        ("accountkey", "sharedaccess", "sharedsecret"),
    ),
    # credentials in URLs: scheme://user:password@host
    (r"(?i)\b[a-z][a-z0-9+.-]{0,30}+://[^/\s:@\"']{1,256}+:(?P<secret>[^/\s@\"']{1,256}+)@", ("://",)),
)

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_B64URL_RUN = re.compile(r"[A-Za-z0-9_-]+")


def mask_private_keys(text: str) -> str:
    """Mask the body of every PEM private key block; a block without its END line is masked to the end."""
    if "PRIVATE KEY-----" not in text:
        return text
    out, position = [], 0
    while True:
        begin = _PEM_BEGIN.search(text, position)
        if begin is None:
            break
        end = _PEM_END.search(text, begin.end())
        out += [text[position : begin.end()], MASK]
        if end is None:
            position = len(text)
            break
        position = end.start()
    out.append(text[position:])
    return "".join(out)


def mask_jwts(text: str) -> str:
    """Mask bare JSON Web Tokens (``eyJ<header>.eyJ<payload>.<signature>``) wherever they appear."""
    if "eyJ" not in text:
        return text
    out, position, search = [], 0, 0
    while True:
        start = text.find("eyJ", search)
        if start < 0:
            break
        end = _jwt_end(text, start)
        if end is None:
            # Any other "eyJ" inside this base64url run ends at the same place and fails the same way.
            run = _B64URL_RUN.match(text, start)
            search = run.end() if run else start + 3
            continue
        if start == 0 or not (text[start - 1].isalnum() or text[start - 1] in "_-"):
            out += [text[position:start], MASK]
            position = end
        search = end
    out.append(text[position:])
    return "".join(out)


def _jwt_end(text: str, start: int) -> int | None:
    header = _B64URL_RUN.match(text, start)
    if header is None or header.end() - start < 8 or not text.startswith(".eyJ", header.end()):
        return None
    payload = _B64URL_RUN.match(text, header.end() + 1)
    if payload is None or payload.end() - header.end() < 8:
        return None
    if not text.startswith(".", payload.end()):
        return None
    signature = _B64URL_RUN.match(text, payload.end() + 1)
    return signature.end() if signature else payload.end() + 1


# Shapes found by code rather than a regex, with their required words (checked on the original case).
_SCANNERS: tuple[tuple[Callable[[str], str], tuple[str, ...]], ...] = (
    (mask_private_keys, ()),
    (mask_jwts, ()),
)


@dataclass(frozen=True, slots=True)
class Masker:
    """Compiled mask patterns, each with its required words (empty: always run), plus the scanning shapes.

    A pattern with a group named ``secret`` masks only that group, otherwise the whole match.
    """

    patterns: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]
    scanners: tuple[tuple[Callable[[str], str], tuple[str, ...]], ...] = ()

    def mask(self, text: str) -> str:
        """Return ``text`` with every secret replaced by the mask."""
        for scan, _words in self.scanners:
            text = scan(text)  # first, so a key block's body never meets the line-based patterns
        lower = text.lower() if any(entry[1] for entry in self.patterns) else text
        for pattern, words in self.patterns:
            if not words or any(word in lower for word in words):
                text = pattern.sub(_replace, text)
        return text


def _replace(match: re.Match[str]) -> str:
    # A pattern may name several alternative secret groups (secret, secret_single, ...): the one that matched.
    names = [name for name in match.re.groupindex if name.startswith("secret") and match.group(name) is not None]
    if not names:
        return MASK
    start, end = match.span(names[0])
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
    return Masker(tuple(compiled), _SCANNERS if use_defaults else ())
