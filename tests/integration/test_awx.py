"""The collection driven the way AWX / Automation Controller drives it, through its engine, ansible-runner.

Each job gets a private data dir laid out as AWX lays it: ``env/extravars`` (survey answers tagged ``!unsafe``,
AWX's meta vars), ``env/ssh_key`` (the Machine credential; the inventory carries no key file), ``env/envvars``
(collections path and settings' extra environment variables), ``inventory/hosts`` (an executable printing the
inventory JSON, as AWX writes it; a slice gets hosts sorted by name, ``hosts[k-1::N]``) and ``project/`` (the
project's ansible.cfg and one-line playbooks). Jobs run through ``ansible_runner.run`` and through
``ansible-runner transmit | worker | process`` (what an execution node does over Receptor). AWX keeps the job
events and the ``set_stats`` artifacts (``artifact_data`` of the ``playbook_on_stats`` event); tests read those.
Reports go to Azurite (the Azure Storage emulator) with the real azure-storage-blob client.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import ansible_runner
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("FLEET_ANSIBLE_VENV", str(REPO / ".venv")))
VENV_BIN = (VENV_BIN if VENV_BIN.is_absolute() else REPO / VENV_BIN) / "bin"
AZURITE = REPO / ".build" / "node" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account (a well-known public key, not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ALL = ["ci-1", "ci-2", "stage-1", "stage-2", "stage-3", "web-1", "web-2", "web-3"]  # sorted by name, as AWX does

RUN_PLAYBOOK = """\
- ansible.builtin.import_playbook: azlin.fleet.run
"""
WORKFLOW_PLAYBOOK = """\
- ansible.builtin.import_playbook: azlin.fleet.workflow
"""
MERGE_PLAYBOOK = """\
- name: Merge the slice reports and upload them
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Merge the slice reports
      azlin.fleet.report_merge:
        reports: "{{ fleet_merge_reports }}"
        output_dir: "{{ fleet_merge_dir }}"
        name: "fleet-report-wf{{ awx_workflow_job_id }}-merged"
      register: fleet_merged
    - name: Upload the merged report
      azlin.fleet.report_upload:
        paths: "{{ fleet_merged.files }}"
        container: fleet-reports
        prefix: "wf{{ awx_workflow_job_id }}"
        create_container: true
      when: fleet_upload | default(false) | bool
      register: fleet_uploaded
    - name: Publish what was merged
      ansible.builtin.set_stats:
        data:
          fleet_merged:
            files: "{{ fleet_merged.files }}"
            hosts: "{{ fleet_merged.hosts }}"
            counts: "{{ fleet_merged.counts }}"
            hosts_by_status: "{{ fleet_merged.hosts_by_status }}"
          fleet_uploaded: "{{ fleet_uploaded.uploads | default([]) }}"
        aggregate: true
        per_host: false
"""
PROJECT_CFG = """\
# The project's ansible.cfg: AWX job templates have no environment field; this is where a project enables the
# report callback (AWX forces its own stdout callback; fleet_report is an aggregate one).
[defaults]
callbacks_enabled = azlin.fleet.fleet_report
forks = 16
host_key_checking = True
retry_files_enabled = False

[callback_fleet_report]
formats = json,md,html
"""


# --------------------------------------------------------------------------------------------------------------
# AWX's private data dir


def _unsafe_yaml(values: dict) -> str:
    """Extra vars as AWX writes env/extravars: survey answers (strings) tagged !unsafe."""
    lines = []
    for key, value in values.items():
        if isinstance(value, str):
            lines.append(f"{key}: !unsafe {json.dumps(value)}")
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _inventory_script(data: dict) -> str:
    return "#!/bin/sh\ncat <<'AWX_INVENTORY_EOF'\n" + json.dumps(data, indent=1) + "\nAWX_INVENTORY_EOF\n"


def sandbox_inventory(sandbox) -> dict:
    """The sandbox's hosts as AWX's inventory script gives them (--list JSON with _meta), minus the key file."""
    static = yaml.safe_load(sandbox.hosts_yml.read_text())
    hostvars: dict[str, dict] = {}
    groups: dict[str, list[str]] = {}

    def walk(name: str, node: dict) -> None:
        for host, values in (node.get("hosts") or {}).items():
            hostvars.setdefault(host, {}).update(values or {})
            if name != "all":
                groups.setdefault(name, []).append(host)
        for child, sub in (node.get("children") or {}).items():
            walk(child, sub or {})

    walk("all", static["all"])
    for values in hostvars.values():
        values.pop("ansible_ssh_private_key_file", None)  # the Machine credential (env/ssh_key) brings the key
    return {
        "_meta": {"hostvars": hostvars},
        "all": {"children": sorted(groups)},
        **{g: {"hosts": hosts} for g, hosts in groups.items()},
    }


def slice_inventory(data: dict, number: int, count: int) -> dict:
    """AWX's slice of an inventory: hosts sorted by name, slice k gets hosts[k-1::N]; groups keep their members."""
    hosts = sorted(data["_meta"]["hostvars"])[number - 1 :: count]
    keep = set(hosts)
    sliced = {
        "_meta": {"hostvars": {h: v for h, v in data["_meta"]["hostvars"].items() if h in keep}},
        "all": data["all"],
    }
    for group, body in data.items():
        if group not in ("_meta", "all"):
            sliced[group] = {"hosts": [h for h in body.get("hosts", []) if h in keep]}
    return sliced


