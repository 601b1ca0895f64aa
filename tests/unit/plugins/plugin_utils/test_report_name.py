from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_name import (
    JobIdentity,
    name_report,
    new_report_suffix,
    parse_slice,
    read_job_identity,
)

STARTED = datetime(2026, 12, 4, 18, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        pytest.param({"awx_job_id": 42}, "fleet-report-job42", id="awx-job"),
        pytest.param({"tower_job_id": 42}, "fleet-report-job42", id="tower-name-of-older-releases"),
        pytest.param(
            {"awx_job_id": 43, "awx_workflow_job_id": 41}, "fleet-report-wf41-job43", id="slice-or-workflow-node"
        ),
        pytest.param(
            {"awx_job_id": 43, "awx_workflow_job_id": 41, "fleet_slice": "2/3"},
            "fleet-report-wf41-job43-slice2of3",
            id="slice-number-given",
        ),
        pytest.param({"awx_job_id": "7/../x"}, "fleet-report-job7_.._x", id="odd-id-made-file-safe"),
        pytest.param({}, "fleet-report-20261204T180509Z-ab12cd34", id="no-awx-time-and-suffix"),
        pytest.param(
            {"awx_job_id": None, "awx_workflow_job_id": ""},
            "fleet-report-20261204T180509Z-ab12cd34",
            id="blank-survey-nulls-are-unset",
        ),
        pytest.param({"fleet_slice": "1/3"}, "fleet-report-20261204T180509Z-slice1of3-ab12cd34", id="runner-slice"),
    ],
)
def test_name_report(extra_vars: dict, expected: str) -> None:
    assert name_report(read_job_identity(extra_vars), STARTED, "ab12cd34") == expected


def test_name_uses_utc_whatever_the_start_zone() -> None:
    started = STARTED.astimezone(timezone(timedelta(hours=-5)))
    assert name_report(JobIdentity(), started, "x1") == "fleet-report-20261204T180509Z-x1"


def test_slices_of_one_sliced_job_get_distinct_names_with_a_shared_prefix() -> None:
    names = {
        name_report(read_job_identity({"awx_job_id": job, "awx_workflow_job_id": 41}), STARTED, "s")
        for job in (42, 43, 44)
    }
    assert names == {"fleet-report-wf41-job42", "fleet-report-wf41-job43", "fleet-report-wf41-job44"}


def test_runs_in_the_same_second_differ_by_suffix() -> None:
    suffixes = {new_report_suffix() for _ in range(50)}
    assert len(suffixes) == 50 and all(len(s) == 8 for s in suffixes)
    assert len({name_report(JobIdentity(), STARTED, s) for s in suffixes}) == 50


def test_unusable_suffix_is_refused() -> None:
    with pytest.raises(FleetUsageError, match="suffix"):
        name_report(JobIdentity(), STARTED, "//")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2/3", (2, 3), id="k-of-n"),
        pytest.param(" 1 / 1 ", (1, 1), id="spaces"),
        pytest.param(None, None, id="null"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_slice(value: object, expected: tuple[int, int] | None) -> None:
    assert parse_slice(value) == expected


@pytest.mark.parametrize("value", ["0/3", "4/3", "2", "a/b", "2/0"])
def test_parse_slice_refuses(value: str) -> None:
    with pytest.raises(FleetUsageError, match="expected K/N"):
        parse_slice(value)


def test_identity_as_dict() -> None:
    identity = read_job_identity({"awx_job_id": 43, "awx_workflow_job_id": 41, "fleet_slice": "2/3"})
    assert identity.as_dict() == {"job_id": "43", "workflow_job_id": "41", "slice": 2, "slice_count": 3}
