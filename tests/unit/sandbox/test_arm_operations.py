"""Power operations of the endpoint: status bodies, one-shot start failures, reset (no HTTP, no hosts)."""

from __future__ import annotations

import threading

from azlin_fleet_sandbox.arm.operations import ACTIONS, Operations


def test_operation_runs_in_a_thread_and_finishes_with_its_status():
    ops = Operations()
    done = threading.Event()

    def run(op, generation):
        assert generation == 0
        ops.finish(op)
        done.set()

    op = ops.begin("start", "/subscriptions/s/vm/a", run)
    assert op.status_body()["status"] in ("InProgress", "Succeeded")
    assert done.wait(5)
    body = ops.get(op.id).status_body()
    assert body["status"] == "Succeeded" and "endTime" in body and "error" not in body


def test_a_start_failure_is_taken_once_and_only_by_a_start():
    ops = Operations()
    ops.fail_next_start("Stage-1", {"code": "OverconstrainedAllocationRequest"})
    assert ops.take_failure("deallocate", "stage-1") is None
    failure = ops.take_failure("start", "stage-1")
    assert failure["code"] == "OverconstrainedAllocationRequest" and failure["message"].startswith("Allocation failed")
    assert ops.take_failure("start", "stage-1") is None


def test_reset_forgets_failures_and_moves_the_generation():
    ops = Operations()
    ops.fail_next_start("a")
    ops.reset()
    assert ops.take_failure("start", "a") is None and ops.generation == 1


def test_actions_reach_the_azure_power_states():
    assert ACTIONS == {
        "start": ("starting", "running", True),
        "deallocate": ("deallocating", "deallocated", False),
        "poweroff": ("stopping", "stopped", False),
    }
