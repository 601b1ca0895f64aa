"""Unit tests for running a host's steps: argv, retries, timeouts, health, gates, rollout and the shell script."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
    Step,
    Workflow,
    order_steps,
    parse_workflow,
    segment_steps,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_state import (
    ALL_STATUSES,
    SATISFIED,
    tally_outcomes,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_step import (
    Rollout,
    build_argv,
    classify_attempt,
    evaluate_when,
    retry_delay,
    run_segment,
    shell_script,
)


def wf(*steps: dict[str, Any], **top: Any) -> Workflow:
    return parse_workflow({"name": "t", "steps": list(steps), **top})


# --- fakes: the I/O run_segment is given ------------------------------------------------------------------


class FakeHost:
    """The injected I/O of one host: answers module calls from per-command scripts, records every call, sleep
    and slot in one event log (so tests can check what ran inside which slot, in which order)."""

    def __init__(self, **answers: list[dict[str, Any]]) -> None:
        #: command text (or module name) -> queued results; a command with no queue left answers rc 0
        self.answers = {key: list(value) for key, value in answers.items()}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.events: list[tuple[str, ...]] = []
        self.sleeps: list[float] = []

    def execute(self, module: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((module, args))
        key = args["argv"][-1] if module == "ansible.builtin.command" else module
        self.events.append(("call", key))
        queue = self.answers.get(key)
        return queue.pop(0) if queue else {"rc": 0, "stdout": f"{key} done"}

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.events.append(("sleep", str(seconds)))

    @contextlib.contextmanager
    def slot(self, step: Step) -> Iterator[None]:
        self.events.append(("enter", step.name, str(step.throttle)))
        try:
            yield
        finally:
            self.events.append(("exit", step.name))

    @property
    def commands(self) -> list[str]:
        return [args["argv"][-1] for module, args in self.calls if module == "ansible.builtin.command"]

    def run(
        self, workflow: Workflow, names: list[str], mine: dict[str, dict[str, Any]] | None = None, **kwargs: Any
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        state = {} if mine is None else mine
        entries = run_segment(workflow, names, state, execute=self.execute, sleep=self.sleep, slot=self.slot, **kwargs)
        return entries, state


def by_step(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["step"]: e for e in entries}


# --- argv and backoff ---------------------------------------------------------------------------------------


def test_build_argv_wraps_timeout_and_scripts() -> None:
    argv, stdin = build_argv(Step(name="a", command="sleep 9", timeout=3))
    assert argv == ["timeout", "--kill-after=5", "3", "/bin/sh", "-c", "sleep 9"] and stdin is None
    argv, stdin = build_argv(Step(name="a", script="/s.py"), "#!/usr/bin/env python3\nprint(1)\n")
    assert argv == ["/usr/bin/env", "python3"] and stdin.startswith("#!")
    argv, stdin = build_argv(Step(name="a", script="/s.sh"), "echo no shebang\n")
    assert argv == ["/bin/sh"] and stdin == "echo no shebang\n"


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay(n, 2) for n in (1, 2, 3)] == [2, 4, 8]
    assert retry_delay(10, 2) == 60


# --- run_segment: one host walks its own DAG ---------------------------------------------------------------


def diamond(**extra: Any) -> Workflow:
    return wf(
        {"name": "fetch", "command": "f"},
        {"name": "left", "command": "l", "requires": ["fetch"]},
        {"name": "right", "command": "r", "requires": ["fetch"]},
        {"name": "join", "command": "j", "requires": ["right", "left"], **extra},
        {"name": "lint", "command": "x"},
    )


def test_steps_run_in_dependency_order_and_record_every_step() -> None:
    workflow = diamond()
    host = FakeHost()
    entries, mine = host.run(workflow, order_steps(workflow))
    assert host.commands == ["f", "x", "l", "r", "j"]
    assert [e["step"] for e in entries] == ["fetch", "lint", "left", "right", "join"]
    assert all(e["status"] == "ok" and e["rc"] == 0 and e["attempts"] == 1 for e in entries)
    assert by_step(entries)["join"]["stdout"] == "j done"
    assert mine == {name: {"status": "ok", "reason": ""} for name in order_steps(workflow)}


def test_failed_step_blocks_its_dependents_on_this_host_and_names_the_failed_step() -> None:
    workflow = diamond()
    host = FakeHost(l=[{"rc": 3, "failed": True, "stderr": "boom"}])
    entries, mine = host.run(workflow, order_steps(workflow))
    assert host.commands == ["f", "x", "l", "r"]  # join never reaches the host; the independent 'right' does
    left, right, join = (by_step(entries)[n] for n in ("left", "right", "join"))
    assert (left["status"], left["reason"], left["cause"], left["rc"], left["stderr"]) == (
        "failed",
        "exit code 3",
        "left",
        3,
        "boom",
    )
    assert right["status"] == "ok"
    assert (join["status"], join["cause"], join["ignored"]) == ("blocked", "left", False)
    assert join["reason"] == "requires 'left', which failed on this host"
    assert "rc" not in join and "attempts" not in join
    assert mine["join"] == {"status": "blocked", "reason": join["reason"], "cause": "left"}


def test_block_is_transitive_and_keeps_the_root_cause() -> None:
    workflow = wf(
        {"name": "a", "command": "a"},
        {"name": "b", "command": "b", "requires": "a"},
        {"name": "c", "command": "c", "requires": "b"},
    )
    entries, _mine = FakeHost(a=[{"rc": 1}]).run(workflow, order_steps(workflow))
    assert by_step(entries)["c"]["cause"] == "a"
    assert by_step(entries)["c"]["reason"] == "requires 'b', which was blocked on this host (root cause: 'a' failed)"


def test_on_failure_step_runs_on_the_failed_host_right_after_the_failure() -> None:
    workflow = wf(
        {"name": "deploy", "command": "d", "on_failure": "rollback"},
        {"name": "rollback", "command": "rb"},
        {"name": "after", "command": "af"},
    )
    host = FakeHost(d=[{"rc": 2}])
    entries, mine = host.run(workflow, order_steps(workflow))
    assert host.commands == ["d", "rb", "af"]
    assert [e["step"] for e in entries] == ["deploy", "rollback", "after"]
    assert (by_step(entries)["rollback"]["status"], by_step(entries)["rollback"]["reason"]) == (
        "ok",
        "on_failure of 'deploy'",
    )
    assert mine["deploy"]["status"] == "failed" and mine["rollback"]["status"] == "ok"
    ok_host = FakeHost()
    ok_entries, _ = ok_host.run(workflow, order_steps(workflow))
    assert ok_host.commands == ["d", "af"]  # no failure: the on_failure step never runs
    assert "rollback" not in by_step(ok_entries)


def test_continue_on_error_failure_shows_failed_and_ignored_and_dependents_run() -> None:
    workflow = wf(
        {"name": "warm", "command": "w", "continue_on_error": True},
        {"name": "serve", "command": "s", "requires": "warm"},
    )
    host = FakeHost(w=[{"rc": 1, "failed": True}])
    entries, mine = host.run(workflow, order_steps(workflow))
    warm = by_step(entries)["warm"]
    assert (warm["status"], warm["ignored"], warm["rc"]) == ("failed", True, 1)
    assert mine["warm"]["status"] == "ignored" and mine["warm"]["failure"] == "failed"
    assert by_step(entries)["serve"]["status"] == "ok"
    assert host.commands == ["w", "s"]


def test_when_gate_not_met_is_gated_never_runs_the_command_and_skips_dependents() -> None:
    workflow = wf(
        {"name": "a", "command": "a", "when": "cpu<50"},
        {"name": "b", "command": "b", "requires": "a"},
        {"name": "c", "command": "c"},
    )
    host = FakeHost(**{"azlin.fleet.probe_host": [{"metrics": {"cpu": 63.0, "mem": 10.0}}]})
    entries, mine = host.run(workflow, order_steps(workflow))
    assert [m for m, _args in host.calls] == ["azlin.fleet.probe_host", "ansible.builtin.command"]
    assert host.commands == ["c"]
    a, b = by_step(entries)["a"], by_step(entries)["b"]
    assert (a["status"], a["reason"]) == ("gated", "gate 'cpu<50' not met: cpu 63% >= 50%")
    assert mine["a"]["status"] == "skipped"
    assert (b["status"], b["reason"]) == ("skipped", "requires 'a', which was skipped on this host")


def test_when_gate_met_runs_the_command_and_an_unmeasurable_host_is_gated() -> None:
    workflow = wf({"name": "a", "command": "a", "when": "cpu<50"})
    host = FakeHost(**{"azlin.fleet.probe_host": [{"metrics": {"cpu": 3.0}}]})
    entries, _ = host.run(workflow, ["a"])
    assert by_step(entries)["a"]["status"] == "ok" and host.commands == ["a"]
    broken = FakeHost(**{"azlin.fleet.probe_host": [{"failed": True, "msg": "no /proc/stat"}]})
    entries, _ = broken.run(workflow, ["a"])
    assert by_step(entries)["a"]["status"] == "gated"
    assert by_step(entries)["a"]["reason"] == "gate 'cpu<50' not met: unmeasurable: no /proc/stat"
    assert broken.commands == []


def test_retries_back_off_and_report_the_attempts() -> None:
    workflow = wf({"name": "a", "command": "a", "retries": 3})
    host = FakeHost(
        a=[
            {"unreachable": True, "msg": "ssh: connect timed out"},
            {"rc": 1, "failed": True},
            {"rc": 0, "stdout": "done"},
        ]
    )
    entries, mine = host.run(workflow, ["a"], base_delay=1.5)
    assert host.sleeps == [1.5, 3.0]
    assert [e[0] for e in host.events if e[0] in ("call", "sleep")] == ["call", "sleep", "call", "sleep", "call"]
    a = by_step(entries)["a"]
    assert (a["status"], a["attempts"], a["reason"], a["stdout"]) == ("ok", 3, "succeeded on attempt 3", "done")
    assert mine["a"] == {"status": "ok", "reason": "succeeded on attempt 3"}


def test_retries_exhausted_report_the_last_failure() -> None:
    workflow = wf({"name": "a", "command": "a", "retries": 2})
    host = FakeHost(a=[{"rc": 1}, {"rc": 1}, {"unreachable": True, "msg": "gone"}])
    entries, _ = host.run(workflow, ["a"], base_delay=2)
    assert host.sleeps == [2, 4]
    a = by_step(entries)["a"]
    assert (a["status"], a["attempts"], a["reason"]) == ("unreachable", 3, "host unreachable: gone")


def test_timeout_is_reported_as_timeout() -> None:
    workflow = wf({"name": "a", "command": "sleep 99", "timeout": 2})
    host = FakeHost(**{"sleep 99": [{"rc": 124, "failed": True}]})
    entries, _ = host.run(workflow, ["a"])
    assert host.calls[0][1]["argv"][:3] == ["timeout", "--kill-after=5", "2"]
    assert (entries[0]["status"], entries[0]["reason"]) == ("timeout", "killed after the 2s timeout")


def test_unhealthy_host_fails_the_step_with_the_health_result() -> None:
    workflow = wf({"name": "run", "command": "deploy", "health": {"command": "check"}})
    host = FakeHost(
        **{
            "azlin.fleet.health_check": [
                {"failed": True, "msg": "Health check command 'check' failed", "probes": 3, "healthy": False}
            ]
        }
    )
    entries, _ = host.run(workflow, ["run"])
    assert host.calls[1] == (
        "azlin.fleet.health_check",
        # the controller stops waiting 15 s after the health check's own timeout
        {"interval": 2.0, "timeout": 60.0, "successes": 1, "command": "check", "deadline": 75.0},
    )
    run = entries[0]
    assert run["status"] == "failed"
    assert run["reason"] == "unhealthy: Health check command 'check' failed"
    assert run["health"] == {"healthy": False, "probes": 3, "msg": "Health check command 'check' failed"}


def test_command_args_carry_env_become_chdir_and_script_stdin() -> None:
    workflow = wf(
        {"name": "a", "command": "a", "env": {"TOKEN": "s3cr3t", "ON": True}, "become": True, "chdir": "/srv"},
        {"name": "b", "script": "/abs/b.sh", "timeout": 30},
    )
    host = FakeHost()
    host.run(workflow, order_steps(workflow), scripts={"b": "#!/bin/bash -eu\necho b\n"})
    (_m1, a_args), (_m2, b_args) = host.calls
    assert a_args == {
        "argv": ["/bin/sh", "-c", "a"],
        "env": {"TOKEN": "s3cr3t", "ON": "true"},
        "become": True,
        "chdir": "/srv",
        "deadline": None,
    }  # no timeout: no controller deadline either
    assert b_args == {
        "argv": ["timeout", "--kill-after=5", "30", "/bin/bash", "-eu"],
        "env": {},
        "become": False,
        "stdin": "#!/bin/bash -eu\necho b\n",
        "deadline": 45.0,
    }


def test_an_attempt_past_the_controller_deadline_is_a_timeout_naming_it() -> None:
    step = wf({"name": "a", "command": "a", "timeout": 5}).step("a")
    status, reason = classify_attempt(step, {"deadline_exceeded": True, "deadline": 20.0, "unreachable": True})
    assert status == "timeout"
    assert reason == "no answer from the host within 20.0s: frozen or cut off (controller deadline)"


def test_rollout_stops_a_host_that_has_not_started_when_the_tally_names_a_failed_host() -> None:
    workflow = wf(
        {"name": "a", "command": "a", "fleet_wide": True},
        {"name": "b", "command": "b", "requires": "a", "on_failure": "undo"},
        {"name": "undo", "command": "u"},
    )
    tally = tally_outcomes(None, {"h1": {"a": {"status": "failed", "reason": "", "cause": "a"}}}, ["a"])
    host = FakeHost()
    entries, mine = host.run(workflow, ["a"], tally=tally, rollout=Rollout(stop_on_failure=True))
    assert host.calls == [] and host.events == []
    # every regular step of every segment is recorded at once; on_failure steps are not
    assert [(e["step"], e["status"]) for e in entries] == [("a", "not_started"), ("b", "not_started")]
    assert entries[0]["reason"] == "rollout stopped after 'h1' failed (failed)"
    assert set(mine) == {"a", "b"}
    later, _ = host.run(workflow, ["b"], mine, tally=tally, rollout=Rollout(stop_on_failure=True))
    assert later == [] and host.calls == []  # the later segment finds the steps already recorded


def test_error_budget_lets_hosts_start_until_it_is_spent() -> None:
    workflow = wf({"name": "a", "command": "a"})
    one_failed = {"failed": {"h1": "failed"}, "fleet_wide": {}}
    host = FakeHost()
    entries, _ = host.run(workflow, ["a"], tally=one_failed, rollout=Rollout(max_failures=1))
    assert entries[0]["status"] == "ok"
    two_failed = {"failed": {"h1": "failed", "h2": "timeout"}, "fleet_wide": {}}
    entries, _ = FakeHost().run(workflow, ["a"], tally=two_failed, rollout=Rollout(max_failures=1))
    assert entries[0]["status"] == "not_started"
    assert entries[0]["reason"] == "error budget exhausted: 2 host(s) failed (h1, h2), max_failures is 1"
    # without a rollout rule the tally's failed hosts do not stop anyone
    entries, _ = FakeHost().run(workflow, ["a"], tally=two_failed)
    assert entries[0]["status"] == "ok"


def test_host_that_already_started_is_not_stopped_by_the_rollout() -> None:
    workflow = wf({"name": "a", "command": "a", "fleet_wide": True}, {"name": "b", "command": "b", "requires": "a"})
    mine = {"a": {"status": "ok", "reason": ""}}
    tally = {"failed": {"h9": "failed"}, "fleet_wide": {}}
    entries, _ = FakeHost().run(workflow, ["b"], mine, tally=tally, rollout=Rollout(stop_on_failure=True))
    assert entries[0]["status"] == "ok"


def test_fleet_wide_failure_elsewhere_blocks_this_hosts_dependents_from_the_tally() -> None:
    workflow = wf(
        {"name": "migrate", "command": "m", "fleet_wide": True},
        {"name": "restart", "command": "r", "requires": "migrate"},
        {"name": "notify", "command": "n"},
    )
    first, second = segment_steps(workflow)
    assert (first, second) == (["migrate", "notify"], ["restart"])
    host = FakeHost()
    _entries, mine = host.run(workflow, first)
    tally = tally_outcomes(
        None, {"h1": dict(mine), "h2": {"migrate": {"status": "failed", "reason": "", "cause": "migrate"}}}, ["migrate"]
    )
    entries, mine = host.run(workflow, second, mine, tally=tally)
    assert host.commands == ["m", "n"]
    restart = entries[0]
    assert (restart["status"], restart["cause"]) == ("blocked", "migrate")
    assert restart["reason"] == "requires fleet-wide step 'migrate', which did not succeed on h2"


def test_slot_is_held_around_each_step_that_runs_and_never_for_a_blocked_one() -> None:
    """run_segment asks the slot factory for every step it runs (the factory sees ``step.throttle``; the action's
    factory holds a real slot only when it is set) and runs the step's module calls inside it."""
    workflow = wf(
        {"name": "a", "command": "a", "throttle": 2, "when": "cpu<50"},
        {"name": "b", "command": "b", "requires": "a", "health": {"port": 80}},
        {"name": "c", "command": "c"},
        {"name": "d", "command": "d", "requires": "c", "throttle": 1},
    )
    host = FakeHost(c=[{"rc": 1}], **{"azlin.fleet.probe_host": [{"metrics": {"cpu": 1.0}}]})
    host.run(workflow, order_steps(workflow))
    assert host.events == [
        ("enter", "a", "2"),
        ("call", "azlin.fleet.probe_host"),
        ("call", "a"),
        ("exit", "a"),
        ("enter", "c", "None"),
        ("call", "c"),
        ("exit", "c"),
        ("enter", "b", "None"),
        ("call", "b"),
        ("call", "azlin.fleet.health_check"),
        ("exit", "b"),
    ]  # d is blocked by c: no slot, no call


