"""End-to-end tests of the azlin-fleet CLI on the sandbox fleet: real azlin-fleet, real ansible-playbook, real SSH.

Each reference command of DESIGN §1 runs as written (``azlin-fleet run ...``). The commands it names (``npm``,
``deploy.sh``, ``make``) are provided per host as files in the host's private /root, reached through the
documented ``--`` passthrough (``-e fleet_environment=...`` puts /root/bin on PATH).
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

AZLIN_FLEET = str(Path(sys.executable).parent / "azlin-fleet")
PATH_ON_HOSTS = ["--", "-e", '{"fleet_environment": {"PATH": "/root/bin:/usr/local/bin:/usr/bin:/bin"}}']
WEB = ["web-1", "web-2", "web-3"]
STAGING = ["stage-1", "stage-2", "stage-3"]
DEV = ["ci-1", "ci-2", "web-1", "web-2", "web-3"]
ALL = sorted(WEB + STAGING + ["ci-1", "ci-2"])
# Records when it ran, so the test can prove --sequence never overlaps two hosts.
DEPLOY_SH = "#!/bin/sh\ndate +%s.%N >> /root/deploy.log\nsleep 0.3\ndate +%s.%N >> /root/deploy.log\necho deployed\n"


class Cli:
    """Runs azlin-fleet against the sandbox with an isolated config dir and report dir."""

    def __init__(self, fleet: Any, env: dict[str, str], tmp_path: Path) -> None:
        self.fleet = fleet
        self.report_dir = tmp_path / "reports"
        self.env = dict(env)
        self.env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")  # no user config file
        self.env["AZLIN_FLEET_SANDBOX_DIR"] = str(tmp_path / "no-sandbox-here")  # resolution must not guess
        self.env.pop("ANSIBLE_CONFIG", None)  # the CLI sets everything it needs itself

    def __call__(
        self,
        *argv: str,
        inventory: str | None = "static",
        env: dict[str, str] | None = None,
        timeout: float = 300,
        report_dir: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        args = list(argv)
        if args and args[0] in ("run", "workflow", "probe"):
            options = ["--report-dir", str(self.report_dir)] if report_dir and "--report-dir" not in args else []
            if inventory == "static":
                options += ["-i", str(self.fleet.state_dir / "hosts.yml")]
            elif inventory == "azure":
                options += ["-i", str(self.fleet.state_dir / "azure" / "fleet.azure_pools.yml")]
            args[1:1] = options
        return subprocess.run(
            [AZLIN_FLEET, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def report(self, result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
        """The JSON report of a run (its path is the last line of the text output)."""
        html = result.stdout.strip().splitlines()[-1].removeprefix("report: ").split(" (also")[0]
        return json.loads(Path(html).with_suffix(".json").read_text())


def extra_vars_line(result: subprocess.CompletedProcess[str], file_name: str = "extra-vars.yml") -> str:
    """The -v line showing the (masked) content of one extra vars file."""
    return next(
        line for line in result.stderr.splitlines() if re.match(rf"azlin-fleet: extra vars in \S+/{file_name}:", line)
    )


def statuses(report: dict[str, Any]) -> dict[str, str]:
    """Overall status per target host, 'changed' counted as 'ok' (the playbooks' validate/judge plays on localhost
    are not targets)."""
    return {
        host["host"]: "ok" if host["status"] == "changed" else host["status"]
        for host in report["hosts"]
        if host["host"] != "localhost"
    }


@pytest.fixture
def cli(fleet: Any, ansible_env: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(fleet, ansible_env, tmp_path)


@pytest.fixture
def marker(fleet: Any) -> Iterator[str]:
    """A file path no test used before; a command that must not run would create it on the hosts."""
    path = f"/tmp/azlin-cli-marker-{uuid.uuid4().hex[:8]}"
    yield path
    for name in ALL:
        fleet.host_path(name, path).unlink(missing_ok=True)


def marked_hosts(fleet: Any, path: str) -> list[str]:
    return sorted(name for name in ALL if fleet.host_path(name, path).exists())


@pytest.fixture
def host_tools(fleet: Any) -> Iterator[None]:
    """npm, deploy.sh and a Makefile on each host, in its private /root (the user's commands, as written)."""
    written = []
    for name in ALL:
        tools = {
            "/root/bin/npm": '#!/bin/sh\necho "npm $*: 12 passing"\n',
            "/root/bin/deploy.sh": DEPLOY_SH,
            "/root/Makefile": "all:\n\t@echo built\n",
        }
        for path, text in tools.items():
            local = fleet.host_path(name, path)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(text)
            local.chmod(0o755)
            written.append(local)
        fleet.host_path(name, "/root/deploy.log").unlink(missing_ok=True)
    yield
    for local in written:
        local.unlink(missing_ok=True)
    for name in ALL:
        fleet.host_path(name, "/root/deploy.log").unlink(missing_ok=True)


# --- the user's reference commands (DESIGN §1), as written --------------------------------------------------


@pytest.mark.usefixtures("host_tools")
def test_npm_test_on_a_pool_in_parallel_with_retry(cli: Cli) -> None:
    result = cli("run", "npm test", "--pool", "web-servers", "--parallel", "5", "--retry-failed", *PATH_ON_HOSTS)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "npm test: 12 passing" in result.stdout
    assert "web-[1-3]" in result.stdout  # identical outputs folded into one group
    hosts = statuses(cli.report(result))
    assert set(hosts) == set(WEB)
    assert set(hosts.values()) == {"ok"}


@pytest.mark.usefixtures("host_tools")
def test_retry_failed_n_is_recorded_and_the_divergent_host_is_a_diff(cli: Cli, fleet: Any) -> None:
    fleet.host_path("web-3", "/root/bin/npm").write_text('#!/bin/sh\necho "npm $*: 11 passing, 1 failing"\nexit 1\n')
    result = cli("run", "npm test", "--pool", "web-servers", "--retry-failed", "2", *PATH_ON_HOSTS)
    assert result.returncode == 1, result.stderr + result.stdout
    report = cli.report(result)
    assert statuses(report) == {"web-1": "ok", "web-2": "ok", "web-3": "failed"}
    attempts = {host["host"]: host["attempts"] for host in report["hosts"]}
    assert attempts["web-3"] == 3  # the first try and 2 retries
    assert "+npm test: 11 passing, 1 failing" in result.stdout  # diff against the web-[1-2] baseline


@pytest.mark.usefixtures("host_tools")
def test_rolling_deploy_with_health_runs_one_host_at_a_time(cli: Cli, fleet: Any) -> None:
    result = cli("run", "deploy.sh", "--pool", "staging", "--sequence", "--wait-for-health", *PATH_ON_HOSTS)
    assert result.returncode == 0, result.stderr + result.stdout
    spans = []
    for name in STAGING:
        start, end = (float(line) for line in fleet.host_path(name, "/root/deploy.log").read_text().split())
        spans.append((start, end))
    spans.sort()
    for (_, previous_end), (next_start, _) in zip(spans, spans[1:], strict=False):
        assert next_start >= previous_end, "two hosts deployed at the same time under --sequence"
    assert set(statuses(cli.report(result))) == set(STAGING)


def test_idle_dry_run_runs_nothing_and_shows_verdicts(cli: Cli, fleet: Any) -> None:
    fleet.set_load("web-2", cpu=80.0)
    result = cli("run", "git pull && npm install", "--tag", "env=dev", "--if-idle", "--dry-run")
    assert result.returncode == 0, result.stderr + result.stdout
    report = cli.report(result)
    assert statuses(report)["web-2"] == "gated"
    plan = {host["host"]: host for host in report["plans"][-1]["hosts"]}
    assert {name for name, host in plan.items() if host["status"] == "selected"} == set(DEV) - {"web-2"}
    assert plan["web-2"]["status"] == "gated" and plan["web-2"]["metrics"]["cpu"] > 50
    assert "web-2" in result.stdout and "not idle" in result.stdout


def test_dry_run_leaves_no_trace(cli: Cli, fleet: Any, marker: str) -> None:
    result = cli("run", f"touch {marker}", "--tag", "env=dev", "--if-idle", "--dry-run")
    assert result.returncode == 0, result.stderr + result.stdout
    assert marked_hosts(fleet, marker) == []


@pytest.mark.usefixtures("host_tools")
def test_make_with_glued_cpu_gate(cli: Cli, fleet: Any) -> None:
    fleet.set_load("ci-1", cpu=80.0)
    result = cli("run", "make", "--pool", "ci", "--if-cpu-below-50", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # --format json: only the JSON report on stdout
    assert statuses(report) == {"ci-1": "gated", "ci-2": "ok"}
    reasons = next(h["reasons"] for h in report["hosts"] if h["host"] == "ci-1")
    # 80% simulated, read from two /proc/stat samples: a tick early or late reads 79.x (as in test_probe_table)
    assert any(re.search(r"cpu (79\.\d|8\d(\.\d)?)% >= 50%", reason) for reason in reasons), reasons


def test_glued_and_spaced_gate_flags_are_the_same(cli: Cli) -> None:
    glued = cli("run", "hostname", "--pool", "ci", "--if-cpu-below-50", "--dry-run", "-v")
    spaced = cli("run", "hostname", "--pool", "ci", "--if-cpu-below", "50", "--dry-run", "-v")
    assert glued.returncode == spaced.returncode == 0
    # -v shows the extra vars file ansible-playbook gets (-e @FILE: values never in argv)
    assert '"fleet_gate": !unsafe "cpu<50"' in extra_vars_line(glued)
    assert '"fleet_gate": !unsafe "cpu<50"' in extra_vars_line(spaced)


def test_workflow_on_a_tag(cli: Cli, fleet: Any, tmp_path: Path, marker: str) -> None:
    workflow = tmp_path / "deploy.yaml"
    workflow.write_text(
        "name: deploy\n"
        "steps:\n"
        f"  - name: build\n    command: echo build >> {marker}\n"
        f"  - name: test\n    command: echo test >> {marker}\n    requires: [build]\n"
        f"  - name: release\n    command: echo release >> {marker}\n    requires: [test]\n"
    )
    result = cli("workflow", str(workflow), "--tag", "env=staging")
    assert result.returncode == 0, result.stderr + result.stdout
    assert marked_hosts(fleet, marker) == STAGING
    for name in STAGING:
        assert fleet.host_path(name, marker).read_text().split() == ["build", "test", "release"]


# --- exit codes ---------------------------------------------------------------------------------------------


def test_exit_1_when_a_host_fails_and_the_diff_shows(cli: Cli) -> None:
    # Output that differs by more than the host's own name (which the report folds away): web-2 has release 41.
    command = 'if [ "$(hostname)" = web-2 ]; then echo release 41; exit 1; fi; echo release 42'
    result = cli("run", command, "--pool", "web-servers")
    assert result.returncode == 1, result.stderr + result.stdout
    assert statuses(cli.report(result)) == {"web-1": "ok", "web-2": "failed", "web-3": "ok"}
    assert "+release 41" in result.stdout  # web-2 shown as a diff against the web-[1,3] baseline


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(["--bogus"], id="unknown-flag"),
        pytest.param(["--if-cpu-below-fifty"], id="glued-not-a-number"),
        pytest.param(["--if-mem-below", "101"], id="mem-over-100"),
        pytest.param(["--parallel", "0"], id="parallel-zero"),
        pytest.param(["--max-failures", "x"], id="max-failures"),
        pytest.param(["--count", "-1"], id="count-negative"),
        pytest.param(["--route-by", "disk"], id="route-by"),
        pytest.param(["--all"], id="all-plus-pool"),
        pytest.param(["--health-url", "http://localhost/"], id="health-without-wait"),
    ],
)
def test_exit_2_for_bad_flags_and_nothing_runs(cli: Cli, fleet: Any, marker: str, flags: list[str]) -> None:
    result = cli("run", f"touch {marker}", "--pool", "web-servers", *flags)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("azlin-fleet: ")
    assert marked_hosts(fleet, marker) == []


