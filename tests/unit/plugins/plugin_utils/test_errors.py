from __future__ import annotations

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import (
    FleetError,
    FleetUsageError,
    FleetValidationError,
)


@pytest.mark.parametrize(
    ("error", "text"),
    [
        pytest.param(
            FleetError(
                "Invalid gate 'cpu<<50'",
                "expected a number after '<'",
                "Write a comparison such as 'cpu<50'.",
                location="column 5",
            ),
            "Invalid gate 'cpu<<50' at column 5: expected a number after '<'. Write a comparison such as 'cpu<50'.",
            id="subject-location-reason-hint",
        ),
        pytest.param(FleetError("Pool 'web'", "no hosts selected."), "Pool 'web': no hosts selected.", id="no-hint"),
    ],
)
def test_message_reads_what_why_what_to_do(error: FleetError, text: str) -> None:
    assert str(error) == text


def test_validation_error_keeps_every_problem() -> None:
    problems = [FleetUsageError("step 'a'", "unknown key 'comand'"), FleetUsageError("step 'b'", "requires 'zz'")]
    err = FleetValidationError("Workflow 'deploy.yaml'", problems)
    assert err.problems == problems
    assert "2 problem(s)" in str(err)
    assert "unknown key 'comand'" in str(err) and "requires 'zz'" in str(err)