def make_job_dir(
    root: Path,
    sandbox,
    *,
    job_id: int,
    survey: dict,
    inventory: dict,
    playbook: str = RUN_PLAYBOOK,
    workflow_job: tuple[int, str] | None = None,
    envvars: dict | None = None,
    template: str = "fleet run",
) -> Path:
    """A private data dir as AWX writes it for one job (or one slice of a sliced job)."""
    pdd = root / f"job-{job_id}"
    for sub in ("env", "inventory", "project"):
        (pdd / sub).mkdir(parents=True, exist_ok=True)
    meta = {}
    for prefix in ("awx", "tower"):
        meta |= {
            f"{prefix}_job_id": job_id,
            f"{prefix}_job_launch_type": "workflow" if workflow_job else "manual",
            f"{prefix}_job_template_id": 7,
            f"{prefix}_job_template_name": template,
            f"{prefix}_user_name": "admin",
            f"{prefix}_project_revision": "0123abcd",
        }
        if workflow_job:
            meta |= {f"{prefix}_workflow_job_id": workflow_job[0], f"{prefix}_workflow_job_name": workflow_job[1]}
    (pdd / "env" / "extravars").write_text(_unsafe_yaml(survey) + yaml.safe_dump(meta))
    key = (sandbox.state_dir / "id_ed25519").read_text()
    (pdd / "env" / "ssh_key").write_text(key)
    (pdd / "env" / "ssh_key").chmod(0o600)
    (pdd / "env" / "envvars").write_text(
        yaml.safe_dump(
            {
                "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".build" / "collections"),
                "ANSIBLE_FORCE_COLOR": "False",
                "REQUESTS_CA_BUNDLE": str(sandbox.ca_file),
                "AZLIN_FLEET_REPORT_DIR": str(pdd / "reports"),
                **(envvars or {}),
            }
        )
    )
    script = pdd / "inventory" / "hosts"
    script.write_text(_inventory_script(inventory))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (pdd / "project" / "ansible.cfg").write_text(PROJECT_CFG)
    (pdd / "project" / "fleet.yml").write_text(playbook)
    return pdd