def test_exit_2_for_an_invalid_workflow_and_nothing_runs(cli: Cli, fleet: Any, tmp_path: Path, marker: str) -> None:
    workflow = tmp_path / "bad.yaml"
    workflow.write_text(
        f"name: bad\nsteps:\n  - name: a\n    command: touch {marker}\n    requires: [b]\n"
        f"  - name: b\n    command: touch {marker}\n    requires: [a]\n  - name: c\n    comand: x\n"
    )
    result = cli("workflow", str(workflow), "--all")
    assert result.returncode == 2
    assert result.stderr.startswith("azlin-fleet: ")
    assert "cycle" in result.stderr.lower() and "comand" in result.stderr
    assert marked_hosts(fleet, marker) == []


def test_exit_2_without_any_inventory(cli: Cli, marker: str, fleet: Any) -> None:
    result = cli("run", f"touch {marker}", "--all", inventory=None)
    assert result.returncode == 2
    assert "no inventory" in result.stderr and "azure_pools" in result.stderr
    assert marked_hosts(fleet, marker) == []


def test_exit_3_when_no_host_matches(cli: Cli) -> None:
    result = cli("run", "hostname", "--pool", "no-such-pool")
    assert result.returncode == 3, result.stderr + result.stdout
    assert "nothing selected" in result.stderr and "pool_no_such_pool" in result.stderr


