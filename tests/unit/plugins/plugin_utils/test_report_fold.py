from __future__ import annotations

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_fold import fold_hosts, sort_hosts


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        pytest.param(["web-1", "web-2", "web-3", "web-5"], "web-[1-3,5]", id="range-with-gap"),
        pytest.param(["web-2", "web-10", "web-1"], "web-[1-2,10]", id="numeric-not-lexical"),
        pytest.param(["web-1", "stage-1", "stage-2"], "stage-[1-2],web-1", id="two-prefixes"),
        pytest.param(["db"], "db", id="single-name"),
        pytest.param(["a!b", "a"], "a,a!b", id="operator-char-not-mangled"),
        pytest.param(["h,1", "h2"], "h,1,h2", id="comma-in-name-listed-plainly"),
        pytest.param(["web-1", "web-1"], "web-1", id="duplicates-once"),
        pytest.param([], "", id="empty"),
    ],
)
def test_fold_hosts(hosts: list[str], expected: str) -> None:
    assert fold_hosts(hosts) == expected


def test_sort_hosts_is_natural() -> None:
    assert sort_hosts(["web-10", "web-2", "db-1", "web-1"]) == ["db-1", "web-1", "web-2", "web-10"]