@pytest.fixture
def runner_env(monkeypatch: pytest.MonkeyPatch, sandbox) -> None:
    """The process environment of an AWX job: no developer ansible.cfg, no stray Ansible or Azure settings."""
    for name in list(os.environ):
        if name.startswith(("ANSIBLE_", "AZURE_", "AZLIN_FLEET_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def run_job(pdd: Path, ident: str = "1") -> ansible_runner.Runner:
    return ansible_runner.run(private_data_dir=str(pdd), playbook="fleet.yml", ident=ident, quiet=True, timeout=600)


def artifacts_of(events: list[dict]) -> dict:
    """The job artifacts AWX keeps: artifact_data of the playbook_on_stats event."""
    stats = [e for e in events if e.get("event") == "playbook_on_stats"]
    assert stats, [e.get("event") for e in events][-10:]
    return stats[-1]["event_data"].get("artifact_data") or {}


def host_events(events: list[dict], task_prefix: str = "") -> dict[str, list[str]]:
    """Host -> event names of its runner_on_* events (for tasks whose name starts with task_prefix)."""
    found: dict[str, list[str]] = {}
    for event in events:
        data = event.get("event_data", {})
        if (
            event.get("event", "").startswith("runner_on_")
            and data.get("host")
            and str(data.get("task", "")).startswith(task_prefix)
        ):
            found.setdefault(data["host"], []).append(event["event"])
    return found


def reset_markers(fleet, path: str = "/tmp/awx_marker") -> None:
    for host in ALL:
        fleet.host_path(host, path).unlink(missing_ok=True)
        fleet.host_path(host, "/tmp/awx_attempt").unlink(missing_ok=True)


def marked(fleet, path: str = "/tmp/awx_marker") -> list[str]:
    return [h for h in ALL if fleet.host_path(h, path).exists()]


# --------------------------------------------------------------------------------------------------------------
# One job through ansible_runner.run


GATED_RETRY_SURVEY = {
    # Fails on the first attempt on every host, succeeds on the retry.
    "fleet_command": "test -e /tmp/awx_attempt || { touch /tmp/awx_attempt; exit 3; }; touch /tmp/awx_marker",
    "fleet_targets": "pool_web_servers",
    "fleet_gate": "cpu<50",
    "fleet_retries": 2,
    "fleet_retry_delay": 0.5,
    "fleet_probe_interval": 0.3,
}


@pytest.fixture
def gated_job(fleet, runner_env, tmp_path) -> tuple[ansible_runner.Runner, Path]:
    reset_markers(fleet)
    fleet.set_load("web-2", cpu=90)
    report_dir = tmp_path / "reports"
    pdd = make_job_dir(
        tmp_path,
        fleet,
        job_id=42,
        survey=GATED_RETRY_SURVEY,
        inventory=sandbox_inventory(fleet),
        envvars={"AZLIN_FLEET_REPORT_DIR": str(report_dir)},
    )
    return run_job(pdd), report_dir


def test_job_with_gates_and_retries_runs_through_ansible_runner(fleet, gated_job) -> None:
    runner, report_dir = gated_job
    events = list(runner.events)
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    assert marked(fleet) == ["web-1", "web-3"]  # web-2 gated (cpu 90%), nothing ran there
    # One event stream per host, as AWX's job events show: both runs and the probe of the gated host.
    per_host = host_events(events)
    assert {"web-1", "web-2", "web-3"} <= set(per_host)
    assert "runner_on_ok" in per_host["web-1"] and "runner_on_ok" in per_host["web-3"]
    # The report written on the node, retries counted.
    reports = sorted(report_dir.glob("*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    attempts = {r["host"]: r.get("attempts") for t in report["tasks"] for r in t["results"] if r.get("step") == "run"}
    assert attempts == {"web-1": 2, "web-3": 2}
    # The artifacts are there, small, and name the job.
    artifacts = artifacts_of(events)["fleet_artifacts"]
    assert artifacts["job"] == {"job_id": "42", "workflow_job_id": None, "slice": None, "slice_count": None}
    assert artifacts["report"]["dir"] == str(report_dir)
    assert len(json.dumps(artifacts)) < 2048


def test_job_artifacts_count_hosts_and_gated_hosts_are_skipped(fleet, gated_job) -> None:
    runner, _ = gated_job
    events = list(runner.events)
    artifacts = artifacts_of(events)["fleet_artifacts"]
    assert artifacts["status"] == "successful"
    assert artifacts["counts"] == {"gated": 1, "ok": 2} or artifacts["counts"] == {"gated": 1, "changed": 2}
    assert artifacts["hosts"] == 3
    # The job's host summary: the gated host's outcome (its last event, from the judge) is skipped, not ok.
    stats = [e for e in events if e.get("event") == "playbook_on_stats"][-1]["event_data"]
    assert stats["skipped"].get("web-2", 0) >= 1 and "web-2" not in stats.get("failures", {})
    assert host_events(events)["web-2"][-1] == "runner_on_skipped"
    assert host_events(events)["web-1"][-1] == "runner_on_ok"


def test_report_is_named_after_the_awx_job(fleet, gated_job) -> None:
    runner, report_dir = gated_job
    artifacts = artifacts_of(list(runner.events))["fleet_artifacts"]
    assert artifacts["report"]["name"] == "fleet-report-job42"
    assert (report_dir / "fleet-report-job42.json").exists(), sorted(p.name for p in report_dir.iterdir())


# --------------------------------------------------------------------------------------------------------------
# A failing rollout, through an execution node: ansible-runner transmit | worker | process


def transmit_worker_process(pdd: Path, work: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, Path]:
    """Run a job the way AWX's control node and an execution node do, over pipes instead of Receptor."""
    worker_dir = work / "worker"
    worker_dir.mkdir()
    runner_bin = str(VENV_BIN / "ansible-runner")
    errors = work / "worker.stderr"
    with errors.open("wb") as worker_err:
        transmit = subprocess.Popen(
            [runner_bin, "transmit", str(pdd), "-p", "fleet.yml", "--ident", "1"], stdout=subprocess.PIPE, env=env
        )
        worker = subprocess.Popen(
            [runner_bin, "worker", "--private-data-dir", str(worker_dir)],
            stdin=transmit.stdout,
            stdout=subprocess.PIPE,
            stderr=worker_err,
            env=env,
        )
        transmit.stdout.close()
        process = subprocess.run(
            [runner_bin, "process", str(pdd), "--ident", "1"],
            stdin=worker.stdout,
            capture_output=True,
            env=env,
            timeout=600,
            check=False,
        )
        worker.stdout.close()
        codes = (transmit.wait(timeout=60), worker.wait(timeout=60))
    # The worker exits with the job's rc (ansible-playbook's), which also comes back in artifacts/<ident>/rc.
    assert codes[0] == 0, errors.read_text()
    assert process.returncode == 0, process.stderr
    artifact_dir = pdd / "artifacts" / "1"
    assert int((artifact_dir / "rc").read_text()) == codes[1], errors.read_text()
    return process, artifact_dir


def runner_events(artifact_dir: Path) -> list[dict]:
    return [
        json.loads(p.read_text())
        for p in sorted((artifact_dir / "job_events").glob("*.json"), key=lambda p: int(p.name.split("-", 1)[0]))
    ]


@pytest.fixture
def rollout_job(fleet, runner_env, tmp_path) -> tuple[subprocess.CompletedProcess, Path, Path]:
    reset_markers(fleet)
    fleet.host_path("stage-2", "/tmp/awx_unhealthy").write_text("sick\n")
    survey = {
        "fleet_command": "touch /tmp/awx_marker",
        "fleet_targets": "pool_staging",
        "fleet_sequence": 1,
        "fleet_health_cmd": "test ! -e /tmp/awx_unhealthy",
        "fleet_health_timeout": 1,
        "fleet_health_interval": 0.3,
        "fleet_count": None,  # blank survey answers arrive as null (AWX 24)
        "fleet_gate": None,
    }
    report_dir = tmp_path / "reports"
    pdd = make_job_dir(
        tmp_path,
        fleet,
        job_id=51,
        survey=survey,
        inventory=sandbox_inventory(fleet),
        envvars={"AZLIN_FLEET_REPORT_DIR": str(report_dir)},
    )
    try:
        proc, artifact_dir = transmit_worker_process(pdd, tmp_path, dict(os.environ))
    finally:
        fleet.host_path("stage-2", "/tmp/awx_unhealthy").unlink(missing_ok=True)
    return proc, artifact_dir, report_dir


def test_failing_rollout_through_an_execution_node(fleet, rollout_job) -> None:
    _, artifact_dir, _ = rollout_job
    assert (artifact_dir / "status").read_text() == "failed"
    assert int((artifact_dir / "rc").read_text()) != 0
    assert marked(fleet) == ["stage-1", "stage-2"]  # stage-3 never started
    per_host = host_events(runner_events(artifact_dir))
    assert "runner_on_failed" in per_host["stage-2"]


def test_failing_rollout_artifacts_name_failed_and_not_started_hosts(fleet, rollout_job) -> None:
    _, artifact_dir, _ = rollout_job
    artifacts = artifacts_of(runner_events(artifact_dir))["fleet_artifacts"]
    assert (artifacts["status"], artifacts["exit_code"]) == ("failed", 1)
    assert (artifacts["failed"], artifacts["not_started"]) == ("stage-2", "stage-3")
    assert artifacts["counts"]["not_started"] == 1


def test_run_where_every_host_fails_still_publishes_artifacts(fleet, runner_env, tmp_path) -> None:
    pdd = make_job_dir(
        tmp_path,
        fleet,
        job_id=52,
        inventory=sandbox_inventory(fleet),
        survey={"fleet_command": "exit 7", "fleet_targets": "pool_web_servers"},
    )
    runner = run_job(pdd)
    assert runner.status == "failed"
    artifacts = artifacts_of(list(runner.events))["fleet_artifacts"]
    assert (artifacts["status"], artifacts["failed"], artifacts["counts"]) == ("failed", "web-[1-3]", {"failed": 3})


BLANK_ANSWERS = [
    "fleet_sequence",
    "fleet_parallel",
    "fleet_gate",
    "fleet_count",
    "fleet_max_failures",
    "fleet_retries",
    "fleet_timeout",
    "fleet_dry_run",
    "fleet_become",
    "fleet_environment",
    "fleet_retry_delay",
    "fleet_smart_route",
    "fleet_slice",
    "fleet_slice_ok_when_empty",
]


@pytest.mark.parametrize("variable", [v for v in BLANK_ANSWERS])
def test_blank_survey_answer_arrives_as_null_and_means_not_set(fleet, runner_env, tmp_path, variable: str) -> None:
    reset_markers(fleet)
    pdd = make_job_dir(
        tmp_path,
        fleet,
        job_id=53,
        inventory=sandbox_inventory(fleet),
        survey={"fleet_command": "touch /tmp/awx_marker", "fleet_targets": "web-1", variable: None},
    )
    runner = run_job(pdd)
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    assert marked(fleet) == ["web-1"]


# --------------------------------------------------------------------------------------------------------------
# Inline workflow from a survey: a mapping (JSON extra var) and YAML text (a textarea answer)

WORKFLOW = {
    "name": "survey-workflow",
    "steps": [
        {"name": "first", "command": "echo one > /tmp/awx_marker"},
        {"name": "second", "command": "echo two >> /tmp/awx_marker", "requires": ["first"]},
    ],
}


@pytest.mark.parametrize(
    "form",
    [
        pytest.param("mapping", id="mapping"),
        pytest.param("yaml-text", id="yaml-text"),
    ],
)
def test_inline_workflow_from_a_survey(fleet, runner_env, tmp_path, form: str) -> None:
    reset_markers(fleet)
    workflow = WORKFLOW if form == "mapping" else yaml.safe_dump(WORKFLOW, sort_keys=False)
    pdd = make_job_dir(
        tmp_path,
        fleet,
        job_id=61,
        playbook=WORKFLOW_PLAYBOOK,
        inventory=sandbox_inventory(fleet),
        survey={"fleet_targets": "web-1:web-3"},
        envvars={"AZLIN_FLEET_REPORT_DIR": str(tmp_path / "reports")},
    )
    extravars = pdd / "env" / "extravars"
    if form == "mapping":
        extravars.write_text(extravars.read_text() + yaml.safe_dump({"fleet_workflow": workflow}))
    else:
        extravars.write_text(extravars.read_text() + f"fleet_workflow: !unsafe {json.dumps(workflow)}\n")
    runner = run_job(pdd)
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    assert marked(fleet) == ["web-1", "web-3"]
    assert fleet.host_path("web-1", "/tmp/awx_marker").read_text() == "one\ntwo\n"


# --------------------------------------------------------------------------------------------------------------
# Three concurrent slices, split like AWX, then merged by a last workflow node

SLICE_SURVEY = {
    "fleet_command": "echo same everywhere; touch /tmp/awx_marker",
    # Sorted by name, hosts[k-1::3]: slice 1 = ci-1, stage-2, web-2; slice 2 = ci-2, stage-3, web-3;
    # slice 3 = stage-1, web-1. Slice 3 holds no target; slice 2's targets are both gated.
    "fleet_targets": "ci-*:web-2:web-3",
    "fleet_gate": "cpu<50",
    "fleet_probe_interval": 0.3,
}


@pytest.fixture
def sliced_job(fleet, runner_env, tmp_path) -> tuple[list[ansible_runner.Runner], list[Path], Path]:
    """Three slices started together; each writes its report to its own job dir, and to one shared dir."""
    reset_markers(fleet)
    fleet.set_load("ci-2", cpu=90)
    fleet.set_load("web-3", cpu=95)
    inventory = sandbox_inventory(fleet)
    shared = tmp_path / "shared-reports"  # one directory for every slice, as on shared storage
    runs, own_dirs = [], []
    for number in (1, 2, 3):
        pdd = make_job_dir(
            tmp_path,
            fleet,
            job_id=100 + number,
            survey=SLICE_SURVEY,
            inventory=slice_inventory(inventory, number, 3),
            workflow_job=(100, "fleet run"),
            envvars={"AZLIN_FLEET_REPORT_DIR": str(pdd_reports := tmp_path / f"slice-{number}")},
        )
        own_dirs.append(pdd_reports)
        runs.append(
            ansible_runner.run_async(
                private_data_dir=str(pdd), playbook="fleet.yml", ident="1", quiet=True, timeout=600
            )
        )
    for thread, _ in runs:
        thread.join(timeout=600)
    for directory in own_dirs:
        shared.mkdir(exist_ok=True)
        for path in directory.glob("*"):
            # What a shared directory would hold: a later slice's file replaces an earlier one of the same name.
            shutil.copyfile(path, shared / path.name)
    return [runner for _, runner in runs], own_dirs, shared


def test_slices_split_like_awx_run_concurrently_and_merge(fleet, runner_env, sliced_job, tmp_path) -> None:
    runners, own_dirs, _ = sliced_job
    assert runners[0].status == "successful", runners[0].stdout.read()[-3000:]
    assert marked(fleet) == ["ci-1", "web-2"]  # only slice 1 has ungated targets
    reports = [next(d.glob("*.json")) for d in own_dirs]
    slice_hosts = [{h["host"] for h in json.loads(p.read_text())["hosts"]} - {"localhost"} for p in reports]
    assert slice_hosts == [{"ci-1", "web-2"}, {"ci-2", "web-3"}, set()]
    merge_dir = tmp_path / "merged"
    pdd = make_job_dir(
        tmp_path,
        fleet,
        job_id=104,
        playbook=MERGE_PLAYBOOK,
        workflow_job=(100, "fleet run"),
        inventory={"_meta": {"hostvars": {}}, "all": {"children": []}},
        survey={"fleet_merge_reports": [str(p) for p in reports], "fleet_merge_dir": str(merge_dir)},
    )
    merge = run_job(pdd)
    assert merge.status == "successful", merge.stdout.read()[-3000:]
    merged = json.loads((merge_dir / "fleet-report-wf100-merged.json").read_text())
    statuses = {h["host"]: h["status"] for h in merged["hosts"] if h["host"] != "localhost"}
    assert statuses == {"ci-1": "ok", "web-2": "ok", "ci-2": "gated", "web-3": "gated"}
    assert [s["name"] for s in merged["sources"]] == [json.loads(p.read_text())["name"] for p in reports]
    artifacts = artifacts_of(list(merge.events))["fleet_merged"]
    assert artifacts["files"] == [str(merge_dir / f"fleet-report-wf100-merged.{f}") for f in ("json", "md", "html")]
    # Across slices, hosts fold by status (localhost only plans; its status is the pipeline's business).
    by_status = {k: set(v.split(",")) - {"localhost"} for k, v in artifacts["hosts_by_status"].items()}
    assert (by_status["ok"], by_status["gated"]) == ({"ci-1", "web-2"}, {"ci-2", "web-3"})


def test_concurrent_slices_write_distinct_reports(sliced_job) -> None:
    _, _, shared = sliced_job
    names = sorted(p.name for p in shared.glob("*.json"))
    assert names == [
        "fleet-report-wf100-job101.json",
        "fleet-report-wf100-job102.json",
        "fleet-report-wf100-job103.json",
    ]


def test_slice_without_target_or_with_every_host_gated_succeeds_as_a_no_op(sliced_job) -> None:
    runners, _dirs, _shared = sliced_job
    assert [r.status for r in runners] == ["successful", "successful", "successful"]
    gated = artifacts_of(list(runners[1].events))["fleet_artifacts"]
    empty = artifacts_of(list(runners[2].events))["fleet_artifacts"]
    assert gated["status"] == "empty_slice" and "gated" in gated["reason"]
    assert empty["status"] == "empty_slice" and "no host matched" in empty["reason"]


# --------------------------------------------------------------------------------------------------------------
# The inventory update as AWX runs it, its output fed back as the job's inventory


def inventory_update(project: Path, source: dict, env: dict[str, str]) -> dict:
    """``ansible-inventory --list --export`` on an inventory source file, as AWX's inventory update runs it."""
    (project / "azure.azure_pools.yml").write_text(yaml.safe_dump(source))
    output = project / "inventory.json"
    update = subprocess.run(
        [
            str(VENV_BIN / "ansible-inventory"),
            "-i",
            str(project / "azure.azure_pools.yml"),
            "--list",
            "--export",
            "--playbook-dir",
            str(project),
            "--output",
            str(output),
        ],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert update.returncode == 0, update.stderr
    return json.loads(output.read_text())


def plain(value):
    """Inventory JSON without ansible-inventory's ``{"__ansible_unsafe": ...}`` wrappers (for assertions only)."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def test_inventory_update_with_awx_environment_feeds_a_job(fleet, runner_env, tmp_path) -> None:
    endpoint = json.loads((fleet.state_dir / "azure" / "endpoint.json").read_text())
    source = yaml.safe_load((fleet.state_dir / "azure" / "fleet.azure_pools.yml").read_text())
    # AWX's Azure credential brings the service principal and ONE subscription through the environment.
    for key in ("client_id", "client_secret", "tenant_id", "subscriptions", "auth_source"):
        source.pop(key, None)
    source["compose"].pop("ansible_ssh_private_key_file", None)  # the Machine credential brings the key
    project = tmp_path / "inventory-project"
    project.mkdir()
    awx_env = dict(os.environ) | {
        "AZURE_CLIENT_ID": endpoint["client_id"],
        "AZURE_SECRET": endpoint["client_secret"],
        "AZURE_TENANT": endpoint["tenant_id"],
        "AZURE_SUBSCRIPTION_ID": endpoint["subscriptions"][0],
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".build" / "collections"),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_INVENTORY_EXPORT": "True",
        "REQUESTS_CA_BUNDLE": endpoint["ca_bundle"],
    }
    one = plain(inventory_update(project, source, awx_env))
    assert {v["azure_subscription_id"] for v in one["_meta"]["hostvars"].values()} == {endpoint["subscriptions"][0]}
    # Every subscription: name them in the source's variables; they win over AZURE_SUBSCRIPTION_ID.
    data = inventory_update(project, source | {"subscriptions": endpoint["subscriptions"]}, awx_env)
    assert set(data["_meta"]["hostvars"]) == set(ALL)
    assert set(one["_meta"]["hostvars"]) < set(ALL)
    assert sorted(data["pool_web_servers"]["hosts"]) == ["web-1", "web-2", "web-3"]
    # Azure values stay marked unsafe in the export, and so in the job's inventory fed from it.
    assert data["_meta"]["hostvars"]["web-1"]["azure_name"] == {"__ansible_unsafe": "web-1"}
    reset_markers(fleet)
    pdd = make_job_dir(
        tmp_path,
        fleet,
        job_id=71,
        inventory=data,
        survey={"fleet_command": "touch /tmp/awx_marker", "fleet_targets": "pool_web_servers"},
    )
    runner = run_job(pdd)
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    assert marked(fleet) == ["web-1", "web-2", "web-3"]


# --------------------------------------------------------------------------------------------------------------
# Reports that outlive the job: upload to Azurite, download compared byte for byte


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if not AZURITE.exists():
        pytest.fail(f"{AZURITE} is missing: run scripts/bootstrap.sh (it installs Azurite from npm)")
    port = _free_port()
    location = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(location),
            "--silent",
            "--skipApiVersionCheck",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Azurite did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
                time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
        yield {
            "url": url,
            "connection_string": f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={url};",
            "port": str(port),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def download(azurite: dict, container: str, blob: str) -> bytes:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite["connection_string"])
    return service.get_blob_client(container, blob).download_blob().readall()


UPLOAD_PLAYBOOK = """\
- name: Upload the report of an earlier job
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Upload it
      azlin.fleet.report_upload:
        report_dir: "{{ fleet_upload_dir }}"
        report_name: "{{ fleet_upload_name }}"
        container: "{{ fleet_upload_container }}"
        prefix: "{{ fleet_upload_prefix }}"
        create_container: "{{ fleet_upload_create | default(true) }}"
      register: fleet_uploaded
    - name: Publish the upload outcome
      ansible.builtin.set_stats:
        data:
          fleet_uploaded: "{{ fleet_uploaded }}"
        per_host: false
"""


@pytest.fixture
def written_report(fleet, runner_env, tmp_path) -> tuple[Path, str]:
    """A report written by a real job (ansible_runner), with a name the upload job is told."""
    reset_markers(fleet)
    report_dir = tmp_path / "reports"
    pdd = make_job_dir(
        tmp_path,
        fleet,
        job_id=81,
        inventory=sandbox_inventory(fleet),
        survey={"fleet_command": "uname -n; printf 'caf\\xc3\\xa9 \\x01\\n'", "fleet_targets": "web-*"},
        envvars={"AZLIN_FLEET_REPORT_DIR": str(report_dir), "AZLIN_FLEET_REPORT_NAME": "upload-me"},
    )
    runner = run_job(pdd)
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    assert sorted(p.name for p in report_dir.iterdir()) == ["upload-me.html", "upload-me.json", "upload-me.md"]
    return report_dir, "upload-me"


@pytest.mark.parametrize("credential", ["connection_string", "sas"])
def test_report_upload_to_azurite_round_trips_byte_for_byte(
    fleet, azurite, written_report, tmp_path, credential: str
) -> None:
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    report_dir, name = written_report
    container = f"reports-{credential.replace('_', '-')}"
    if credential == "connection_string":
        envvars = {"AZURE_STORAGE_CONNECTION_STRING": azurite["connection_string"]}
    else:
        # A SAS that may write to an existing container (the container is created by the storage admin).
        BlobServiceClient.from_connection_string(azurite["connection_string"]).create_container(container)
        sas = generate_container_sas(
            AZURITE_ACCOUNT,
            container,
            account_key=AZURITE_KEY,
            permission=ContainerSasPermissions(read=True, write=True, create=True),
            expiry=datetime.now(UTC) + timedelta(hours=1),
        )
        envvars = {"AZLIN_FLEET_UPLOAD_ACCOUNT_URL": azurite["url"], "AZURE_STORAGE_SAS_TOKEN": sas}
    pdd = make_job_dir(
        tmp_path,
        fleet,
        job_id=82,
        playbook=UPLOAD_PLAYBOOK,
        envvars=envvars,
        inventory={"_meta": {"hostvars": {}}, "all": {"children": []}},
        survey={
            "fleet_upload_dir": str(report_dir),
            "fleet_upload_name": name,
            "fleet_upload_container": container,
            "fleet_upload_prefix": "wf80",
            "fleet_upload_create": credential == "connection_string",
        },
    )
    runner = run_job(pdd)
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    uploaded = artifacts_of(list(runner.events))["fleet_uploaded"]
    assert (uploaded["uploaded"], uploaded["not_uploaded"]) == (3, 0)
    for fmt in ("json", "md", "html"):
        assert download(azurite, container, f"wf80/{name}.{fmt}") == (report_dir / f"{name}.{fmt}").read_bytes()
    assert all("sig=" not in (u["url"] or "") for u in uploaded["uploads"])  # no SAS in what AWX keeps
    assert uploaded["destination"] == f"{azurite['url']}/{container}/wf80"


def test_failed_upload_is_a_warning_and_keeps_the_report(fleet, azurite, written_report, tmp_path) -> None:
    report_dir, name = written_report
    before = {p.name: p.read_bytes() for p in report_dir.iterdir()}
    dead = f"http://127.0.0.1:{_free_port()}/{AZURITE_ACCOUNT}"  # nothing listens there
    pdd = make_job_dir(
        tmp_path,
        fleet,
        job_id=83,
        playbook=UPLOAD_PLAYBOOK,
        envvars={"AZURE_STORAGE_CONNECTION_STRING": azurite["connection_string"].replace(azurite["url"], dead)},
        inventory={"_meta": {"hostvars": {}}, "all": {"children": []}},
        survey={
            "fleet_upload_dir": str(report_dir),
            "fleet_upload_name": name,
            "fleet_upload_container": "reports-dead",
            "fleet_upload_prefix": "x",
        },
    )
    runner = run_job(pdd)
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    uploaded = artifacts_of(list(runner.events))["fleet_uploaded"]
    assert (uploaded["uploaded"], uploaded["not_uploaded"]) == (0, 3)
    error = uploaded["uploads"][0]["error"]
    assert "container 'reports-dead'" in error and "ServiceRequestError" in error and "kept" in error
    warnings = [w for e in runner.events for w in e.get("event_data", {}).get("res", {}).get("warnings", []) or []]
    stdout = runner.stdout.read()
    assert "reports-dead" in stdout or any("reports-dead" in w for w in warnings)
    assert {p.name: p.read_bytes() for p in report_dir.iterdir()} == before