def test_exit_3_when_every_host_is_gated(cli: Cli, fleet: Any, marker: str) -> None:
    for name in WEB:
        fleet.set_load(name, cpu=70.0)
    result = cli("run", f"touch {marker}", "--pool", "web-servers", "--if-cpu-below", "50")
    assert result.returncode == 3, result.stderr + result.stdout
    assert set(statuses(cli.report(result)).values()) == {"gated"}
    assert marked_hosts(fleet, marker) == []


def test_exit_4_when_the_only_failures_are_unreachable(cli: Cli, fleet: Any) -> None:
    fleet.fault("web-3", "stop")
    result = cli("run", "hostname", "--pool", "web-servers")
    assert result.returncode == 4, result.stderr + result.stdout
    assert statuses(cli.report(result)) == {"web-1": "ok", "web-2": "ok", "web-3": "unreachable"}


# --- inventory, passthrough, output formats ------------------------------------------------------------------


def test_running_sandbox_is_the_default_inventory(cli: Cli, fleet: Any) -> None:
    result = cli(
        "run",
        "hostname",
        "--pool",
        "web-servers",
        "-v",
        inventory=None,
        env={"AZLIN_FLEET_SANDBOX_DIR": str(fleet.state_dir)},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "fleet.azure_pools.yml" in result.stderr  # the sandbox's Azure endpoint, through azlin.fleet.azure_pools
    assert set(statuses(cli.report(result))) == set(WEB)


def test_config_file_inventory(cli: Cli, fleet: Any, tmp_path: Path) -> None:
    config = tmp_path / "xdg" / "azlin-fleet" / "config.yml"
    config.parent.mkdir(parents=True)
    config.write_text(f"inventory: {fleet.state_dir / 'hosts.yml'}\n")
    result = cli("run", "hostname", "--tag", "env=staging", inventory=None)
    assert result.returncode == 0, result.stderr + result.stdout
    assert set(statuses(cli.report(result))) == set(STAGING)


def test_azure_inventory_with_tag_and_pool(cli: Cli) -> None:
    result = cli("run", "hostname", "--pool", "ci", "--tag", "env=dev", inventory="azure")
    assert result.returncode == 0, result.stderr + result.stdout
    assert set(statuses(cli.report(result))) == {"ci-1", "ci-2"}


def test_azure_inventory_resource_group_and_glob(cli: Cli) -> None:
    # The sandbox's VMs live in resource group rg-<pool>; Azure names are case-insensitive, so is --resource-group.
    result = cli("run", "hostname", "--resource-group", "RG-Web-Servers", "--pattern", "web-[12]", inventory="azure")
    assert result.returncode == 0, result.stderr + result.stdout
    assert set(statuses(cli.report(result))) == {"web-1", "web-2"}


def test_verbose_prints_the_exact_command(cli: Cli) -> None:
    result = cli("run", "hostname", "--pool", "ci", "-v", "--", "-e", "fleet_retry_delay=1")
    assert result.returncode == 0, result.stderr + result.stdout
    command = next(line for line in result.stderr.splitlines() if line.startswith("azlin-fleet: running: "))
    # The extra vars, the CLI's and those after '--', go by private files (-e @FILE), in that order.
    assert re.search(r" azlin\.fleet\.run -e @/\S+/extra-vars\.yml -e @/\S+/extra-vars-1\.yml$", command), command
    assert '"fleet_targets": !unsafe "pool_ci"' in extra_vars_line(result)
    assert '{"fleet_retry_delay": "1"}' in extra_vars_line(result, "extra-vars-1.yml")


def test_limit_passthrough_reaches_ansible_playbook(cli: Cli) -> None:
    result = cli("run", "hostname", "--all", "--", "--limit", "web-1")
    assert result.returncode == 0, result.stderr + result.stdout
    assert set(statuses(cli.report(result))) == {"web-1"}


def test_command_text_is_never_templated(cli: Cli) -> None:
    result = cli("run", "echo '{{ inventory_hostname }}'", "--pattern", "web-1", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert any("{{ inventory_hostname }}" in output["text"] for output in report["outputs"].values())


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_other_formats_print_only_that_report(cli: Cli, fmt: str) -> None:
    result = cli("run", "hostname", "--pool", "ci", "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert "ci-[1-2]" in result.stdout or "ci-1" in result.stdout
    assert ("<html" in result.stdout.lower()) == (fmt == "html")


def test_probe_table(cli: Cli, fleet: Any) -> None:
    fleet.set_load("web-2", cpu=80.0)
    result = cli("probe", "--pool", "web-servers", "--if-cpu-below", "50")
    assert result.returncode == 0, result.stderr + result.stdout
    rows = {line.split()[1]: line for line in result.stdout.splitlines()[1:] if len(line.split()) > 1}
    assert "gated" in rows["web-2"] and re.search(r"cpu (79\.\d|8\d(\.\d)?)% >= 50%", rows["web-2"])
    assert "selected" in rows["web-1"] and "selected" in rows["web-3"]


def test_report_show_and_merge(cli: Cli, tmp_path: Path) -> None:
    first = cli("run", "hostname", "--pool", "web-servers")
    second = cli("run", "hostname", "--pool", "ci")
    paths = [str(Path(cli.report_dir) / f"{cli.report(r)['name']}.json") for r in (first, second)]
    shown = cli("report", "show", paths[0], "--format", "json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["name"] == cli.report(first)["name"]
    merged = cli(
        "report", "merge", *paths, "--report-dir", str(tmp_path / "merged"), "--name", "both", "--format", "json"
    )
    assert merged.returncode == 0, merged.stderr
    assert set(statuses(json.loads(merged.stdout))) == set(WEB) | {"ci-1", "ci-2"}
    assert (tmp_path / "merged" / "both.html").is_file()


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["run", "--help"],
        ["workflow", "--help"],
        ["probe", "--help"],
        ["report", "--help"],
        ["report", "show", "--help"],
        ["report", "merge", "--help"],
        ["sandbox", "--help"],
        ["sandbox", "up", "--help"],
    ],
    ids=lambda argv: "-".join(argv[:-1]) or "top",
)
def test_help_of_each_subcommand(cli: Cli, argv: list[str]) -> None:
    result = cli(*argv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")
    if argv[0] in ("--help", "run", "workflow", "probe"):
        assert "exit codes:" in result.stdout and "4  the only failures are unreachable hosts" in result.stdout


def test_ctrl_c_still_prints_the_report_and_exits_130(cli: Cli, fleet: Any, marker: str) -> None:
    command = [
        AZLIN_FLEET,
        "run",
        f"touch {marker}; sleep 8; echo done",
        "--pool",
        "web-servers",
        "-i",
        str(cli.fleet.state_dir / "hosts.yml"),
        "--report-dir",
        str(cli.report_dir),
    ]
    # A new session, as a terminal's foreground job: Ctrl-C reaches the terminal's process group.
    child = subprocess.Popen(
        command, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    wait_for_marker(fleet, WEB, marker)  # the command runs on every host
    os.killpg(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "interrupted" in err
    report = json.loads(
        Path(out.strip().splitlines()[-1].removeprefix("report: ").split(" (also")[0]).with_suffix(".json").read_text()
    )
    assert report["complete"] is False
    assert set(statuses(report).values()) == {"interrupted"}


# --- cancel, report files, concurrency, hostile input (issue 12) ---------------------------------------------


def fleet_processes(fleet: Any) -> list[str]:
    """ansible-playbook and ssh processes working on this sandbox (found by its inventory / known_hosts path)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        text = b" ".join(argv).decode(errors="replace")
        program = Path(argv[0].decode(errors="replace")).name if argv and argv[0] else ""
        is_ours = str(fleet.state_dir) in text
        if state != "Z" and is_ours and (program == "ssh" or "ansible-playbook" in text):
            found.append(f"{proc.name}: {text[:200]}")
    return found


def start_cli(cli: Cli, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """azlin-fleet in the background, in a session of its own (so only the signals the test sends reach it)."""
    args = list(argv)
    cut = args.index("--") if "--" in args else len(args)
    options = ["-i", str(cli.fleet.state_dir / "hosts.yml"), "--report-dir", str(cli.report_dir)]
    command = [AZLIN_FLEET, *args[:cut], *options, *args[cut:]]
    return subprocess.Popen(
        command,
        env={**cli.env, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def report_of(out: str) -> dict[str, Any]:
    return json.loads(
        Path(out.strip().splitlines()[-1].removeprefix("report: ").split(" (also")[0]).with_suffix(".json").read_text()
    )


def wait_for_marker(fleet: Any, hosts: list[str], path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(fleet.host_path(name, path).exists() for name in hosts):
        assert time.monotonic() < deadline, f"the command never started on {hosts}"
        time.sleep(0.1)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["sigterm", "sigint"])
def test_a_signal_to_the_cli_pid_cancels_the_whole_run(
    cli: Cli, fleet: Any, marker: str, signum: int, code: int
) -> None:
    child = start_cli(cli, "run", f"touch {marker}; sleep 20; echo done", "--pool", "web-servers")
    wait_for_marker(fleet, WEB, marker)
    started = time.monotonic()
    os.kill(child.pid, signum)  # the CLI's pid only, as docker stop, CI cancellation and timeout(1) do
    out, err = child.communicate(timeout=120)
    assert child.returncode == code, err
    assert time.monotonic() - started < 15, "the cancel waited for the command to finish"
    assert fleet_processes(fleet) == []
    report = report_of(out)
    name = signal.Signals(signum).name
    assert report["interrupted"] == name
    if "run" in report:
        assert report["run"]["status"] == "interrupted"
    assert statuses(report) == {host: "interrupted" for host in WEB}
    assert f"interrupted by {name}" in err


def test_a_cancelled_rollout_reports_the_hosts_not_started(cli: Cli, fleet: Any, marker: str) -> None:
    # --parallel 2: web-1/web-2 are running the command when the signal comes, web-3 has not started.
    child = start_cli(cli, "run", f"touch {marker}; sleep 20", "--pool", "web-servers", "--parallel", "2")
    wait_for_marker(fleet, ["web-1", "web-2"], marker)
    os.kill(child.pid, signal.SIGTERM)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 143, err
    assert fleet_processes(fleet) == []
    assert statuses(report_of(out)) == {"web-1": "interrupted", "web-2": "interrupted", "web-3": "not_started"}


@pytest.mark.parametrize("fault", ["file", "under-a-file", "read-only", "others-writable"])
def test_report_dir_faults_exit_2_before_any_host_is_touched(
    cli: Cli, fleet: Any, marker: str, tmp_path: Path, fault: str
) -> None:
    target = tmp_path / "bad-reports"
    mounted = False
    if fault == "file":
        target.write_text("not a dir")
    elif fault == "under-a-file":
        (tmp_path / "plain").write_text("x")
        target = tmp_path / "plain" / "reports"
    elif fault == "read-only":
        target.mkdir(mode=0o700)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,mode=0700", "tmpfs", str(target)], check=True)
        mounted = True
    else:
        target.mkdir()
        target.chmod(0o777)
    try:
        result = cli("run", f"touch {marker}", "--pool", "web-servers", "--report-dir", str(target))
    finally:
        if mounted:
            subprocess.run(["umount", str(target)], check=True)
    assert result.returncode == 2, result.stderr + result.stdout
    assert result.stderr.startswith(f"azlin-fleet: report dir {str(target)!r} ")
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert marked_hosts(fleet, marker) == []


def test_planted_symlinks_in_the_report_dir_are_not_followed(cli: Cli, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: others may add entries (a sticky dir of the user's is accepted)
    victims = {}
    for planted in ("planted.json", "planted.md", "planted.html", "planted.ansible.log", ".planted.run.json"):
        victim = tmp_path / f"victim-{planted}"
        victim.write_text("precious\n")
        (shared / planted).symlink_to(victim)
        victims[planted] = victim
    env = {"AZLIN_FLEET_REPORT_NAME": "planted"}
    result = cli("run", "hostname", "--pool", "ci", "--report-dir", str(shared), env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    # A run that fails before any play keeps ansible's log beside the reports: not through the planted link either.
    bad = tmp_path / "bad.ini"
    bad.write_text("[web\nweb-1 ansible_host=\n")
    failed = subprocess.run(
        [AZLIN_FLEET, "run", "hostname", "--all", "-i", str(bad), "--report-dir", str(shared)],
        env={**cli.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode == 2, failed.stderr
    for planted, victim in victims.items():
        assert victim.read_text() == "precious\n", planted
    for fmt in ("json", "md", "html"):
        assert not (shared / f"planted.{fmt}").is_symlink()
        assert stat.S_IMODE((shared / f"planted.{fmt}").stat().st_mode) == 0o600
    assert json.loads((shared / "planted.json").read_text())["name"] == "planted"
    assert (shared / "planted.ansible.log").is_symlink()  # left as it was, never written through


def test_malformed_inventory_is_exit_2_naming_the_yaml_error(cli: Cli, fleet: Any, tmp_path: Path, marker: str) -> None:
    inventory = tmp_path / "hosts.yml"
    good = (fleet.state_dir / "hosts.yml").read_text()
    inventory.write_text(good.replace("  hosts:\n", "  hosts: [\n", 1))
    result = subprocess.run(
        [AZLIN_FLEET, "run", f"touch {marker}", "--all", "-i", str(inventory), "--report-dir", str(cli.report_dir)],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr + result.stdout
    assert result.stderr.startswith(f"azlin-fleet: inventory {str(inventory)!r} is not valid YAML: ")
    assert re.search(r"at line \d+, column \d+", result.stderr)
    assert marked_hosts(fleet, marker) == []


def test_an_inventory_ansible_cannot_parse_is_exit_2(cli: Cli, fleet: Any, tmp_path: Path, marker: str) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[web\nweb-1 ansible_host=\n")
    result = subprocess.run(
        [AZLIN_FLEET, "run", f"touch {marker}", "--all", "-i", str(inventory), "--report-dir", str(cli.report_dir)],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr + result.stdout
    assert "before any play started" in result.stderr and str(inventory) in result.stderr
    assert marked_hosts(fleet, marker) == []


def test_two_concurrent_runs_keep_their_reports_and_ssh_apart(cli: Cli) -> None:
    runs = [start_cli(cli, "run", "sleep 1; hostname", "--all", "--format", "json") for _ in range(2)]
    results = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in results]
    reports = [json.loads(out) for out, _ in results]
    assert reports[0]["name"] != reports[1]["name"]
    for (out, err), report in zip(results, reports, strict=True):
        assert set(statuses(report).values()) == {"ok"}
        assert "ControlSocket" not in out and "ControlSocket" not in err
        assert "disabling multiplexing" not in out
    saved = sorted(path.name for path in cli.report_dir.glob("fleet-*.json"))
    assert saved == sorted(f"{report['name']}.json" for report in reports)


def test_secrets_never_reach_ansible_playbooks_argv(cli: Cli, fleet: Any) -> None:
    secret, token = "hunter2-" + uuid.uuid4().hex[:6], "tok-" + uuid.uuid4().hex[:6]
    passthrough = ["--", "-e", json.dumps({"fleet_environment": {"API_TOKEN": token}})]
    child = start_cli(cli, "run", f"DB_PASSWORD={secret} sleep 4", "--pool", "ci", "-v", *passthrough)
    seen: list[bytes] = []
    deadline = time.monotonic() + 60
    while child.poll() is None and time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ansible-playbook" in cmdline and str(fleet.state_dir).encode() in cmdline:
                seen.append(cmdline)
        time.sleep(0.2)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert seen, "never saw ansible-playbook running"
    assert not [cmdline for cmdline in seen if secret.encode() in cmdline or token.encode() in cmdline]
    assert secret not in err and token not in err  # the -v echo is masked
    assert "DB_PASSWORD=********" in err and '"API_TOKEN": !unsafe "********"' in err
    listing = cli("report", "list", "--report-dir", str(cli.report_dir))
    assert "DB_PASSWORD=********" in listing.stdout and secret not in listing.stdout
    assert not [p for p in cli.report_dir.iterdir() if secret in p.read_text(errors="replace")]


def test_default_report_home_list_and_show_last(cli: Cli, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state)}
    first = cli("run", "hostname", "--pool", "web-servers", env=env, report_dir=False)
    second = cli("run", "uptime", "--pool", "ci", env=env, report_dir=False)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    home = state / "azlin-fleet" / "reports"
    for path in (state / "azlin-fleet", home):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    names = [report_of(result.stdout)["name"] for result in (first, second)]
    for name in names:
        for fmt in ("json", "md", "html"):
            assert stat.S_IMODE((home / f"{name}.{fmt}").stat().st_mode) == 0o600
    listing = cli("report", "list", env=env)
    assert listing.returncode == 0, listing.stderr
    rows = listing.stdout.splitlines()
    assert rows[0].split() == ["TIME", "COMMAND", "TARGETS", "STATUS", "HOSTS", "REPORT"]
    assert names[1] in rows[1] and "uptime" in rows[1] and "pool_ci" in rows[1] and "ok=2" in rows[1]
    assert names[0] in rows[2] and "hostname" in rows[2] and "pool_web_servers" in rows[2] and "ok=3" in rows[2]
    shown = cli("report", "show", "last", "--format", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["name"] == names[1]


def test_live_progress_on_a_terminal_survives_hostile_host_names(cli: Cli, fleet: Any, tmp_path: Path) -> None:
    """Under a pty the CLI draws its progress line; a host named with an escape sequence is shown, not obeyed."""
    import pty
    import select

    hostile = "evil\x1b]0;pwned\x07vm"
    web1 = next(host for host in fleet.hosts() if host.name == "web-1")
    text = (fleet.state_dir / "hosts.yml").read_text()
    text = text.replace("  hosts:\n", f"  hosts:\n    {json.dumps(hostile)}:\n      ansible_host: {web1.address}\n", 1)
    inventory = tmp_path / "hostile.yml"
    inventory.write_text(text)
    pid, fd = pty.fork()
    if pid == 0:  # the child: azlin-fleet on the pty
        argv = [AZLIN_FLEET, "run", "sleep 1; echo hi", "--pattern", "evil*", "-i", str(inventory),
                "--report-dir", str(cli.report_dir)]  # fmt: skip
        os.execve(AZLIN_FLEET, argv, {**cli.env, "COLUMNS": "200"})
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, seen.decode(errors="replace")
    assert b"\x1b]0;pwned" not in seen and b"\x07" not in seen
    assert rb"evil\x1b]0;pwned\x07vm" in seen  # the name, made visible
    assert b"hosts 1/1" in seen


def test_workflow_with_idle_gate_and_count_dry_run_touches_nothing(
    cli: Cli, fleet: Any, tmp_path: Path, marker: str
) -> None:
    fleet.set_load("web-2", cpu=80.0)  # not idle: gated
    for name in ("ci-1", "ci-2"):
        fleet.set_load(name, mem=60.0)  # idle, but more loaded (score 60) than web-1/web-3 (score 30)
    workflow = tmp_path / "deploy.yaml"
    workflow.write_text(
        f"name: deploy\nsteps:\n  - name: build\n    command: touch {marker}\n"
        f"  - name: test\n    command: touch {marker}\n    requires: [build]\n"
    )
    result = cli("workflow", str(workflow), "--tag", "env=dev", "--if-idle", "--count", "2", "--dry-run")
    assert result.returncode == 0, result.stderr + result.stdout
    assert marked_hosts(fleet, marker) == []
    plan = {host["host"]: host for host in cli.report(result)["plans"][-1]["hosts"]}
    assert plan["web-2"]["status"] == "gated"
    assert {name for name, host in plan.items() if host["status"] == "selected"} == {"web-1", "web-3"}
    assert {plan["ci-1"]["status"], plan["ci-2"]["status"]} == {"not_selected"}


def test_compare_to_last_and_fail_on_drift(cli: Cli, fleet: Any) -> None:
    for name in WEB:
        fleet.host_path(name, "/root/release").write_text("41\n")
    first = cli("run", "cat /root/release", "--pool", "web-servers")
    assert first.returncode == 0, first.stderr
    fleet.host_path("web-2", "/root/release").write_text("42\n")
    second = cli("run", "cat /root/release", "--pool", "web-servers", "--compare-to", "last", "--fail-on-drift")
    assert second.returncode == 6, second.stderr + second.stdout
    drift = cli.report(second)["drift"]
    assert json.dumps(drift).count("web-2") >= 1 and "web-1" not in json.dumps(drift)


@pytest.mark.parametrize("free_pages", [0, 1], ids=["full-before", "fills-up-during"])
def test_a_full_report_dir(cli: Cli, fleet: Any, marker: str, tmp_path: Path, free_pages: int) -> None:
    """Full before the run: exit 2, nothing ran. Room for one file only: the summary is still printed, the cause
    named, exit 5."""
    target = tmp_path / "small"
    target.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", str(target)], check=True)
    try:
        filler = target / "filler"
        with open(filler, "wb") as handle:
            try:
                handle.write(b"x" * (16384 - 4096 * free_pages))
                handle.flush()
            except OSError:
                pass
        result = cli("run", f"touch {marker}; hostname", "--pool", "ci", "--report-dir", str(target))
    finally:
        subprocess.run(["umount", str(target)], check=True)
    if free_pages == 0:
        assert result.returncode == 2, result.stderr + result.stdout
        assert result.stderr.startswith(f"azlin-fleet: report dir {str(target)!r} is not writable (No space left")
        assert marked_hosts(fleet, marker) == []
    else:
        assert result.returncode == 5, result.stderr + result.stdout
        assert "HOSTS 2: ok=2" in result.stdout  # the summary, printed anyway
        assert "could not be saved" in result.stderr and "No space left on device" in result.stderr
        assert re.search(r"only fleet-run-\S+\.json was saved", result.stderr), result.stderr
        assert marked_hosts(fleet, marker) == ["ci-1", "ci-2"]


def test_input_the_playbook_refuses_is_exit_2_and_nothing_runs(cli: Cli, fleet: Any, marker: str) -> None:
    # Passed through to ansible-playbook unchecked by the CLI: the playbook's own validation refuses it.
    result = cli("run", f"touch {marker}", "--pool", "web-servers", "--", "-e", "fleet_timeout=soon")
    assert result.returncode == 2, result.stderr + result.stdout
    assert "fleet_timeout" in result.stderr
    assert marked_hosts(fleet, marker) == []
