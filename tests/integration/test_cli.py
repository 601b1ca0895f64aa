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
        self, *argv: str, inventory: str | None = "static", env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        args = list(argv)
        if args and args[0] in ("run", "workflow", "probe"):
            options = ["--report-dir", str(self.report_dir)]
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
    assert any(re.search(r"cpu 8\d(\.\d)?% >= 50%", reason) for reason in reasons), reasons


def test_glued_and_spaced_gate_flags_are_the_same(cli: Cli) -> None:
    glued = cli("run", "hostname", "--pool", "ci", "--if-cpu-below-50", "--dry-run", "-v")
    spaced = cli("run", "hostname", "--pool", "ci", "--if-cpu-below", "50", "--dry-run", "-v")
    assert glued.returncode == spaced.returncode == 0
    assert '"fleet_gate": !unsafe "cpu<50"' in glued.stderr
    assert '"fleet_gate": !unsafe "cpu<50"' in spaced.stderr


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
    result = cli("run", "hostname; test $(hostname) != web-2", "--pool", "web-servers")
    assert result.returncode == 1, result.stderr + result.stdout
    assert statuses(cli.report(result)) == {"web-1": "ok", "web-2": "failed", "web-3": "ok"}
    assert "+web-2" in result.stdout or "-web-2" in result.stdout  # web-2 shown as a diff against the baseline


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
    assert " azlin.fleet.run -e " in command and command.endswith(" -e fleet_retry_delay=1")
    assert '"fleet_targets": !unsafe "pool_ci"' in command


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


def test_ctrl_c_still_prints_the_report_and_exits_130(cli: Cli) -> None:
    command = [
        AZLIN_FLEET,
        "run",
        "sleep 8; echo done",
        "--pool",
        "web-servers",
        "-i",
        str(cli.fleet.state_dir / "hosts.yml"),
        "--report-dir",
        str(cli.report_dir),
    ]
    # A new session, as a terminal's foreground job: Ctrl-C reaches azlin-fleet and ansible-playbook alike.
    child = subprocess.Popen(
        command, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    time.sleep(4)
    os.killpg(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "interrupted" in err
    report = json.loads(
        Path(out.strip().splitlines()[-1].removeprefix("report: ").split(" (also")[0]).with_suffix(".json").read_text()
    )
    assert report["complete"] is False
    assert set(statuses(report).values()) == {"interrupted"}
