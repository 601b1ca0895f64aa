from __future__ import annotations

import json

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report import build_report
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import (
    NormalizeOptions,
    Outcome,
    ReportCollector,
    TaskInfo,
    classify_result,
    is_quiet_task,
    truncate_output,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_mask import build_masker
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_validate import validate_report


@pytest.fixture
def collector() -> ReportCollector:
    report = ReportCollector(build_masker())
    report.add_task(TaskInfo("t1", "Run command", "fleet", "run.yml:3"))
    return report


COMMAND_FAILED = {"rc": 2, "stdout": "out", "stderr": "err", "msg": "non-zero return code", "failed": True}


@pytest.mark.parametrize(
    ("event", "result", "expected"),
    [
        pytest.param(
            "ok", {"rc": 0, "stdout": "hi", "stderr": "", "changed": False}, Outcome("ok", 0, "hi", ""), id="command-ok"
        ),
        pytest.param("ok", {"rc": 0, "stdout": "", "changed": True}, Outcome("changed", 0), id="changed"),
        pytest.param(
            "failed", COMMAND_FAILED, Outcome("failed", 2, "out", "err", "non-zero return code"), id="command-failed"
        ),
        pytest.param(
            "unreachable",
            {"msg": "ssh: connect to host 127.0.0.9 port 22: Connection refused", "unreachable": True},
            Outcome("unreachable", reason="ssh: connect to host 127.0.0.9 port 22: Connection refused"),
            id="unreachable-message-is-reason-not-output",
        ),
        pytest.param(
            "ok", {"msg": "hello from debug"}, Outcome("ok", stdout="hello from debug"), id="debug-msg-is-output"
        ),
        pytest.param(
            "ok",
            {"changed": True, "results": [{"stdout": "a"}, {"stdout": "b"}]},
            Outcome("changed", stdout="a\nb"),
            id="loop-items-joined",
        ),
        pytest.param(
            "failed",
            {"failed": True, "timedout": {"frame": "x", "period": 5}, "msg": "The task timed out"},
            Outcome("timeout", reason="The task timed out"),
            id="task-timeout",
        ),
        pytest.param(
            "skipped",
            {
                "skipped": True,
                "fleet_status": "blocked",
                "fleet_reason": "requires 'build' which failed",
                "fleet_step": "deploy",
                "fleet_attempts": 1,
            },
            Outcome("blocked", reason="requires 'build' which failed", step="deploy", attempts=1),
            id="fleet-status-overrides",
        ),
        pytest.param(
            "ok",
            {"rc": 0, "stdout": "x", "delta": "0:01:02.500000", "attempts": 3},
            Outcome("ok", 0, "x", attempts=3, duration=62.5),
            id="delta-and-until-attempts",
        ),
        pytest.param(
            "ok", {"fleet_status": "bogus", "msg": "m"}, Outcome("ok", stdout="m"), id="unknown-override-ignored"
        ),
    ],
)
def test_classify_result(event: str, result: dict, expected: Outcome) -> None:
    assert classify_result(event, result) == expected


def test_classify_no_log_keeps_only_status() -> None:
    outcome = classify_result("failed", {**COMMAND_FAILED, "fleet_step": "s"}, no_log=True)
    assert outcome == Outcome("failed", step="s")


def test_identical_outputs_are_stored_once(collector: ReportCollector) -> None:
    text = "x" * 1000 + "\n"
    for index in range(5000):
        collector.add_result(f"node-{index}", "t1", Outcome("ok", 0, "".join([text])))
    assert len(collector.outputs) == 1
    assert len({r.output for r in collector.results}) == 1
    assert len(collector.results) == 5000


def test_secret_is_masked_before_storage(collector: ReportCollector) -> None:
    collector.add_result(
        "web-1", "t1", Outcome("failed", 1, "login password=hunter2", "", reason="token=abc123 denied")
    )
    stored = json.dumps([e.text for e in collector.outputs.values()] + [r.reason for r in collector.results])
    assert "hunter2" not in stored and "abc123" not in stored
    assert "password=********" in stored


def test_different_secrets_group_together(collector: ReportCollector) -> None:
    first = collector.add_result("web-1", "t1", Outcome("ok", 0, "token=aaa"))
    second = collector.add_result("web-2", "t1", Outcome("ok", 0, "token=bbb"))
    assert first.output == second.output


def test_no_log_result_stores_nothing(collector: ReportCollector) -> None:
    record = collector.add_result("web-1", "t1", Outcome("ok", 0, "the secret output", reason="why"), no_log=True)
    assert record.output is None and record.reason is None and record.no_log
    assert collector.outputs == {}


def test_empty_output_has_no_key(collector: ReportCollector) -> None:
    assert collector.add_result("web-1", "t1", Outcome("unreachable", reason="down")).output is None


def test_truncation_keeps_head_and_tail_but_groups_by_full_content() -> None:
    report = ReportCollector(build_masker(), NormalizeOptions(max_output=100))
    head, tail = "H" * 60, "T" * 60
    one = report.add_result("a", "t", Outcome("ok", 0, head + "middle-1" + tail))
    two = report.add_result("b", "t", Outcome("ok", 0, head + "middle-2" + tail))
    assert one.output != two.output
    entry = report.outputs[one.output]
    assert entry.truncated and entry.size == 128
    assert entry.text.startswith("H" * 50) and entry.text.endswith("T" * 50)
    assert "[... 28 characters truncated by azlin.fleet.fleet_report ...]" in entry.text


def test_truncate_output_leaves_short_text_alone() -> None:
    assert truncate_output("short", 10) == ("short", False)
    assert truncate_output("x" * 50, 0) == ("x" * 50, False)


def test_ignore_patterns_and_whitespace_normalize_comparison() -> None:
    options = NormalizeOptions(ignore_patterns=(r"^\d\d:\d\d:\d\d ", r"pid \d+"), ignore_whitespace=True)
    report = ReportCollector(build_masker(), options)
    one = report.add_result("a", "t", Outcome("ok", 0, "12:00:01 started pid 41\n"))
    two = report.add_result("b", "t", Outcome("ok", 0, "12:00:07   started  pid 977"))
    three = report.add_result("c", "t", Outcome("ok", 0, "12:00:07 stopped pid 977"))
    assert one.output == two.output != three.output
    # The stored text is the first host's own output, not the normalized one.
    assert report.outputs[one.output].text == "12:00:01 started pid 41\n"


@pytest.mark.parametrize(("include_stderr", "same"), [(True, False), (False, True)])
def test_include_stderr_decides_whether_stderr_splits_groups(include_stderr: bool, same: bool) -> None:
    report = ReportCollector(build_masker(), NormalizeOptions(include_stderr=include_stderr))
    one = report.add_result("a", "t", Outcome("ok", 0, "out", "warning: 1"))
    two = report.add_result("b", "t", Outcome("ok", 0, "out", "warning: 2"))
    assert (one.output == two.output) is same


def test_bad_ignore_pattern_is_named() -> None:
    with pytest.raises(FleetConfigError, match=r"Ignore pattern '\['"):
        ReportCollector(build_masker(), NormalizeOptions(ignore_patterns=("[",)))


def test_duration_from_start_time(collector: ReportCollector) -> None:
    collector.start("web-1", "t1", 100.0)
    assert collector.add_result("web-1", "t1", Outcome("ok"), now=101.25).duration == 1.25


def test_interrupt_marks_running_and_unstarted_hosts(collector: ReportCollector) -> None:
    collector.add_task(TaskInfo("t2", "Long", "fleet"))
    for host in ("web-1", "web-2", "web-3"):
        collector.add_result(host, "t1", Outcome("ok", 0, "x"))
    collector.start("web-1", "t2", 1.0)
    collector.add_result("web-1", "t2", Outcome("ok", 0, "done"), now=2.0)
    collector.start("web-2", "t2", 1.0)
    marked = collector.mark_interrupted("SIGINT")
    assert collector.interrupted == "SIGINT"
    assert [(r.host, r.task_id, r.status) for r in marked] == [
        ("web-2", "t2", "interrupted"),
        ("web-3", "t2", "not_started"),
    ]


def test_add_plan_keeps_the_latest_plan_per_host_set(collector: ReportCollector) -> None:
    plan = {"version": 1, "hosts": [{"host": "web-1", "status": "gated", "reasons": ["cpu 63% >= 50%"]}]}
    assert collector.add_plan(plan) is True
    assert collector.add_plan(dict(plan)) is False
    reprobed = {"version": 1, "hosts": [{"host": "web-1", "status": "selected", "reasons": []}]}
    assert collector.add_plan(reprobed) is True
    other_play = {"version": 1, "hosts": [{"host": "web-2", "status": "selected", "reasons": []}]}
    collector.add_plan(other_play)
    assert collector.plans == [reprobed, other_play]


def test_task_names_are_masked(collector: ReportCollector) -> None:
    collector.add_task(TaskInfo("t9", "Call api with token=abc"))
    assert collector.tasks["t9"].name == "Call api with token=********"


@pytest.mark.parametrize(
    ("task_vars", "is_include", "expected"),
    [
        ({}, False, False),
        ({"fleet_report_quiet": True}, False, True),
        ({"fleet_report_quiet": "yes"}, False, True),
        ({"fleet_report_quiet": " True "}, False, True),
        ({"fleet_report_quiet": False}, False, False),
        ({"fleet_report_quiet": "false"}, False, False),
        ({"fleet_report_quiet": "{{ internal }}"}, False, False),
        ({"fleet_report_quiet": 1}, False, False),
        ({}, True, True),
    ],
    ids=["no-var", "bool", "yes", "padded-true", "false", "false-str", "template-not-evaluated", "int-1", "include"],
)
def test_is_quiet_task(task_vars: dict, is_include: bool, expected: bool) -> None:
    assert is_quiet_task(task_vars, is_include=is_include) is expected


@pytest.fixture
def quiet(collector: ReportCollector) -> ReportCollector:
    collector.add_task(TaskInfo("q1", "Judge the host token=abc", "judge", "run.yml:130", quiet=True))
    return collector


def test_quiet_task_results_are_no_rows_but_failures_become_errors(quiet: ReportCollector) -> None:
    assert quiet.add_result("web-1", "q1", Outcome("ok", 0, "fine")) is None
    assert quiet.add_result("web-2", "q1", Outcome("skipped")) is None
    assert quiet.add_result("web-3", "q1", Outcome("failed", 1, "out", reason="rc 1, token=zzz")) is None
    assert quiet.add_result("web-4", "q1", Outcome("unreachable", reason="ssh down"), ignored=True) is None
    assert quiet.add_result("web-5", "q1", Outcome("failed", reason="secret why"), no_log=True) is None
    assert quiet.results == [] and quiet.outputs == {}
    assert [(e.host, e.task, e.play, e.path, e.status, e.reason, e.ignored) for e in quiet.errors] == [
        ("web-3", "Judge the host token=********", "judge", "run.yml:130", "failed", "rc 1, token=********", False),
        ("web-4", "Judge the host token=********", "judge", "run.yml:130", "unreachable", "ssh down", True),
        ("web-5", "Judge the host token=********", "judge", "run.yml:130", "failed", None, False),
    ]


def test_take_result_takes_the_plan_of_a_quiet_task(quiet: ReportCollector) -> None:
    plan = {"version": 1, "hosts": [{"host": "web-2", "status": "selected", "order": 1, "reasons": []}]}
    records, new_plan = quiet.take_result("web-1", "q1", "ok", {"changed": False, "fleet_plan": plan})
    assert (records, new_plan, quiet.plans) == ([], plan, [plan])
    # The same plan again (every host of a run_once task reports it) is not news.
    assert quiet.take_result("web-2", "q1", "ok", {"fleet_plan": dict(plan)}) == ([], None)
    # no_log results are never read for a plan, and their failure keeps no reason.
    hidden = {"fleet_plan": {"hosts": [{"host": "x", "status": "selected"}]}, "msg": "why", "_ansible_no_log": True}
    assert quiet.take_result("web-3", "q1", "failed", hidden) == ([], None)
    assert quiet.plans == [plan] and [(e.host, e.reason) for e in quiet.errors] == [("web-3", None)]


def test_take_result_of_a_normal_task_is_a_row(collector: ReportCollector) -> None:
    records, plan = collector.take_result(
        "web-1", "t1", "failed", {"rc": 2, "stdout": "x", "msg": "boom"}, ignored=True
    )
    assert plan is None and len(records) == 1
    record = records[0]
    assert (record.status, record.rc, record.reason, record.ignored) == ("failed", 2, "boom", True)
    censored = collector.take_result("web-2", "t1", "ok", {"censored": "hidden", "stdout": "leak"})[0][0]
    assert (censored.no_log, censored.output) == (True, None)


def test_interrupting_a_quiet_task_is_an_error_not_a_row(quiet: ReportCollector) -> None:
    quiet.add_result("web-1", "t1", Outcome("ok", 0, "x"))
    quiet.start("web-1", "q1", 1.0)
    quiet.start("web-2", "t1", 1.0)
    marked = quiet.mark_interrupted("SIGTERM")
    assert [(r.host, r.task_id, r.status) for r in marked] == [("web-2", "t1", "interrupted")]
    assert [(e.host, e.status, e.reason) for e in quiet.errors] == [
        ("web-1", "interrupted", "run interrupted by SIGTERM before this host finished")
    ]


def test_failed_when_without_a_message_still_gives_a_reason() -> None:
    result = {"rc": 0, "stdout": "checked", "msg": "", "failed": True, "failed_when_result": True}
    assert classify_result("failed", result).reason == "failed_when condition is true"
    assert classify_result("failed", result | {"msg": "Task failed: custom"}).reason == "Task failed: custom"


# --- the fleet pipeline: fleet_steps rows and the run's health ---

STEPS_RESULT = {
    "changed": True,
    "fleet_steps": [
        {
            "step": "build",
            "status": "changed",
            "reason": None,
            "rc": 0,
            "stdout": "built token=abc",
            "stderr": "",
            "attempts": 2,
            "start": "2026-01-01T12:00:00+00:00",
            "end": "2026-01-01T12:00:03.5+00:00",
            "duration": 3.5,
            "cause": None,
            "ignored": False,
        },
        {
            "step": "test",
            "status": "failed",
            "reason": "non-zero return code",
            "rc": 2,
            "stdout": "1 failed",
            "stderr": "",
            "attempts": 1,
            "start": 1767268803.5,
            "end": 1767268804.0,
            "duration": None,
            "cause": None,
            "ignored": True,
        },
        {"step": "deploy", "status": "blocked", "reason": "requires 'test' which failed", "attempts": 0},
    ],
    "fleet_states": {"build": "changed", "test": "failed", "deploy": "blocked"},
}


def test_fleet_steps_become_one_row_per_step_and_the_task_itself_is_no_row(collector: ReportCollector) -> None:
    collector.add_task(TaskInfo("seg", "Run steps", "steps", "workflow.yml:40"))
    collector.start("web-1", "seg", 1767268790.0)
    rows, plan = collector.take_result("web-1", "seg", "failed", STEPS_RESULT, now=1767268805.0)
    assert plan is None
    assert [(r.task_id, r.step, r.status, r.rc, r.attempts, r.ignored) for r in rows] == [
        ("step:build", "build", "changed", 0, 2, False),
        ("step:test", "test", "failed", 2, 1, True),
        ("step:deploy", "deploy", "blocked", None, 0, False),
    ]
    assert rows == collector.results
    assert [(r.start, r.end, r.duration) for r in rows] == [
        (1767268800.0, 1767268803.5, 3.5),
        (1767268803.5, 1767268804.0, 0.5),
        (None, None, None),
    ]
    assert rows[2].reason == "requires 'test' which failed" and rows[2].output is None
    assert collector.outputs[rows[0].output].text == "built token=********"
    step_tasks = [t for t in collector.tasks.values() if t.kind == "step"]
    assert [(t.id, t.name, t.play, t.path) for t in step_tasks] == [
        ("step:build", "build", "steps", "workflow.yml:40"),
        ("step:test", "test", "steps", "workflow.yml:40"),
        ("step:deploy", "deploy", "steps", "workflow.yml:40"),
    ]
    assert collector.run_summary()["status"] == "complete"


def test_fleet_steps_of_several_hosts_share_the_step_tasks(collector: ReportCollector) -> None:
    collector.add_task(TaskInfo("seg", "Run steps", "steps"))
    for host in ("web-1", "web-2"):
        collector.take_result(host, "seg", "ok", {"fleet_steps": [{"step": "build", "status": "ok", "stdout": "x"}]})
    assert [(r.host, r.task_id) for r in collector.results] == [("web-1", "step:build"), ("web-2", "step:build")]
    assert len([t for t in collector.tasks if t.startswith("step:")]) == 1


def test_an_interrupt_leaves_hosts_that_finished_their_steps_as_they_ended(collector: ReportCollector) -> None:
    # the segment task's own result is no row (its steps are): a host that finished it is done, not not_started
    collector.add_task(TaskInfo("seg", "Run steps", "fleet"))
    for host in ("web-1", "web-2", "web-3"):
        collector.add_result(host, "t1", Outcome("ok", 0, "x"))
        collector.start(host, "seg", 1.0)
    for host in ("web-2", "web-3"):
        collector.take_result(host, "seg", "ok", {"fleet_steps": [{"step": "run", "status": "ok", "stdout": "done"}]})
    marked = collector.mark_interrupted("SIGTERM")
    assert [(r.host, r.task_id, r.status) for r in marked] == [("web-1", "seg", "interrupted")]
    statuses = {(r.host, r.task_id): r.status for r in collector.results}
    assert statuses[("web-2", "step:run")] == statuses[("web-3", "step:run")] == "ok"
    assert ("web-2", "seg") not in statuses and ("web-3", "seg") not in statuses


def test_no_log_fleet_steps_keep_only_status(collector: ReportCollector) -> None:
    collector.add_task(TaskInfo("seg", "Run steps"))
    rows, _ = collector.take_result("web-1", "seg", "ok", STEPS_RESULT, task_no_log=True)
    assert [(r.status, r.output, r.reason, r.no_log) for r in rows] == [
        ("changed", None, None, True),
        ("failed", None, None, True),
        ("blocked", None, None, True),
    ]
    assert collector.outputs == {}


def test_malformed_step_entries_are_internal_errors_not_lost(collector: ReportCollector) -> None:
    collector.add_task(TaskInfo("seg", "Run steps"))
    steps = [{"status": "ok"}, {"step": "x", "status": "exploded", "stdout": "out"}]
    rows, _ = collector.take_result("web-1", "seg", "ok", {"fleet_steps": steps})
    assert [(r.task_id, r.status) for r in rows] == [("step:x", "failed")]
    run = collector.run_summary()
    assert run["status"] == "incomplete"
    assert [(e["host"], e["task"]) for e in run["internal_errors"]] == [("web-1", "Run steps"), ("web-1", "x")]
    assert "no step name" in run["internal_errors"][0]["error"]
    assert "'exploded' is not a report status" in run["internal_errors"][1]["error"]


@pytest.fixture
def pipeline(collector: ReportCollector) -> ReportCollector:
    collector.add_task(TaskInfo("plan", "Plan the run", "plan", quiet=True))
    collector.add_task(TaskInfo("judge", "Judge the host", "judge", quiet=True))
    collector.add_task(TaskInfo("empty", "Nothing selected", "empty", quiet=True))
    return collector


def test_refused_input_is_the_run_refused_list_not_an_internal_error(pipeline: ReportCollector) -> None:
    refused = ["workflow.yml:3: step 'a' requires unknown step 'b'", "fleet_gate 'cpu<<5': bad gate password=x"]
    pipeline.take_result("web-1", "plan", "failed", {"msg": "refused", "fleet_refused": refused})
    run = pipeline.run_summary()
    assert run == {
        "status": "complete",
        "internal_errors": [],
        "refused": [
            "workflow.yml:3: step 'a' requires unknown step 'b'",
            "fleet_gate 'cpu<<5': bad gate password=********",
        ],
        "nothing_selected": None,
    }
    assert [e.task for e in pipeline.errors] == ["Plan the run"]  # still listed for older readers


def test_nothing_selected_is_recorded(pipeline: ReportCollector) -> None:
    nothing = {"targets": "pool_empty", "reason": "the targets select no host"}
    pipeline.take_result("localhost", "empty", "failed", {"msg": "x", "fleet_nothing_selected": nothing})
    assert pipeline.run_summary()["nothing_selected"] == nothing
    assert pipeline.run_summary()["status"] == "complete"


def test_judge_failures_are_outcomes_not_errors(pipeline: ReportCollector) -> None:
    judged = {"msg": "host failed", "fleet_status": "failed", "fleet_reason": "step 'test' failed"}
    assert pipeline.take_result("web-1", "judge", "failed", judged) == ([], None)
    assert pipeline.errors == [] and pipeline.run_summary()["internal_errors"] == []


def test_crashed_quiet_task_is_an_internal_error(pipeline: ReportCollector) -> None:
    crash = {"msg": "Unexpected failure during module execution: KeyError 'x'", "exception": "Traceback ..."}
    pipeline.take_result("web-1", "judge", "failed", crash)
    # An ignored failure and an unreachable host are the playbook's own business, not crashes.
    pipeline.take_result("web-2", "judge", "failed", crash, ignored=True)
    pipeline.take_result("web-3", "judge", "unreachable", {"msg": "ssh down", "unreachable": True})
    run = pipeline.run_summary()
    assert run["status"] == "incomplete"
    assert run["internal_errors"] == [
        {"host": "web-1", "task": "Judge the host", "error": "Unexpected failure during module execution: KeyError 'x'"}
    ]


def test_fleet_internal_error_from_any_task_is_recorded(pipeline: ReportCollector) -> None:
    pipeline.add_task(TaskInfo("seg", "Run steps"))
    result = {"fleet_internal_error": "bookkeeping of web-1 failed: secret=s3", "fleet_steps": []}
    pipeline.take_result("web-1", "seg", "ok", result)
    pipeline.take_result("web-2", "judge", "ok", {"fleet_internal_error": "probe result unplaceable"})
    assert pipeline.run_summary()["internal_errors"] == [
        {"host": "web-1", "task": "Run steps", "error": "bookkeeping of web-1 failed: secret=********"},
        {"host": "web-2", "task": "Judge the host", "error": "probe result unplaceable"},
    ]


def test_interrupt_wins_over_internal_errors(pipeline: ReportCollector) -> None:
    pipeline.take_result("web-1", "judge", "ok", {"fleet_internal_error": "x"})
    pipeline.mark_interrupted("SIGINT")
    assert pipeline.run_summary()["status"] == "interrupted"


@pytest.mark.parametrize(
    ("value", "text", "binary"),
    [
        pytest.param("plain", "plain", False, id="ascii"),
        pytest.param("café", "café", False, id="utf8"),
        pytest.param(b"caf\xe9", "caf\ufffd", True, id="latin1-bytes"),
        pytest.param(b"caf\xc3\xa9", "café", False, id="utf8-bytes"),
        pytest.param("lone \udc80 byte", "lone \ufffd byte", True, id="surrogateescape"),
        pytest.param("nul\x00", "nul\x00", True, id="nul"),
        pytest.param("x \ufffd y", "x \ufffd y", True, id="replaced-on-host"),
    ],
)
def test_clean_text(value, text: str, binary: bool) -> None:
    from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import clean_text

    assert clean_text(value) == (text, binary)


def test_binary_output_is_stored_cleaned_and_marked(collector: ReportCollector) -> None:
    row = collector.add_result("web-1", "t1", Outcome("ok", 0, "bad \udcff\udcfe bytes", reason="why \udc80"))
    entry = collector.outputs[row.output]
    assert (entry.text, entry.binary) == ("bad \ufffd\ufffd bytes", True)
    assert row.reason == "why \ufffd"
    json.dumps([entry.text, row.reason]).encode("utf-8")


# --- outputs far beyond max_output: window by window, bounded memory ---


def big_output(middle: str, lines: int = 60_000) -> str:
    body = [f"log line {i:06d} of a long deploy ........................" for i in range(lines)]
    body[lines // 2] = middle
    body[17_000] = "export DB_PASSWORD=first-secret"  # near the end of the first 1 MiB window
    return "\n".join(body) + "\nAuthorization: Basic dGFpbDpzZWNyZXQ=\n"


def test_large_output_is_masked_hashed_and_cut_like_a_small_one() -> None:
    collector = ReportCollector(build_masker(), NormalizeOptions(max_output=4096))
    text = big_output("token=middle-secret")
    assert len(text) > 3 * 2**20
    one = collector.add_result("web-1", "t", Outcome("ok", 0, text))
    two = collector.add_result("web-2", "t", Outcome("ok", 0, text.replace("middle-secret", "other-secret")))
    three = collector.add_result("web-3", "t", Outcome("ok", 0, text.replace("of a long", "of a short", 1)))
    assert one.output == two.output != three.output  # different secrets still group; a real change does not
    entry = collector.outputs[one.output]
    assert entry.truncated and entry.size == len(text) - len("middle-secret") - len("first-secret") - len(
        "dGFpbDpzZWNyZXQ="
    ) + 3 * len("********")
    assert entry.text.startswith("log line 000000") and entry.text.endswith("Authorization: Basic ********\n")
    assert "secret" not in entry.text.replace("first-secret", "") and "dGFpbDpzZWNyZXQ=" not in entry.text
    # The key is the hash of the whole masked text, as for any output (no ignore options here).
    import hashlib

    masked = build_masker().mask(text)
    assert one.output == hashlib.sha256(masked.encode()).hexdigest()


def test_large_output_with_a_key_block_without_end_is_masked_to_its_end() -> None:
    collector = ReportCollector(build_masker(), NormalizeOptions(max_output=1000))
    text = "start\n-----BEGIN RSA PRIVATE KEY-----\n" + "QUJDREVGR0hJSktMTU5PUA==\n" * 200_000
    row = collector.add_result("web-1", "t", Outcome("ok", 0, text))
    entry = collector.outputs[row.output]
    assert "QUJD" not in entry.text and entry.text.startswith("start\n-----BEGIN RSA PRIVATE KEY-----********")


def test_large_output_keeps_host_names_of_head_and_tail() -> None:
    collector = ReportCollector(build_masker(), NormalizeOptions(max_output=200))
    text = "deploy on web-1\n" + "x\n" * 2_000_000 + "done on web-1\n"
    one = collector.add_result("web-1", "t", Outcome("ok", 0, text))
    two = collector.add_result("web-2", "t", Outcome("ok", 0, text.replace("web-1", "web-2")))
    assert one.output == two.output and (one.identity, two.identity) == (("web-1", "web-1"), ("web-2", "web-2"))
    assert collector.outputs[one.output].text.startswith("deploy on {host}\n")


def test_large_output_costs_windows_not_copies() -> None:
    import tracemalloc

    def peak_for(lines: int) -> tuple[int, int]:
        collector = ReportCollector(build_masker(), NormalizeOptions(max_output=65536))
        text = "".join(
            f"line {i} on web-1, token=abc{i}\n" if i % 100 == 0 else f"line {i} of the deploy log ok\n"
            for i in range(lines)
        )
        tracemalloc.start()
        collector.add_result("web-1", "t", Outcome("ok", 0, text, "warning: 1\n"))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return len(text), peak

    small_size, small_peak = peak_for(200_000)
    big_size, big_peak = peak_for(800_000)
    assert big_size > 20 * 2**20 and big_size > 3.9 * small_size
    # Four times the output, about the same extra memory: windows, not copies of the output.
    assert big_peak < 1.5 * small_peak + 2**20, (small_peak, big_peak)
    assert big_peak < 8 * 2**20, f"peak {big_peak / 2**20:.1f} MiB for a {big_size / 2**20:.0f} MiB output"


# --- every targeted host ends in the report: the plan's fleet_targeted ------------------------------------------


@pytest.mark.parametrize(
    ("dry_run", "interrupted", "status", "reason"),
    [
        (False, None, "not_started", "the run ended before this host started"),
        (False, "SIGTERM", "not_started", "run interrupted by SIGTERM before this host started"),
        (True, None, "selected", "dry run: it would run here"),
    ],
    ids=["ended", "interrupted", "dry-run"],
)
def test_targeted_hosts_no_task_reached_are_accounted_for(
    quiet: ReportCollector, dry_run: bool, interrupted: str | None, status: str, reason: str
) -> None:
    quiet.take_result("web-1", "q1", "ok", {"fleet_targeted": ["web-1", "web-2", "web-3"], "fleet_dry_run": dry_run})
    quiet.take_result("web-1", "t1", "ok", {"rc": 0, "stdout": "x"})
    quiet.add_plan({"hosts": [{"host": "web-2", "status": "gated", "reasons": ["cpu 90% >= 50%"]}]})
    quiet.interrupted = interrupted
    # web-1 has a row, web-2 a routing verdict: only web-3 was never reached
    assert quiet.unreached_hosts() == (["web-3"], status, reason)


def test_a_report_lists_every_targeted_host_exactly_once(quiet: ReportCollector) -> None:
    quiet.take_result("web-1", "q1", "ok", {"fleet_targeted": ["web-1", "web-2"]})
    quiet.take_result("web-1", "t1", "ok", {"rc": 0, "stdout": "x"})
    report = build_report(quiet, name="r")
    assert [(h["host"], h["status"]) for h in report["hosts"]] == [("web-1", "ok"), ("web-2", "not_started")]
    assert validate_report(report) == []
