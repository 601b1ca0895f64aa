"""ARM list paging: `{"value": [...], "nextLink": ...}` with an opaque `$skiptoken` (pure functions)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

SKIPTOKEN = "$skiptoken"


class BadSkipToken(ValueError):
    """The `$skiptoken` of a request was not one this endpoint handed out."""


def encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_skiptoken(token: str | None) -> int:
    """The offset a skiptoken stands for (0 for none)."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as ex:
        raise BadSkipToken(token) from ex
    prefix, _, number = text.partition(":")
    if prefix != "offset" or not number.isdigit():
        raise BadSkipToken(token)
    return int(number)


def page_slice(total: int, skiptoken: str | None, page_size: int) -> tuple[int, int, str | None]:
    """(start, stop, next skiptoken or None) of the page a request asks for."""
    if page_size < 1:
        raise ValueError(f"page size must be at least 1, got {page_size}")
    start = decode_skiptoken(skiptoken)
    if start > total:
        raise BadSkipToken(skiptoken or "")
    stop = min(total, start + page_size)
    return start, stop, (encode_skiptoken(stop) if stop < total else None)


def next_link(base_url: str, path: str, query: Mapping[str, str], skiptoken: str) -> str:
    """The absolute nextLink: the same path and query (api-version included; the SDK follows it verbatim)."""
    params = [(k, v) for k, v in query.items() if k != SKIPTOKEN]
    params.append((SKIPTOKEN, skiptoken))
    return f"{base_url}{path}?{urlencode(params)}"


def page_body(items: Sequence[bytes], link: str | None) -> bytes:
    """The JSON body of one page from pre-serialised items."""
    body = b'{"value":[' + b",".join(items) + b"]"
    if link:
        body += b',"nextLink":' + json.dumps(link).encode()
    return body + b"}"
