"""azlin.fleet.workflow on the sandbox fleet: dependency chains per host, barriers, on_failure, bad input.

Each step appends to a trace file in the host's private /tmp; the tests read it back on the controller with
``Sandbox.host_path`` and check the statuses in the JSON report written by azlin.fleet.fleet_report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FILES = Path(__file__).parent / "targets" / "workflow" / "files"
PLAYBOOK = "azlin.fleet.workflow"  # the collection playbook, resolved like a user would
WEB = ["web-1", "web-2", "web-3"]
ALL = ["web-1", "web-2", "web-3", "stage-1", "stage-2", "stage-3", "ci-1", "ci-2"]
SCRATCH = ("/tmp/wf_trace", "/tmp/wf_audit", "/tmp/wf_rollback", "/tmp/wf_prepare", "/tmp/wf_use", "/tmp/wf_marker")


@pytest.fixture
def workflow(fleet, run_playbook, tmp_path):
    """Runner: (process, report) of azlin.fleet.workflow on a file of targets/workflow/files, hosts clean first."""
    for host in ALL:
        for path in SCRATCH:
            fleet.host_path(host, path).unlink(missing_ok=True)

    def run(name: str, **extra):
        report_dir = tmp_path / f"report-{name}"
        env = {
            "ANSIBLE_CALLBACKS_ENABLED": "azlin.fleet.fleet_report",
            "AZLIN_FLEET_REPORT_DIR": str(report_dir),
            "AZLIN_FLEET_REPORT_NAME": "report",
            "AZLIN_FLEET_REPORT_FORMATS": "json",
        }
        proc = run_playbook(PLAYBOOK, extra_vars={"fleet_workflow_file": str(FILES / name), **extra}, env=env)
        path = report_dir / "report.json"
        report = json.loads(path.read_text()) if path.exists() else None
        return proc, report

    return run


def trace(fleet, host: str, path: str = "/tmp/wf_trace") -> list[str]:
    file = fleet.host_path(host, path)
    return file.read_text().split() if file.exists() else []


def step_results(report: dict, step: str) -> dict[str, dict]:
    """Host -> result of the task that ran (or decided) ``step``."""
    found = {}
    for task in report["tasks"]:
        for result in task["results"]:
            if result.get("step") == step:
                found[result["host"]] = result
    return found


@pytest.mark.multiversion
def test_chain_failure_blocks_dependents_only_on_that_host(fleet, workflow) -> None:
    proc, report = workflow("chain.yaml")
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert trace(fleet, "web-1") == trace(fleet, "web-3") == ["fetch", "build", "deploy"]
    assert trace(fleet, "web-2") == ["fetch", "build"]  # deploy never started there
    for host in WEB:  # the independent branch ran everywhere
        assert fleet.host_path(host, "/tmp/wf_audit").exists()
    deploy = step_results(report, "deploy")
    assert deploy["web-2"]["status"] == "blocked"
    assert deploy["web-2"]["reason"] == "requires 'build', which failed on this host"
    assert {h: deploy[h]["status"] for h in ("web-1", "web-3")} == {"web-1": "ok", "web-3": "ok"}
    assert step_results(report, "build")["web-2"]["status"] == "failed"
    hosts = {h["host"]: h["status"] for h in report["hosts"]}
    assert hosts["web-1"] == hosts["web-3"] == "ok"
    assert hosts["web-2"] == "failed"
    assert "stage-1" not in hosts  # the workflow's own targets


def test_diamond_order_and_continue_on_error(fleet, workflow) -> None:
    proc, report = workflow("diamond.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:]  # a continue_on_error failure does not fail the run
    for host in ("web-1", "web-2"):
        steps = trace(fleet, host)
        assert sorted(steps) == ["after_lint", "fetch", "join", "left", "right"]
        assert steps.index("fetch") < steps.index("left") < steps.index("join")
        assert steps.index("fetch") < steps.index("right") < steps.index("join")
    lint = step_results(report, "lint")
    assert {r["status"] for r in lint.values()} == {"failed"}
    assert all(r["ignored"] for r in lint.values())
    assert "continue_on_error" in lint["web-1"]["reason"]
    assert trace(fleet, "web-3") == []  # not a target


def test_on_failure_runs_on_the_failed_host_and_is_reported(fleet, workflow) -> None:
    proc, report = workflow("on_failure.yaml")
    assert proc.returncode == 2
    assert fleet.host_path("web-1", "/tmp/wf_rollback").read_text().strip() == "rolled-back"
    assert not fleet.host_path("web-2", "/tmp/wf_rollback").exists()
    rollback = step_results(report, "rollback")
    assert list(rollback) == ["web-1"]
    assert (rollback["web-1"]["status"], rollback["web-1"]["reason"]) == ("ok", "on_failure of 'deploy'")
    restart = step_results(report, "restart")
    assert restart["web-1"]["status"] == "blocked"
    assert restart["web-2"]["status"] == "ok"
    assert trace(fleet, "web-1") == [] and trace(fleet, "web-2") == ["restart"]


def test_fleet_wide_step_is_a_barrier(fleet, workflow) -> None:
    proc, report = workflow("barrier.yaml")
    assert proc.returncode == 2
    prepared = [float(fleet.host_path(h, "/tmp/wf_prepare").read_text()) for h in WEB]
    used = [float(fleet.host_path(h, "/tmp/wf_use").read_text()) for h in WEB]
    assert min(used) > max(prepared)  # no host used it before every host had prepared
    restart = step_results(report, "restart")
    assert {h: r["status"] for h, r in restart.items()} == dict.fromkeys(WEB, "blocked")
    assert restart["web-1"]["reason"] == "requires fleet-wide step 'migrate', which did not succeed on web-3"
    assert all(trace(fleet, h) == [] for h in WEB)


def test_dry_run_prints_the_plan_and_touches_no_host(fleet, workflow) -> None:
    proc, report = workflow("diamond.yaml", fleet_dry_run=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "workflow 'diamond': 6 step(s) in 3 layer(s)" in proc.stdout
    assert "join: echo join >> /tmp/wf_trace  [requires left, right]" in proc.stdout
    assert "hosts: web-1, web-2" in proc.stdout
    assert all(trace(fleet, h) == [] for h in ALL)
    # the plan is an internal controller task (quiet in the report): no host got as far as a step
    assert not [r for t in report["tasks"] for r in t["results"] if r.get("step")]
    assert report["errors"] == []


INVALID = [
    pytest.param("invalid_cycle.yaml", ["Dependency cycle", "a -> c -> b -> a"], id="cycle"),
    pytest.param(
        "invalid_unknown_dep.yaml", ["requires unknown step 'biuld'", "Did you mean 'build'?"], id="unknown-dep"
    ),
    pytest.param("invalid_duplicate.yaml", ["duplicate name (first defined at steps[0])"], id="duplicate"),
    pytest.param("invalid_unknown_key.yaml", ["unknown key 'retires'"], id="unknown-key"),
    pytest.param("invalid_gate.yaml", ["bad gate 'cpu<<50'"], id="bad-gate"),
    pytest.param("invalid_type.yaml", ["'timeout' must be a positive number of seconds"], id="wrong-type"),
    pytest.param(
        "invalid_many.yaml",
        ["4 problem(s)", "unknown top-level key", "unknown step 'ghost'", "duplicate name", "bad gate 'load<<1'"],
        id="all-at-once",
    ),
]


@pytest.mark.parametrize(("name", "messages"), INVALID)
def test_invalid_workflow_fails_before_any_host_is_touched(fleet, workflow, name: str, messages: list[str]) -> None:
    proc, report = workflow(name)
    assert proc.returncode == 2, proc.stdout[-3000:]
    output = proc.stdout + proc.stderr
    for message in messages:
        assert message in output
    assert f"{name}:" in output  # each problem is located in the file
    assert not any(fleet.host_path(h, "/tmp/wf_marker").exists() for h in ALL)
    # no host got as far as a task: the refusal is the failure of the one (quiet) validation task
    assert report["hosts"] == []
    assert [e["status"] for e in report["errors"]] == ["failed"]
    assert messages[0] in report["errors"][0]["reason"]


def test_alias_bomb_is_refused_quickly_before_any_host_is_touched(fleet, run_playbook, tmp_path) -> None:
    levels = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + levels)  # 9^10 nodes once expanded, 600 bytes
    proc = run_playbook(
        "azlin.fleet.workflow", extra_vars={"fleet_workflow_file": str(bomb), "fleet_targets": "web-1"}, timeout=60
    )
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "its aliases expand to more than 50000 nodes" in proc.stdout


def test_a_file_that_is_not_a_workflow_is_never_echoed(fleet, run_playbook, tmp_path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$s3cr3tSALT$hashhashhash:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n")
    proc = run_playbook(
        "azlin.fleet.workflow", extra_vars={"fleet_workflow_file": str(secret), "fleet_targets": "web-1"}
    )
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "unknown top-level key" in proc.stdout
    assert "s3cr3t" not in proc.stdout + proc.stderr and "hashhash" not in proc.stdout + proc.stderr


def test_scripts_are_confined_to_the_workflow_directory(fleet, workflow) -> None:
    proc, report = workflow("escape/escape.yaml")
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "script '../chain.yaml' lies outside the workflow's directory" in proc.stdout
    assert report["hosts"] == [] or all(h["host"] == "localhost" for h in report["hosts"])
