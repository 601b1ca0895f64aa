from __future__ import annotations

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import (
    NormalizeOptions,
    Outcome,
    ReportCollector,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_identity import (
    build_identity,
    names_from_result,
    replace_identity,
    restore_identity,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_mask import build_masker


@pytest.mark.parametrize(
    ("host", "names", "text", "expected"),
    [
        pytest.param("web-1", (), "web-1\n", "{host}\n", id="hostname"),
        pytest.param("web-1", (), "deployed on web-1 and web-10", "deployed on {host} and web-10", id="prefix-of-name"),
        pytest.param("web-1", (), "web-12 web-1_old xweb-1 web-1", "web-12 web-1_old xweb-1 {host}", id="no-partial"),
        pytest.param("web-1", (), "web-1.example.com", "{host}.example.com", id="fqdn-keeps-domain"),
        pytest.param(
            "web-1", ("web-1.example.com",), "web-1.example.com web-1", "{host} {host}", id="known-fqdn-longest-first"
        ),
        pytest.param(
            "web-1",
            ("10.0.0.1",),
            "from 10.0.0.1 to 10.0.0.12 and 110.0.0.1",
            "from {host} to 10.0.0.12 and 110.0.0.1",
            id="address-not-inside-others",
        ),
        pytest.param("web", (), "web-1 is web's peer; web", "web-1 is {host}'s peer; {host}", id="name-inside-longer"),
        pytest.param("Web-1", (), "web-1 Web-1", "{host} {host}", id="lower-case-variant"),
        pytest.param("a", (), "a b a", "a b a", id="too-short-name-untouched"),
        pytest.param("web-1", ("{{ tpl }}", None, 3), "web-1", "{host}", id="non-strings-ignored"),
    ],
)
def test_replace_identity(host: str, names: tuple, text: str, expected: str) -> None:
    identity = build_identity(host, names)
    replaced, originals = replace_identity(text, identity)
    assert replaced == expected
    assert restore_identity(replaced, originals) == text


def test_literal_placeholder_in_output_restores_exactly() -> None:
    identity = build_identity("web-1")
    replaced, originals = replace_identity("say {host} on web-1", identity)
    assert (replaced, originals) == ("say {host} on {host}", ["{host}", "web-1"])
    assert restore_identity(replaced, originals) == "say {host} on web-1"


def test_names_from_result_reads_facts_and_fleet_hostname() -> None:
    result = {
        "fleet_hostname": "vm-abc",
        "ansible_facts": {"ansible_fqdn": "vm-abc.internal", "ansible_all_ipv4_addresses": ["10.1.0.4", 5]},
    }
    assert names_from_result(result) == ["vm-abc", "vm-abc.internal", "10.1.0.4"]
    assert names_from_result({"stdout": "x"}) == []


@pytest.fixture
def collector() -> ReportCollector:
    return ReportCollector(build_masker())


def test_outputs_that_differ_only_by_host_fold_into_one_group(collector: ReportCollector) -> None:
    hosts = ["web-1", "web-2", "web-10", "stage-1"]
    rows = [collector.add_result(h, "t", Outcome("ok", 0, f"deployed release 42 on {h}\n")) for h in hosts]
    assert len({r.output for r in rows}) == 1
    (entry,) = collector.outputs.values()
    assert entry.text == "deployed release 42 on {host}\n"
    assert [r.identity for r in rows] == [("web-1",), ("web-2",), ("web-10",), ("stage-1",)]


def test_real_differences_still_split(collector: ReportCollector) -> None:
    one = collector.add_result("web-1", "t", Outcome("ok", 0, "web-1: version 1.2\n"))
    two = collector.add_result("web-2", "t", Outcome("ok", 0, "web-2: version 1.3\n"))
    assert one.output != two.output
    assert collector.outputs[two.output].text == "{host}: version 1.3\n"


def test_another_hosts_name_in_the_output_is_not_replaced(collector: ReportCollector) -> None:
    # Both print "web-1": only web-1's own name becomes {host}, so the two outputs differ.
    one = collector.add_result("web-1", "t", Outcome("ok", 0, "leader is web-1"))
    two = collector.add_result("web-11", "t", Outcome("ok", 0, "leader is web-1"))
    assert (collector.outputs[one.output].text, collector.outputs[two.output].text) == (
        "leader is {host}",
        "leader is web-1",
    )
    assert two.identity is None


def test_learned_addresses_and_hostnames_are_replaced(collector: ReportCollector) -> None:
    collector.learn_host("web-1", ["10.0.0.1"])
    collector.learn_host("web-2", ["10.0.0.2"])
    one = collector.add_result("web-1", "t", Outcome("ok", 0, "listening on 10.0.0.1:22"))
    two = collector.add_result("web-2", "t", Outcome("ok", 0, "listening on 10.0.0.2:22"))
    assert one.output == two.output and (one.identity, two.identity) == (("10.0.0.1",), ("10.0.0.2",))


def test_normalisation_can_be_switched_off() -> None:
    collector = ReportCollector(build_masker(), NormalizeOptions(normalize_hosts=False))
    one = collector.add_result("web-1", "t", Outcome("ok", 0, "web-1"))
    two = collector.add_result("web-2", "t", Outcome("ok", 0, "web-2"))
    assert one.output != two.output and one.identity is None


def test_truncated_output_keeps_the_originals_of_head_and_tail() -> None:
    collector = ReportCollector(build_masker(), NormalizeOptions(max_output=40))
    text = "web-1 start\n" + "x" * 100 + "\nend web-1 web-1\n"
    row = collector.add_result("web-1", "t", Outcome("ok", 0, text))
    entry = collector.outputs[row.output]
    assert entry.truncated and entry.text.startswith("{host} start") and entry.text.endswith("end {host} {host}\n")
    assert row.identity == ("web-1", "web-1", "web-1")
    restored = restore_identity(entry.text, list(row.identity))
    assert restored.startswith("web-1 start") and restored.endswith("end web-1 web-1\n")


def test_report_folds_hostname_outputs_and_html_keeps_each_hosts_name() -> None:
    from ansible_collections.azlin.fleet.plugins.plugin_utils.report import (
        TaskInfo,
        build_report,
        render_report,
    )

    collector = ReportCollector(build_masker())
    collector.add_task(TaskInfo("t", "hostname"))
    hosts = ["web-1", "web-2", "web-3", "stage-1", "stage-2", "ci-1"]
    for host in hosts:
        collector.add_result(host, "t", Outcome("ok", 0, f"deployed release 42 on {host}"))
    report = build_report(collector, name="fold")
    (group,) = report["tasks"][0]["groups"]
    assert (group["nodeset"], group["count"], group["diff"]) == ("ci-1,stage-[1-2],web-[1-3]", 6, None)
    assert report["outputs"][group["output"]]["text"] == "deployed release 42 on {host}"
    assert {r["host"]: r["identity"] for r in report["tasks"][0]["results"]} == {h: [h] for h in hosts}
    html = render_report(report, "html")
    assert "<tr><td>stage-2</td><td>stage-2</td></tr>" in html


def test_many_occurrences_are_replaced_in_linear_time() -> None:
    import time

    identity = build_identity("web-1", ["10.0.0.1", "web-1.example.com"])
    text = "web-1 10.0.0.1 web-10 web-1.example.com\n" * 25_000  # 1 MB, 75,000 names to replace
    started = time.perf_counter()
    replaced, originals = replace_identity(text, identity)
    assert time.perf_counter() - started < 2.0
    assert len(originals) == 75_000 and replaced.count("web-10") == 25_000
    assert restore_identity(replaced, originals) == text


def test_an_output_many_hosts_print_is_still_normalised_for_the_host_it_names(collector: ReportCollector) -> None:
    # web-1 and web-2 print the same text (the second time, its words are kept to skip scans for later hosts);
    # web-3 prints it too and is named in it, so for web-3 it must become {host}.
    rows = [collector.add_result(h, "t", Outcome("ok", 0, "leader is web-3\n")) for h in ("web-1", "web-2", "web-3")]
    rows.append(collector.add_result("web-4", "t", Outcome("ok", 0, "leader is web-3\n")))
    texts = [collector.outputs[r.output].text for r in rows]
    assert texts == ["leader is web-3\n", "leader is web-3\n", "leader is {host}\n", "leader is web-3\n"]
    assert [r.identity for r in rows] == [None, None, ("web-3",), None]
