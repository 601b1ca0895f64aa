"""Integration fixtures: the sandbox fleet (real sshd hosts + local Azure endpoint) and real Ansible runs.

Every test under tests/integration is marked ``integration``. The session sandbox lives in
``<repo>/.sandbox-test`` (prefix ``azt``, 10.213.1.0/24), apart from a user's ``make demo`` sandbox
(``.sandbox``, prefix ``azf``); a lock file serialises concurrent test sessions on one machine.

Environment: ``FLEET_ANSIBLE_VENV`` (venv of the ansible-core under test, default ``.venv``);
``FLEET_TEST_SANDBOX`` = ``PREFIX:NET`` (e.g. ``az1:11``) gives the test sandbox another identity, so test
sessions of two checkouts can run at once;
``FLEET_SANDBOX_AZURE=0`` starts the sandbox without the Azure endpoint (while it is being developed).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azlin_fleet_sandbox import Sandbox

REPO = Path(__file__).resolve().parents[2]
TEST_STATE_DIR = REPO / ".sandbox-test"
TEST_HOSTS = 8
LOCK_TIMEOUT = 900


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


def sandbox_remains(state_dir: Path, prefix: str) -> list[str]:
    """What of a sandbox is still on the machine, found without the sandbox code: sshd and driver processes,
    network namespaces, links, mounts in any mount namespace."""
    found = []
    sshd_marker = f"/run/azlin-fleet/{prefix}-"
    driver_marker = f"azlin_fleet_sandbox.driver {state_dir}"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
            mountinfo = (proc / "mountinfo").read_text()
        except OSError:
            continue
        if state != "Z" and (sshd_marker in cmd or cmd.strip().endswith(driver_marker)):
            found.append(f"process {proc.name}: {cmd.strip()}")
        for line in mountinfo.splitlines():
            if f"{state_dir}/" in line or sshd_marker in line:
                found.append(f"mount in pid {proc.name}: {line.split()[4]}")
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()
    found += [f"netns {ns}" for ns in netns if ns.startswith(f"{prefix}-")]
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout)
    found += [f"link {link['ifname']}" for link in links if re.fullmatch(rf"{prefix}(br0|h\d+)", link["ifname"])]
    return found


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The session's sandbox: 8 hosts (+ the Azure endpoint); torn down and checked for leftovers at the end."""
    lock_path = TEST_STATE_DIR.with_name(".sandbox-test.lock")
    with open(lock_path, "a+") as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"Another test session holds {lock_path} for more than {LOCK_TIMEOUT} s")
                time.sleep(0.5)
        prefix, net = os.environ.get("FLEET_TEST_SANDBOX", "azt:1").split(":")
        box = Sandbox(TEST_STATE_DIR, prefix=prefix, net=int(net))
        box.down()  # whatever a crashed session left behind
        box.up(hosts=TEST_HOSTS, azure=os.environ.get("FLEET_SANDBOX_AZURE", "1") != "0")
        try:
            yield box
        finally:
            box.down()
            remains = sandbox_remains(box.state_dir, box.prefix)
            assert remains == [], f"the sandbox left: {remains}"


@pytest.fixture(name="sandbox_remains", scope="session")
def sandbox_remains_fixture() -> Callable[[Path, str], list[str]]:
    """The leftover check above, for tests that start a sandbox of their own."""
    return sandbox_remains


@pytest.fixture
def fleet(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The session sandbox with every host back to normal before and after the test."""
    sandbox.reset()
    yield sandbox
    sandbox.reset()


@pytest.fixture(scope="session")
def ansible_bin() -> Path:
    """bin/ of the ansible-core under test (``FLEET_ANSIBLE_VENV``, default ``.venv``)."""
    venv = Path(os.environ.get("FLEET_ANSIBLE_VENV", ".venv"))
    bin_dir = (venv if venv.is_absolute() else REPO / venv) / "bin"
    if not (bin_dir / "ansible-playbook").exists():
        pytest.fail(f"No ansible-playbook in {bin_dir}: run scripts/bootstrap.sh or fix FLEET_ANSIBLE_VENV")
    return bin_dir


@pytest.fixture(scope="session")
def ansible_env(sandbox: Sandbox, ansible_bin: Path) -> dict[str, str]:
    """Environment for Ansible subprocesses: the working-tree collection, the sandbox CA, host-key checking on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "AZURE_"))}
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "PATH": f"{ansible_bin}{os.pathsep}{env.get('PATH', '')}",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    # The machine exports its own REQUESTS_CA_BUNDLE; the sandbox's CA must replace it (DESIGN.md section 4).
    if sandbox.ca_file.exists():
        env["REQUESTS_CA_BUNDLE"] = str(sandbox.ca_file)
    return env


@pytest.fixture(scope="session")
def run_ansible(ansible_bin: Path, ansible_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess]:
    """``run_ansible(["ansible-inventory", "--list", ...], env=..., timeout=...)``: a real Ansible command."""

    def run(cmd: list[str], *, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ansible_bin / cmd[0]), *cmd[1:]],
            env=ansible_env | (env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def run_playbook(
    sandbox: Sandbox, run_ansible: Callable[..., subprocess.CompletedProcess], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., subprocess.CompletedProcess]:
    """``run_playbook(playbook, *args, inventory=None, extra_vars=None, env=None)``: ansible-playbook against the
    sandbox's hosts.yml (or ``inventory``), with ``extra_vars`` passed as ``-e @<json file>``."""
    vars_dir = tmp_path_factory.mktemp("extra-vars")
    counter = iter(range(1_000_000))

    def run(
        playbook: str | Path,
        *args: str,
        inventory: str | Path | None = None,
        extra_vars: dict | None = None,
        env: dict | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess:
        cmd = ["ansible-playbook", "-i", str(inventory or sandbox.hosts_yml)]
        if extra_vars is not None:
            path = vars_dir / f"vars-{next(counter)}.json"
            path.write_text(json.dumps(extra_vars))
            cmd += ["-e", f"@{path}"]
        return run_ansible([*cmd, *args, str(playbook)], env=env, timeout=timeout)

    return run
