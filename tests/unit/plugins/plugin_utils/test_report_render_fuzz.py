"""Hypothesis: no field of a report reaches HTML or Markdown unescaped, whatever hosts and tasks are called and
whatever they print; and the pictures have one bar per planned host and one row per timed host."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from ansible_collections.azlin.fleet.plugins.plugin_utils.report import (
    Outcome,
    ReportCollector,
    TaskInfo,
    build_masker,
    build_report,
    render_report,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_drift import compare_reports
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_svg import (
    gate_lines,
    render_plan_chart,
    render_timeline,
)

HTML_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span", "code", "ul", "li", "table",
    "tr", "th", "td", "a", "section", "div", "details", "summary", "pre", "br", "figure", "svg", "text", "rect",
    "line", "g",
}  # fmt: skip
HTML_ATTRIBUTES = {
    "lang", "charset", "name", "content", "class", "id", "href", "data-kind", "data-status", "data-count",
    "data-nodeset", "data-baseline", "data-host", "data-binary", "role", "width", "height", "viewbox",
    "data-hosts", "font-family", "font-size", "x", "y", "x1", "x2", "y1", "y2", "stroke", "stroke-width",
    "stroke-dasharray", "fill", "font-weight", "text-anchor", "transform", "data-score", "data-gate", "data-value",
    "data-rows", "data-task", "data-start", "data-end",
}  # fmt: skip
MARKDOWN_TAGS = {
    "h1", "h2", "h3", "p", "code", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "pre", "blockquote",
    "em", "strong",
}  # fmt: skip

HOSTILE = (
    st.lists(
        st.sampled_from(list("<>&\"'`*_[]()|#!\\/=-: \n\tabcxyz{}") + ["<script>", "</pre>", "```", "-->", "<b>"]),
        min_size=1,
        max_size=20,
    )
    .map("".join)
    .map(lambda s: s if s.strip() else s + "x")
)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.hrefs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name == "href":
                self.hrefs.add(value or "")

    handle_startendtag = handle_starttag


def parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser


def hostile_report(hosts: list[str], task: str, outputs: list[str], reason: str, gate: str) -> dict[str, Any]:
    collector = ReportCollector(build_masker())
    collector.add_plan(
        {
            "version": 1,
            "gate": gate,
            "hosts": [
                {"host": h, "status": "gated" if i % 2 else "selected", "order": i, "score": 10.0 * i,
                 "metrics": {"cpu": 5, "mem": 7, "load1": 0.1, "cpus": 2, "users": 0}, "reasons": [reason]}
                for i, h in enumerate(hosts)
            ],
        }
    )  # fmt: skip
    collector.add_task(TaskInfo("t", task, task))
    collector.add_task(TaskInfo("q", task, quiet=True))
    for index, host in enumerate(hosts):
        collector.start(host, "t", 100.0 + index)
        status = "failed" if index % 2 else "ok"
        collector.add_result(
            host, "t", Outcome(status, index, outputs[index % len(outputs)], reason=reason), now=101.0 + index
        )
        collector.add_result(host, "q", Outcome("failed", reason=reason))
        collector.internal_errors.append(_internal(host, task, reason))
    collector.refused.append(reason)
    collector.nothing_selected = {"targets": task, "reason": reason}
    report = build_report(collector, name=task)
    report["warnings"].append(reason)
    report["drift"] = compare_reports(build_report(ReportCollector(build_masker()), name=reason), report)
    report["drift"]["tasks"] = [
        {"name": task, "play": task, "kind": "task",
         "changed": [{"host": hosts[0], "before": {"status": reason, "rc": 1, "output": None},
                      "after": {"status": "ok", "rc": 0, "output": None}, "diff": f"-{reason}\n+{task}"}],
         "appeared": [{"host": hosts[-1], "after": {"status": "ok", "rc": 0, "output": None}}],
         "disappeared": []}
    ]  # fmt: skip
    return report


def _internal(host: str, task: str, error: str):
    from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import InternalError

    return InternalError(host, task, error)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(HOSTILE, min_size=1, max_size=4, unique=True),
    HOSTILE,
    st.lists(HOSTILE, min_size=1, max_size=3),
    HOSTILE,
    st.one_of(st.just("cpu<50 and load<0.7"), HOSTILE),
)
# found by this test: a reason "--" made the list item "- --", which Markdown reads as a horizontal rule
@example(["<"], "<", ["<"], "--", "cpu<50 and load<0.7")
@example(["1. x"], "# t", ["> q"], "+ r", "~~~")
def test_no_field_reaches_html_or_markdown_unescaped(
    hosts: list[str], task: str, outputs: list[str], reason: str, gate: str
) -> None:
    report = hostile_report(hosts, task, outputs, reason, gate)
    page = parse(render_report(report, "html"))
    assert page.tags <= HTML_TAGS, page.tags - HTML_TAGS
    assert page.attributes <= HTML_ATTRIBUTES, page.attributes - HTML_ATTRIBUTES
    assert all(href.startswith("#task-") for href in page.hrefs), page.hrefs
    markdown = render_report(report, "md")
    rendered = parse(MarkdownIt("commonmark").enable("table").render(markdown))
    assert rendered.tags <= MARKDOWN_TAGS, (rendered.tags - MARKDOWN_TAGS, markdown)
    assert not rendered.hrefs


def test_plan_chart_has_one_bar_per_host_and_the_gate_lines() -> None:
    plan = {
        "gate": "cpu<50 and load<0.7",
        "hosts": [
            {"host": "web-1", "status": "selected", "order": 2, "score": 30.0},
            {"host": "web-2", "status": "selected", "order": 1, "score": 10.0},
            {"host": "web-3", "status": "gated", "order": None, "score": 80.0, "reasons": ["cpu 80% >= 50%"]},
            {"host": "web-4", "status": "unmeasurable", "order": None, "score": None, "reasons": ["probe failed"]},
        ],
    }
    svg = render_plan_chart(plan)
    chart = parse(svg)
    assert svg.count('<rect class="bar ') == 4
    # Dispatch order first, then the others by name.
    assert [part.split('"')[0] for part in svg.split('data-host="')[1:]] == ["web-2", "web-1", "web-3", "web-4"]
    assert 'class="bar st-gated" data-host="web-3"' in svg and '<text class="mark"' in svg
    assert svg.count('<line class="threshold"') == 2
    assert (
        'data-gate="cpu &lt; 50" data-value="50"' in svg and 'data-gate="load_per_cpu &lt; 0.7" data-value="70"' in svg
    )
    assert {"svg", "rect", "line", "text", "title"} >= chart.tags - {"title"}


def test_gate_lines_of_idle_and_of_a_bad_gate() -> None:
    assert gate_lines("idle") == [("cpu < 10", 10.0), ("load_per_cpu < 0.3", 30.0)]
    assert gate_lines("cpu<<5") == [] and gate_lines(None) == []


def test_timeline_has_a_row_per_timed_host_and_a_span_per_step() -> None:
    tasks = [
        {"name": "step:build", "results": [
            {"host": "web-2", "status": "ok", "step": "build", "start": 10.0, "end": 12.0},
            {"host": "web-10", "status": "failed", "step": "build", "start": 10.5, "end": 11.0},
            {"host": "web-3", "status": "gated", "step": None, "start": None, "end": None},
        ]},
        {"name": "step:test", "results": [
            {"host": "web-2", "status": "ok", "step": "test", "start": 12.0, "end": 15.0},
        ]},
    ]  # fmt: skip
    svg = render_timeline(tasks)
    assert svg.count('<g class="timeline-row"') == 2
    assert svg.index('data-host="web-2"') < svg.index('data-host="web-10"')
    assert svg.count('<rect class="span ') == 3
    assert 'data-task="test" data-status="ok" data-start="12.000" data-end="15.000"' in svg
    assert render_timeline([{"name": "x", "results": [{"host": "a", "status": "ok", "start": None, "end": 1}]}]) == ""
