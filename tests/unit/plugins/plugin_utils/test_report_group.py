from __future__ import annotations

from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_group import (
    build_task_entry,
    count_statuses,
    diff_groups,
    group_results,
    summarize_hosts,
)

OUTPUTS = {
    "base": {"text": "line 1\nline 2\nline 3\n", "size": 21, "truncated": False},
    "other": {"text": "line 1\nline two\nline 3\n", "size": 23, "truncated": False},
}


def result(
    host: str, status: str = "ok", rc: int | None = 0, output: str | None = "base", **extra: Any
) -> dict[str, Any]:
    return {"host": host, "status": status, "rc": rc, "output": output, "reason": None, "no_log": False, **extra}


def eight_hosts() -> list[dict[str, Any]]:
    results = [result(f"web-{i}") for i in (1, 2, 3)] + [result(f"stage-{i}") for i in (1, 2, 3)]
    return results + [result("ci-1", output="other"), result("ci-2", output="other")]


def test_two_divergent_hosts_make_one_six_host_baseline_and_one_diff_group() -> None:
    groups = diff_groups(group_results(eight_hosts()), OUTPUTS)
    assert [(g["nodeset"], g["count"], g["baseline"]) for g in groups] == [
        ("stage-[1-3],web-[1-3]", 6, True),
        ("ci-[1-2]", 2, False),
    ]
    assert groups[0]["diff"] is None
    assert groups[1]["diff"].splitlines() == [
        "--- stage-[1-3],web-[1-3]",
        "+++ ci-[1-2]",
        "@@ -1,3 +1,3 @@",
        " line 1",
        "-line 2",
        "+line two",
        " line 3",
    ]


def test_status_and_rc_split_groups_even_with_equal_output() -> None:
    results = [result("a"), result("b", status="failed", rc=1), result("c", status="failed", rc=2), result("d")]
    groups = diff_groups(group_results(results), OUTPUTS)
    assert [(g["nodeset"], g["status"], g["rc"]) for g in groups] == [
        ("a,d", "ok", 0),
        ("b", "failed", 1),
        ("c", "failed", 2),
    ]
    # Same output as the baseline: nothing to diff.
    assert all(g["diff"] is None for g in groups)


def test_unreachable_hosts_share_a_group_and_keep_their_reasons() -> None:
    results = [result("web-1"), result("web-2")] + [
        result(h, status="unreachable", rc=None, output=None, reason=f"connect to {h} refused")
        for h in ("db-1", "db-2")
    ]
    groups = diff_groups(group_results(results), OUTPUTS)
    unreachable = groups[1]
    assert (unreachable["nodeset"], unreachable["diff"]) == ("db-[1-2]", None)
    assert [r["reason"] for r in unreachable["reasons"]] == ["connect to db-1 refused", "connect to db-2 refused"]


def test_equal_sizes_prefer_a_successful_baseline() -> None:
    results = [result("a", status="failed", rc=1, output="other"), result("b")]
    groups = group_results(results)
    assert [g["status"] for g in groups] == ["ok", "failed"]


def test_no_log_groups_are_never_diffed() -> None:
    results = [result("a"), result("b"), result("c", output=None, no_log=True)]
    groups = diff_groups(group_results(results), OUTPUTS)
    assert groups[1]["no_log"] and groups[1]["diff"] is None


def test_diff_is_capped_with_a_marker() -> None:
    outputs = {"base": {"text": "a\n" * 200}, "other": {"text": "b\n" * 200}}
    groups = diff_groups(group_results([result("x"), result("y"), result("z", output="other")]), outputs, max_size=300)
    assert len(groups[1]["diff"]) < 400 and "truncated" in groups[1]["diff"]


def test_build_task_entry_sorts_results_and_counts() -> None:
    entry = build_task_entry({"id": "t", "name": "Run", "play": "p"}, eight_hosts(), OUTPUTS)
    assert [r["host"] for r in entry["results"]][:3] == ["ci-1", "ci-2", "stage-1"]
    assert (entry["hosts"], entry["counts"], len(entry["groups"])) == (8, {"ok": 8}, 2)


def test_count_statuses_uses_fixed_order() -> None:
    assert list(count_statuses(["ok", "failed", "ok", "gated"]).items()) == [("failed", 1), ("gated", 1), ("ok", 2)]


def test_summarize_hosts_takes_the_worst_status_and_ignores_ignored_failures() -> None:
    tasks = [
        {"name": "probe", "results": [result("a"), result("b"), result("c", status="failed", ignored=True)]},
        {
            "name": "run",
            "results": [result("a", status="changed"), result("b", status="failed", reason="rc 1", attempts=2)],
        },
    ]
    hosts = summarize_hosts(tasks)
    assert [(h["host"], h["status"], h["attempts"], h["reasons"]) for h in hosts] == [
        ("a", "changed", None, []),
        ("b", "failed", 2, ["run: rc 1"]),
        ("c", "ok", None, []),
    ]
