"""Paging of the local Azure endpoint's lists: skiptokens, nextLink, page bodies."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from azlin_fleet_sandbox.arm.paging import (
    BadSkipToken,
    decode_skiptoken,
    encode_skiptoken,
    next_link,
    page_body,
    page_slice,
)


@pytest.mark.parametrize(
    ("total", "page_size", "pages"),
    [
        pytest.param(0, 5, [(0, 0)], id="empty-list-is-one-empty-page"),
        pytest.param(5, 5, [(0, 5)], id="exactly-one-page"),
        pytest.param(6, 5, [(0, 5), (5, 6)], id="one-left-over"),
        pytest.param(7, 1, [(i, i + 1) for i in range(7)], id="page-size-one"),
        pytest.param(2500, 1000, [(0, 1000), (1000, 2000), (2000, 2500)], id="default-size-3-pages"),
    ],
)
def test_walking_the_pages_visits_every_item_once(total, page_size, pages):
    seen, token = [], None
    while True:
        start, stop, token = page_slice(total, token, page_size)
        seen.append((start, stop))
        if token is None:
            break
    assert seen == pages


def test_skiptoken_round_trip_and_garbage():
    assert decode_skiptoken(encode_skiptoken(1234)) == 1234
    assert decode_skiptoken(None) == 0
    for bad in ("nonsense!", encode_skiptoken(5)[:-2] + "zz", "b2Zmc2V0Oi0x"):  # last: "offset:-1"
        with pytest.raises(BadSkipToken):
            decode_skiptoken(bad)
    with pytest.raises(BadSkipToken):
        page_slice(3, encode_skiptoken(10), 2)  # beyond the end
    with pytest.raises(ValueError, match="page size must be at least 1"):
        page_slice(3, None, 0)


def test_next_link_keeps_the_query_and_replaces_the_skiptoken():
    link = next_link(
        "https://127.0.0.1:1234",
        "/subscriptions/s/providers/Microsoft.Compute/virtualMachines",
        {"api-version": "2026-04-01", "statusOnly": "true", "$skiptoken": "old"},
        "new",
    )
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://127.0.0.1:1234/subscriptions/s/providers/Microsoft.Compute/virtualMachines"
    )
    assert parse_qs(parts.query) == {"api-version": ["2026-04-01"], "statusOnly": ["true"], "$skiptoken": ["new"]}


def test_page_body_is_arm_list_json():
    body = json.loads(page_body([b'{"a":1}', b'{"b":2}'], "https://x/y?api-version=1&%24skiptoken=t"))
    assert body == {"value": [{"a": 1}, {"b": 2}], "nextLink": "https://x/y?api-version=1&%24skiptoken=t"}
    assert json.loads(page_body([], None)) == {"value": []}