def test_a_step_reached_before_its_requires_is_a_planning_bug() -> None:
    workflow = wf({"name": "a", "command": "x"}, {"name": "b", "command": "y", "requires": "a"})
    host = FakeHost()
    with pytest.raises(FleetUsageError, match=r"Step 'b'.*reached before its dependencies ran"):
        host.run(workflow, ["b"])


# --- property: random DAGs, random failures, one segment after another --------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> Workflow:
    count = draw(st.integers(min_value=1, max_value=8))
    steps = []
    for i in range(count):
        requires = draw(st.lists(st.integers(min_value=0, max_value=i - 1), unique=True, max_size=3)) if i else []
        steps.append(
            {
                "name": f"s{i}",
                "command": f"s{i}",
                "requires": [f"s{j}" for j in requires],
                "continue_on_error": draw(st.booleans()),
                "fleet_wide": draw(st.booleans()),
            }
        )
    order = draw(st.permutations(range(count)))  # the order must come from the graph, not from the file
    return parse_workflow({"name": "p", "steps": [steps[i] for i in order]})


@settings(max_examples=200, deadline=None)
@given(dags(), st.integers(1, 3), st.data())
def test_no_step_starts_before_its_dependencies_succeeded(
    workflow: Workflow, host_count: int, data: st.DataObject
) -> None:
    hosts = [f"h{i}" for i in range(host_count)]
    states: dict[str, dict[str, dict[str, Any]]] = {h: {} for h in hosts}
    barriers = [s.name for s in workflow.steps if s.fleet_wide]
    tally = None
    for segment in segment_steps(workflow):
        for host in hosts:

            def execute(module: str, args: dict[str, Any], host: str = host) -> dict[str, Any]:
                step = workflow.step(args["argv"][-1])
                # The invariant, checked at the moment the command would start on the host:
                for dep in step.requires:
                    assert states[host][dep]["status"] in SATISFIED
                    if workflow.step(dep).fleet_wide:
                        assert all(states[h][dep]["status"] in SATISFIED for h in hosts)
                outcome = data.draw(
                    st.sampled_from(["ok", "failed", "timeout", "unreachable"]), label=f"{host}/{step.name}"
                )
                if outcome == "unreachable":
                    return {"unreachable": True}
                return {"rc": {"ok": 0, "failed": 1, "timeout": 124}[outcome]}

            run_segment(
                workflow,
                segment,
                states[host],
                execute=execute,
                sleep=lambda s: None,
                slot=lambda step: contextlib.nullcontext(),
                tally=tally,
            )
        tally = tally_outcomes(tally, states, barriers)
    for host in hosts:
        assert set(states[host]) == set(order_steps(workflow))  # every step ends in exactly one status
        assert all(e["status"] in ALL_STATUSES for e in states[host].values())
        for e in states[host].values():
            if e["status"] == "blocked":
                assert e["cause"] in {s.name for s in workflow.steps}


