from __future__ import annotations

import json

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.job_artifacts import (
    build_job_artifacts,
    fold_bounded,
    is_awx_slice,
    is_empty_slice_ok,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_name import JobIdentity


def outcome(status: str, reason: str = "") -> dict:
    return {"fleet_status": status, "fleet_reason": reason, "changed": False}


PLAN = {"targets": "pool_web_servers", "dry_run": False, "hosts": ["web-1", "web-2", "web-3"]}


def test_successful_run() -> None:
    artifacts = build_job_artifacts({"web-1": outcome("ok"), "web-2": outcome("changed"), "web-3": outcome("ok")}, PLAN)
    assert artifacts["status"] == "successful"
    assert artifacts["exit_code"] == 0
    assert artifacts["counts"] == {"changed": 1, "ok": 2}
    assert (artifacts["failed"], artifacts["unreachable"], artifacts["not_started"]) == ("", "", "")
    assert artifacts["targets"] == "pool_web_servers" and artifacts["hosts"] == 3


def test_failed_rollout_names_failed_and_not_started_hosts_folded() -> None:
    artifacts = build_job_artifacts(
        {
            "stage-1": outcome("ok"),
            "stage-2": outcome("failed", "rc=1"),
            "stage-3": outcome("not_started"),
            "stage-4": outcome("not_started"),
            "stage-5": outcome("timeout"),
        },
        PLAN,
    )
    assert artifacts["status"] == "failed" and artifacts["exit_code"] == 1
    assert artifacts["failed"] == "stage-[2,5]"
    assert artifacts["not_started"] == "stage-[3-4]"
    # worst first, in the report's fixed status order
    assert list(artifacts["counts"]) == ["failed", "timeout", "not_started", "ok"]


@pytest.mark.parametrize(
    ("statuses", "status", "code"),
    [
        pytest.param(["unreachable", "ok"], "unreachable", 4, id="only-unreachable-failures"),
        pytest.param(["unreachable", "blocked"], "failed", 1, id="failure-outranks-unreachable"),
        pytest.param(["not_started", "ok"], "failed", 1, id="not-started-fails-the-run"),
        pytest.param(["gated", "gated"], "nothing_selected", 3, id="all-gated"),
        pytest.param(["gated", "ok"], "successful", 0, id="some-gated"),
        pytest.param(["gated", "unmeasurable", "not_selected"], "nothing_selected", 3, id="none-selected"),
    ],
)
def test_run_status(statuses: list[str], status: str, code: int) -> None:
    artifacts = build_job_artifacts({f"h{i}": outcome(s) for i, s in enumerate(statuses)}, PLAN)
    assert (artifacts["status"], artifacts["exit_code"]) == (status, code)


def test_empty_slice_is_a_successful_no_op_with_its_reason() -> None:
    artifacts = build_job_artifacts({}, None, empty_slice_ok=True)
    assert artifacts["status"] == "empty_slice" and artifacts["exit_code"] == 0
    assert "no host matched the targets" in artifacts["reason"]
    gated = build_job_artifacts({"web-1": outcome("gated", "cpu 63% >= 50%")}, PLAN, empty_slice_ok=True)
    assert gated["status"] == "empty_slice"
    assert "every targeted host was gated" in gated["reason"]


def test_empty_run_without_the_option_is_nothing_selected() -> None:
    artifacts = build_job_artifacts({}, {"targets": "pool_ci", "hosts": []})
    assert artifacts["status"] == "nothing_selected"
    assert artifacts["reason"] == "no host matched the targets 'pool_ci'"


def test_host_without_outcome_makes_the_run_incomplete() -> None:
    artifacts = build_job_artifacts({"web-1": outcome("ok"), "web-2": None, "web-3": {"skipped": True}}, PLAN)
    assert artifacts["status"] == "incomplete" and artifacts["exit_code"] == 5
    assert artifacts["counts"] == {"ok": 1, "unknown": 2}


def test_targeted_hosts_known_only_by_number_count_as_unknown() -> None:
    artifacts = build_job_artifacts({"web-1": outcome("ok")}, dict(PLAN, host_count=3), missing=2)
    assert (artifacts["status"], artifacts["hosts"], artifacts["counts"]) == ("incomplete", 3, {"ok": 1, "unknown": 2})
    assert artifacts["reason"] == "2 targeted host(s) have no recorded outcome"


def test_dry_run() -> None:
    artifacts = build_job_artifacts({}, dict(PLAN, dry_run=True, host_count=3))
    assert (artifacts["status"], artifacts["exit_code"], artifacts["dry_run"]) == ("dry_run", 0, True)


def test_refused_input() -> None:
    artifacts = build_job_artifacts({}, None, refused=["Invalid gate 'cpu<<5' at column 5: ..."])
    assert artifacts["status"] == "refused" and artifacts["exit_code"] == 2
    assert "Invalid gate" in artifacts["reason"]


def test_size_is_bounded_whatever_the_fleet_size() -> None:
    # 20,000 failed hosts with names that do not fold into a range
    outcomes = {f"vm{i:05d}x{i % 7}": outcome("failed") for i in range(20_000)}
    outcomes |= {f"db-{i}": outcome("unreachable") for i in range(1, 5001)}
    artifacts = build_job_artifacts(outcomes, PLAN, report={"name": "r", "dir": "/d", "upload": None})
    assert len(json.dumps(artifacts)) < 2048
    assert len(artifacts["failed"]) <= 256
    assert artifacts["hosts_left_out"]["failed"] == 20_000 - len(artifacts["failed"].split(","))
    assert artifacts["unreachable"] == "db-[1-5000]"
    assert "unreachable" not in artifacts["hosts_left_out"]
    assert artifacts["counts"] == {"failed": 20_000, "unreachable": 5000}


@pytest.mark.parametrize(
    ("hosts", "limit", "expected"),
    [
        pytest.param(["web-1", "web-2", "db-1", "db-2", "db-7"], 30, ("db-[1-2,7],web-[1-2]", 0), id="fits"),
        pytest.param(["web-1", "web-2", "db-1", "db-2", "db-7"], 12, ("db-[1-2,7]", 2), id="cut-between-sets"),
        pytest.param(["a@1", "a@2", "a@3"], 8, ("a@1,a@2", 1), id="unfoldable-names-cut-between-names"),
        pytest.param(
            ["r1-n1", "r1-n2", "r2-n1", "r2-n2", "x"], 14, ("r[1-2]-n[1-2]", 1), id="two-ranges-count-product"
        ),
    ],
)
def test_fold_bounded(hosts: list[str], limit: int, expected: tuple[str, int]) -> None:
    assert fold_bounded(hosts, limit) == expected


def test_report_and_job_are_carried() -> None:
    artifacts = build_job_artifacts(
        {"web-1": outcome("ok")},
        PLAN,
        job=JobIdentity(job_id="43", workflow_job_id="41", slice_number=2, slice_count=3),
        report={"name": "fleet-report-wf41-job43-slice2of3", "dir": "/runner/artifacts/fleet", "extra": "dropped"},
    )
    assert artifacts["report"] == {
        "name": "fleet-report-wf41-job43-slice2of3",
        "dir": "/runner/artifacts/fleet",
        "upload": None,
    }
    assert artifacts["job"] == {"job_id": "43", "workflow_job_id": "41", "slice": 2, "slice_count": 3}


SLICE_VARS = {
    "awx_job_id": 43,
    "awx_workflow_job_id": 41,
    "awx_workflow_job_name": "fleet run",
    "awx_job_template_name": "fleet run",
}


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        pytest.param(SLICE_VARS, True, id="awx-slice-default-on"),
        pytest.param(dict(SLICE_VARS, fleet_slice_ok_when_empty=False), False, id="explicit-off-wins"),
        pytest.param(dict(SLICE_VARS, fleet_slice_ok_when_empty="no"), False, id="boolean-word"),
        pytest.param(dict(SLICE_VARS, fleet_slice_ok_when_empty=None), True, id="blank-survey-null-is-default"),
        pytest.param(dict(SLICE_VARS, awx_workflow_job_name="nightly"), False, id="plain-workflow-node"),
        pytest.param({"awx_job_id": 42}, False, id="plain-awx-job"),
        pytest.param({}, False, id="no-awx"),
        pytest.param({"fleet_slice": "2/3"}, True, id="runner-slice"),
        pytest.param({"fleet_slice_ok_when_empty": "true"}, True, id="explicit-on"),
    ],
)
def test_is_empty_slice_ok(extra_vars: dict, expected: bool) -> None:
    assert is_empty_slice_ok(extra_vars) is expected


def test_is_awx_slice_needs_the_workflow_id() -> None:
    assert not is_awx_slice({"awx_workflow_job_name": "x", "awx_job_template_name": "x"})


def test_is_empty_slice_ok_refuses_non_boolean() -> None:
    with pytest.raises(FleetUsageError, match="not a boolean"):
        is_empty_slice_ok({"fleet_slice_ok_when_empty": "maybe"})