# --- when gate ----------------------------------------------------------------------------------------------


def test_evaluate_when_uses_the_gate_grammar() -> None:
    metrics = {"cpu": 63.0, "mem": 20.0, "load1": 0.1, "cpus": 2, "users": 0, "sessions": []}
    assert evaluate_when("cpu<50", metrics) == (False, "cpu 63% >= 50%")
    assert evaluate_when("mem<50", metrics) == (True, "")


# --- shell_script: run by a real /bin/sh ------------------------------------------------------------------

HOSTILE = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "'; touch PWNED; echo '",
    '"; touch PWNED; echo "',
    "a\nb",
    "$HOME ${PATH} \\ \\n !",
    "",
    "--",
]
DELIMITER = "AZLIN_FLEET_EOF_0123456789abcdef"


def run_sh(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Feed the script to ``/bin/sh -s`` as the action does over SSH."""
    return subprocess.run(
        ["/bin/sh", "-s"], input=script, capture_output=True, text=True, cwd=cwd, timeout=10, check=False
    )


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_shell_script_passes_hostile_env_values_verbatim(value: str, tmp_path: Path) -> None:
    argv = ["/bin/sh", "-c", 'printf "[%s]" "$FLEET_V"']
    result = run_sh(shell_script(argv, None, {"FLEET_V": value}, None, DELIMITER), tmp_path)
    assert (result.returncode, result.stdout) == (0, f"[{value}]"), result.stderr
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("arg", HOSTILE, ids=repr)
def test_shell_script_passes_hostile_argv_verbatim(arg: str, tmp_path: Path) -> None:
    result = run_sh(shell_script(["printf", "[%s]", arg], None, {}, None, DELIMITER), tmp_path)
    assert (result.returncode, result.stdout) == (0, f"[{arg}]"), result.stderr
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name", ["with space", "it's", "$(touch PWNED)", "-dash", "a\nb"], ids=repr)
def test_shell_script_changes_to_a_hostile_directory(name: str, tmp_path: Path) -> None:
    target = tmp_path / name
    target.mkdir()
    result = run_sh(shell_script(["/bin/sh", "-c", "pwd -P"], None, {}, str(target), DELIMITER), tmp_path)
    assert (result.returncode, result.stdout) == (0, f"{target.resolve()}\n"), result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_shell_script_stops_when_the_directory_is_missing(tmp_path: Path) -> None:
    script = shell_script(["touch", str(tmp_path / "ran")], None, {}, str(tmp_path / "gone"), DELIMITER)
    result = run_sh(script, tmp_path)
    assert result.returncode == 1
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    "body",
    [
        "echo $HOME `id` $(touch PWNED)\n",
        "no trailing newline",
        f"{DELIMITER[:-1]}\n{DELIMITER} \n {DELIMITER}\nEOF\n'EOF'\n",
        "line with 'single' and \"double\" quotes\\\n\n\n",
        "",
    ],
    ids=["expansions", "no-newline", "delimiter-lookalikes", "quotes-and-blank-lines", "empty"],
)
def test_shell_script_feeds_the_script_body_verbatim_through_the_heredoc(body: str, tmp_path: Path) -> None:
    result = run_sh(shell_script(["cat"], body, {}, None, DELIMITER), tmp_path)
    expected = body if body.endswith("\n") else body + "\n"
    assert (result.returncode, result.stdout) == (0, expected), result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_shell_script_runs_a_script_step_with_its_interpreter_env_and_rc(tmp_path: Path) -> None:
    step = Step(name="s", script="/abs/s.sh")
    argv, stdin = build_argv(step, '#!/bin/sh\necho "$GREETING"\nexit 7\n')
    result = run_sh(shell_script(argv, stdin, {"GREETING": "hi $(there)"}, None, DELIMITER), tmp_path)
    assert (result.returncode, result.stdout) == (7, "hi $(there)\n")


def test_shell_script_gives_a_command_no_stdin_so_it_cannot_eat_the_script(tmp_path: Path) -> None:
    script = shell_script(["/bin/sh", "-c", "cat; echo end"], None, {}, None, DELIMITER)
    result = run_sh(script + "echo AFTER\n", tmp_path)
    assert (result.returncode, result.stdout) == (0, "end\n")  # exec: nothing after the command runs either


def test_a_huge_output_is_cut_in_the_worker_keeping_head_tail_size_and_digest() -> None:
    import hashlib

    from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow_step import cap_output

    assert cap_output("short", limit=10) == "short"
    text = "A" * 40 + "B" * 20 + "C" * 40
    cut = cap_output(text, limit=20)
    digest = hashlib.sha256(text.encode()).hexdigest()
    marker = (
        f"\n[... 80 characters cut before leaving the worker; the whole output was 100 characters, "
        f"sha256 {digest} ...]\n"
    )
    assert cut == "A" * 10 + marker + "C" * 10
    # outputs that differ only in the cut middle stay apart
    assert cap_output("A" * 40 + "X" * 20 + "C" * 40, limit=20) != cut
