"""The sandbox fleet: N real sshd hosts in network namespaces, with live loads and faults.

Everything the sandbox starts is recorded in ``state.json`` before it is started, so ``down()`` can remove
it after a crash too; ``down()`` also sweeps by the sandbox's name prefix (namespaces ``<prefix>-<host>``,
links ``<prefix>br0`` / ``<prefix>h<index>``, sshd command lines ``/run/azlin-fleet/<prefix>-<host>``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from azlin_fleet_sandbox import network, processes, sshd
from azlin_fleet_sandbox.errors import SandboxError, SandboxUsageError
from azlin_fleet_sandbox.inventory import render_hosts_yml, render_known_hosts, render_ssh_config
from azlin_fleet_sandbox.procfiles import DEFAULT_LOAD, Load, merge_load
from azlin_fleet_sandbox.spec import HostSpec, default_hosts

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO_ROOT / ".sandbox"
FAULT_KINDS = ("stop", "start", "cut", "restore", "unreadable", "readable", "freeze", "thaw")
REQUIRED_TOOLS = (
    "/usr/sbin/sshd",
    "/usr/sbin/ip",
    "/usr/bin/unshare",
    "/usr/bin/nsenter",
    "/usr/bin/ssh-keygen",
    "/usr/bin/ss",
)
# Files and directories `up` writes into the state directory (down removes exactly these).
GENERATED = (
    "state.json",
    "loads.json",
    "driver.json",
    "driver.ack",
    "driver.ack.tmp",
    "driver.log",
    "hosts.yml",
    "ssh_config",
    "known_hosts",
    "id_ed25519",
    "id_ed25519.pub",
    "hosts",
    "azure",
)
_NAMED = {".sandbox": ("azf", 0), ".sandbox-test": ("azt", 1)}


_LETTERS = "bcdeghjkmnpqrsuvwxyz"


def sandbox_identity(state_dir: Path, attempt: int = 0) -> tuple[str, int]:
    """(name prefix, subnet number) for a state dir: azf/0 for .sandbox, azt/1 for .sandbox-test, else hashed
    (4-letter prefix, subnet 2..251; ``attempt`` walks to the next candidate when one is taken)."""
    if state_dir.name in _NAMED:
        return _NAMED[state_dir.name]
    digest = hashlib.sha256(str(state_dir).encode()).digest()
    code = (digest[0] * 256 + digest[1] + attempt) % (len(_LETTERS) ** 2)
    return "az" + _LETTERS[code // len(_LETTERS)] + _LETTERS[code % len(_LETTERS)], 2 + (digest[2] + attempt) % 250


class Sandbox:
    """A local stand-in for a pool of Azure VMs (see docs/dev/CONTRACTS.md, "Sandbox")."""

    def __init__(self, state_dir: Path | str = DEFAULT_STATE_DIR, *, prefix: str | None = None, net: int | None = None):
        self.state_dir = Path(state_dir).absolute()
        saved = self._read_state()
        default_prefix, default_net = sandbox_identity(self.state_dir)
        self.prefix: str = saved["prefix"] if saved else (prefix or default_prefix)
        self.net: int = saved["net"] if saved else (default_net if net is None else net)
        # Whether names under our prefix are ours to sweep: a recorded, explicit or reserved (.sandbox*) identity.
        # A hashed one may belong to another state dir until `up` has claimed it in state.json.
        self._hashed = not saved and prefix is None and net is None and self.state_dir.name not in _NAMED
        if not (2 <= len(self.prefix) <= 4 and self.prefix.isalnum() and self.prefix.islower()):
            raise SandboxUsageError("Sandbox prefix", f"{self.prefix!r} is not 2-4 lower-case letters/digits")
        if not 0 <= self.net <= 255:
            raise SandboxUsageError("Sandbox network number", f"{self.net} is out of range", "Use 0 to 255.")
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock_depth = 0
        self._lock_fd: int | None = None
        self._thread_lock = threading.RLock()

    # ------------------------------------------------------------------------------------------ paths
    @property
    def subnet(self) -> str:
        return f"10.213.{self.net}"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br0"

    @property
    def hosts_yml(self) -> Path:
        return self.state_dir / "hosts.yml"

    @property
    def ssh_config(self) -> Path:
        return self.state_dir / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def key_file(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "azure" / "ca.pem"

    def host_dir(self, name: str) -> Path:
        return self.state_dir / "hosts" / name

    def host_path(self, name: str, path: str) -> Path:
        """The controller-side path of a file under a host's private /tmp or /root."""
        self._host_state(self._require_state(), name)
        for root in ("/tmp", "/root"):
            if path == root or path.startswith(root + "/"):
                relative = path[len(root) :].lstrip("/")
                if ".." in Path(relative).parts:
                    break
                return self.host_dir(name) / root.lstrip("/") / relative
        raise SandboxUsageError(
            f"Host path {path!r}", "is not under the host's private /tmp or /root", "Use a path like /tmp/marker."
        )

    def _driver_marker(self) -> str:
        return f"azlin_fleet_sandbox.driver {self.state_dir}"

    def _sshd_marker(self) -> str:
        return f"{sshd.ALIAS_ROOT}/{self.prefix}-"

    # ------------------------------------------------------------------------------------------ state
    def _read_state(self) -> dict | None:
        try:
            return json.loads((self.state_dir / "state.json").read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise SandboxError(
                f"Sandbox state {self.state_dir / 'state.json'}",
                f"is not valid JSON ({exc})",
                "Remove the sandbox's namespaces by hand, then delete the file.",
            ) from exc

    def _write_state(self, state: dict) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.replace(tmp, self.state_dir / "state.json")

    def _require_state(self) -> dict:
        state = self._read_state()
        if not state or state.get("phase") != "up":
            raise SandboxError(
                f"Sandbox in {self.state_dir}", "is not up", "Start it with 'azlin-fleet-sandbox up' (or Sandbox.up())."
            )
        return state

    @staticmethod
    def _host_state(state: dict, name: str) -> dict:
        for host in state["hosts"]:
            if host["spec"]["name"] == name:
                return host
        known = ", ".join(h["spec"]["name"] for h in state["hosts"])
        raise SandboxUsageError(f"Sandbox host {name!r}", "does not exist", f"Known hosts: {known}.")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # One writer at a time per state dir (CLI and tests may act on the same sandbox), re-entrant per thread.
        with self._thread_lock:
            if self._lock_depth == 0:
                self.state_dir.mkdir(parents=True, exist_ok=True)
                self._lock_fd = os.open(self.state_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None

    # ------------------------------------------------------------------------------------------ queries
    def hosts(self) -> list[HostSpec]:
        """The hosts of the running sandbox, in index order."""
        return [_spec_from_dict(h["spec"]) for h in self._require_state()["hosts"]]

    def status(self) -> dict:
        """What runs: sshd per host, network, probe files, loads, the driver and the Azure endpoint."""
        state = self._read_state()
        result: dict = {"state_dir": str(self.state_dir), "prefix": self.prefix, "subnet": f"{self.subnet}.0/24"}
        if not state:
            return result | {"up": False, "phase": "down", "hosts": [], "driver": None, "azure": None}
        loads = self._read_loads()
        hosts = []
        for host in state["hosts"]:
            name = host["spec"]["name"]
            running = processes.is_alive(host.get("sshd_pid"), sshd.alias_dir(self.prefix, name))
            hosts.append(
                {
                    **host["spec"],
                    "netns": host["netns"],
                    "sshd_pid": host.get("sshd_pid") if running else None,
                    "sshd": "running" if running else ("stopped" if host["faults"]["stopped"] else "dead"),
                    "network": "cut" if host["faults"]["cut"] else "ok",
                    "probe_files": "unreadable" if host["faults"]["unreadable"] else "readable",
                    "load": loads.get(name, DEFAULT_LOAD).to_dict(),
                }
            )
        driver_running = processes.is_alive(state.get("driver_pid"), self._driver_marker())
        up = (
            state.get("phase") == "up"
            and driver_running
            and all(h["sshd"] == "running" or h["sshd"] == "stopped" for h in hosts)
        )
        return result | {
            "up": up,
            "phase": state.get("phase"),
            "hosts": hosts,
            "driver": {"pid": state.get("driver_pid"), "running": driver_running},
            "azure": state.get("azure"),
            "files": {
                "hosts_yml": str(self.hosts_yml),
                "ssh_config": str(self.ssh_config),
                "known_hosts": str(self.known_hosts),
                "key_file": str(self.key_file),
            },
        }

    def leftovers(self) -> list[str]:
        """Anything of this sandbox still present: sshd/driver processes, namespaces, links, mounts."""
        if self._hashed and not self._read_state():
            # Not claimed yet: names under the prefix may be another sandbox's; only our files can tell.
            return [f"mount {m}" for m in processes.mounts_matching([str(self.state_dir) + "/"])] + [
                f"process {pid}: {processes.cmdline(pid)}"
                for pid in processes.processes_matching(self._driver_marker(), at_end=True)
            ]
        found = [
            f"process {pid}: {processes.cmdline(pid)}" for pid in processes.processes_matching(self._sshd_marker())
        ]
        found += [
            f"process {pid}: {processes.cmdline(pid)}"
            for pid in processes.processes_matching(self._driver_marker(), at_end=True)
        ]
        found += [f"network namespace {ns}" for ns in network.list_netns() if ns.startswith(f"{self.prefix}-")]
        found += [f"link {link}" for link in network.sandbox_links(self.prefix)]
        found += [f"mount {m}" for m in processes.mounts_matching([str(self.state_dir) + "/", self._sshd_marker()])]
        return found

    # ------------------------------------------------------------------------------------------ up
    def up(self, hosts: int = 8, azure: bool = True) -> None:
        """Start ``hosts`` sshd hosts, the load driver and (if ``azure``) the local ARM endpoint."""
        _preflight()
        specs = default_hosts(hosts, self.subnet)
        arm = _arm_module() if azure else None
        with self._locked():
            state = self._read_state()
            if state:
                live = [
                    h["spec"]["name"]
                    for h in state["hosts"]
                    if processes.is_alive(h.get("sshd_pid"), sshd.alias_dir(self.prefix, h["spec"]["name"]))
                ]
                if live or processes.is_alive(state.get("driver_pid"), self._driver_marker()):
                    raise SandboxError(
                        f"Sandbox in {self.state_dir}",
                        f"is already up ({len(state['hosts'])} hosts)",
                        "Use it as it is, or run 'azlin-fleet-sandbox down' first.",
                    )
            # A stale state (crash, reboot) or stray resources under our prefix: clear them first.
            self._down_locked()
            self._claim_identity()
            specs = default_hosts(hosts, self.subnet)
            state = {
                "version": 1,
                "phase": "starting",
                "prefix": self.prefix,
                "net": self.net,
                "bridge": self.bridge,
                "azure_requested": azure,
                "azure": None,
                "driver_pid": None,
                "hosts": [
                    {
                        "spec": _spec_to_dict(s),
                        "netns": f"{self.prefix}-{s.name}",
                        "veth": f"{self.prefix}h{s.index}",
                        "sshd_pid": None,
                        "faults": {"stopped": False, "cut": False, "unreadable": False},
                    }
                    for s in specs
                ],
            }
            self._write_state(state)
            self._hashed = False
            try:
                self._write_files(state, specs)
                self._start_driver(state)
                self._create_network(state)
                self._start_sshds(state, [h["spec"]["name"] for h in state["hosts"]])
                if arm is not None:
                    try:
                        state["azure"] = arm.launch(self.state_dir, specs)
                    except (RuntimeError, OSError) as exc:
                        raise SandboxError(
                            "Local Azure endpoint",
                            f"did not start ({exc})",
                            "See azure/server.log in the state directory.",
                        ) from exc
                state["phase"] = "up"
                self._write_state(state)
            except BaseException:
                self._down_locked()
                raise

    def _is_taken(self, prefix: str) -> bool:
        return (
            any(ns.startswith(f"{prefix}-") for ns in network.list_netns())
            or bool(network.sandbox_links(prefix))
            or bool(processes.processes_matching(f"{sshd.ALIAS_ROOT}/{prefix}-"))
        )

    def _claim_identity(self) -> None:
        """Make sure our prefix and subnet are not another sandbox's (a hashed identity moves on to a free one)."""
        if self._hashed:
            for attempt in range(400):
                prefix, _ = sandbox_identity(self.state_dir, attempt)
                if not self._is_taken(prefix):
                    self.prefix = prefix
                    break
            for attempt in range(250):
                _, net = sandbox_identity(self.state_dir, attempt)
                if not network.subnet_users(f"10.213.{net}."):
                    self.net = net
                    break
        users = network.subnet_users(f"{self.subnet}.")
        if users:
            raise SandboxError(
                f"Sandbox network {self.subnet}.0/24",
                f"is already used by {', '.join(users)}",
                "Stop the sandbox that uses it, or give this one another net= number.",
            )

    def _write_files(self, state: dict, specs: Sequence[HostSpec]) -> None:
        (self.state_dir / "hosts").mkdir(parents=True, exist_ok=True)
        for spec in specs:
            host_dir = self.host_dir(spec.name)
            (host_dir / "proc").mkdir(parents=True, exist_ok=True)
            for sub, mode in (("tmp", 0o1777), ("root", 0o700)):
                (host_dir / sub).mkdir(exist_ok=True)
                os.chmod(host_dir / sub, mode)
            for name in ("proc/loadavg", "proc/stat", "proc/meminfo", "utmp"):
                (host_dir / name).touch()
        # Host keys and the client key, generated in parallel.
        jobs = [(self.key_file, "azlin-fleet-sandbox client")]
        jobs += [(self.host_dir(s.name) / "ssh_host_ed25519_key", f"root@{s.name}") for s in specs]
        for path, _ in jobs:
            for stale in (path, path.with_name(path.name + ".pub")):
                stale.unlink(missing_ok=True)
        keygens = [
            subprocess.Popen(
                ["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for path, comment in jobs
        ]
        for proc, (path, _) in zip(keygens, jobs, strict=True):
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise SandboxError(f"Key generation for {path}", err.decode().strip() or f"exit {proc.returncode}")
        client_pub = self.key_file.with_name("id_ed25519.pub").read_text()
        public_keys = []
        for spec in specs:
            host_dir = self.host_dir(spec.name)
            alias = sshd.alias_dir(self.prefix, spec.name)
            (host_dir / "authorized_keys").write_text(client_pub)
            (host_dir / "sshd_config").write_text(
                sshd.render_sshd_config(alias=alias, address=spec.address, port=spec.port)
            )
            public_keys.append((spec, (host_dir / "ssh_host_ed25519_key.pub").read_text()))
        self.known_hosts.write_text(render_known_hosts(public_keys))
        self.ssh_config.write_text(render_ssh_config(specs, key_file=self.key_file, known_hosts=self.known_hosts))
        self.hosts_yml.write_text(render_hosts_yml(specs, key_file=self.key_file, known_hosts=self.known_hosts))
        driver_hosts = [
            {
                "name": s.name,
                "cpus": s.cpus,
                "mem_kb": s.mem_mb * 1024 * 97 // 100,
                "index": s.index,
                "dir": str(self.host_dir(s.name)),
            }
            for s in specs
        ]
        (self.state_dir / "driver.json").write_text(json.dumps({"hosts": driver_hosts}, indent=2))
        self._write_loads(1, {s.name: DEFAULT_LOAD for s in specs})

    def _start_driver(self, state: dict) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")])
        )
        with open(self.state_dir / "driver.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "azlin_fleet_sandbox.driver", str(self.state_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        self._procs["driver"] = proc
        state["driver_pid"] = proc.pid
        self._write_state(state)
        self._wait_for_ack(1, proc)

    def _create_network(self, state: dict) -> None:
        network.create_bridge(self.bridge, f"{self.subnet}.1/24")
        for host in state["hosts"]:
            spec = host["spec"]
            network.create_host_link(
                netns=host["netns"],
                veth=host["veth"],
                bridge=self.bridge,
                address_cidr=f"{spec['address']}/24",
                mac=network.host_mac(self.net, spec["index"]),
            )

    def _start_sshds(self, state: dict, names: list[str]) -> None:
        started = []
        for name in names:
            host = self._host_state(state, name)
            host_dir = self.host_dir(name)
            (host_dir / "start.sh").write_text(
                sshd.render_start_script(
                    host_dir=host_dir,
                    alias=sshd.alias_dir(self.prefix, name),
                    hostname=name,
                    unreadable=host["faults"]["unreadable"],
                )
            )
            proc = sshd.launch_sshd(netns=host["netns"], host_dir=host_dir)
            self._procs[name] = proc
            host["sshd_pid"] = proc.pid
            host["faults"]["stopped"] = False
            started.append((host["spec"]["address"], host["spec"]["port"], proc))
        self._write_state(state)
        failed = sshd.wait_for_ports(started)
        if failed:
            details = []
            for host in state["hosts"]:
                if host["spec"]["address"] in failed:
                    log = self.host_dir(host["spec"]["name"]) / "start.log"
                    tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
                    details.append(f"{host['spec']['name']} ({' / '.join(tail) or 'no output'})")
            raise SandboxError(
                "Starting sshd",
                f"not listening on {', '.join(details)}",
                "See start.log and sshd.log in the host directories.",
            )

    # ------------------------------------------------------------------------------------------ down
    def down(self) -> None:
        """Stop and remove everything this sandbox started; safe to call any number of times."""
        with self._locked():
            self._down_locked()
            for name in GENERATED:
                path = self.state_dir / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        remaining = self.leftovers()
        if remaining:
            raise SandboxError(
                f"Sandbox down in {self.state_dir}", "left " + "; ".join(remaining), "Remove them by hand."
            )

    def _down_locked(self) -> None:
        state = self._read_state() or {}
        if state.get("azure") is not None or state.get("azure_requested"):
            arm = _arm_module(required=False)
            if arm is not None:
                arm.stop(self.state_dir)
        sweep = bool(state) or not self._hashed
        namespaces = {h["netns"] for h in state.get("hosts", [])}
        if sweep:
            namespaces |= {ns for ns in network.list_netns() if ns.startswith(f"{self.prefix}-")}
        for ns in sorted(namespaces):
            processes.kill_all(network.netns_pids(ns))
        if sweep:
            processes.kill_all(processes.processes_matching(self._sshd_marker()))
        processes.terminate(state.get("driver_pid"), self._driver_marker())
        processes.kill_all(processes.processes_matching(self._driver_marker(), at_end=True))
        for proc in self._procs.values():
            with contextlib.suppress(ChildProcessError, OSError):
                proc.poll()
        self._procs.clear()
        for ns in sorted(namespaces):
            network.delete_netns(ns)
        for link in network.sandbox_links(self.prefix) if sweep else []:
            network.delete_link(link)
        if state:
            state["phase"] = "down"
            self._write_state(state)

    # ------------------------------------------------------------------------------------------ loads
    def _read_loads(self) -> dict[str, Load]:
        try:
            raw = json.loads((self.state_dir / "loads.json").read_text())
        except (OSError, ValueError):
            return {}
        return {name: Load.from_dict(value) for name, value in raw["loads"].items()}

    def _write_loads(self, generation: int, loads: dict[str, Load]) -> None:
        tmp = self.state_dir / "loads.json.tmp"
        tmp.write_text(json.dumps({"generation": generation, "loads": {k: v.to_dict() for k, v in loads.items()}}))
        os.replace(tmp, self.state_dir / "loads.json")

    def _wait_for_ack(self, generation: int, proc: subprocess.Popen | None = None, timeout: float = 5.0) -> None:
        ack = self.state_dir / "driver.ack"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                if int(ack.read_text()) >= generation:
                    return
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.01)
        log = (self.state_dir / "driver.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise SandboxError(
            "Sandbox load driver",
            f"did not apply loads within {timeout:.0f} s ({' / '.join(log)})",
            "Restart the sandbox (down, up).",
        )

    def set_load(
        self,
        name: str,
        *,
        cpu: float | None = None,
        load: Sequence[float] | None = None,
        mem: float | None = None,
        users: Sequence[int] | None = None,
    ) -> None:
        """Change a host's reported loads; returns once the host's files show them (well under 0.5 s)."""
        with self._locked():
            state = self._require_state()
            self._host_state(state, name)
            loads = self._read_loads()
            loads[name] = merge_load(loads.get(name, DEFAULT_LOAD), cpu=cpu, load=load, mem=mem, users=users)
            self._apply_loads(loads)

    def _apply_loads(self, loads: dict[str, Load]) -> None:
        raw = json.loads((self.state_dir / "loads.json").read_text())
        generation = int(raw["generation"]) + 1
        self._write_loads(generation, loads)
        self._wait_for_ack(generation)

    # ------------------------------------------------------------------------------------------ faults
    def fault(self, name: str, kind: str) -> None:
        """Inject or clear a fault on one host.

        ``stop``/``start`` sshd, ``cut``/``restore`` its network, ``unreadable``/``readable`` its probe files,
        ``freeze``/``thaw`` every process of the host (SIGSTOP/SIGCONT: a hung VM whose TCP peer stays silent).
        """
        if kind not in FAULT_KINDS:
            raise SandboxUsageError(f"Fault {kind!r}", "is unknown", f"Use one of: {', '.join(FAULT_KINDS)}.")
        with self._locked():
            state = self._require_state()
            host = self._host_state(state, name)
            getattr(self, f"_fault_{kind}")(state, host)
            self._write_state(state)

    def _sshd_running(self, host: dict) -> bool:
        return processes.is_alive(host.get("sshd_pid"), sshd.alias_dir(self.prefix, host["spec"]["name"]))

    def _fault_stop(self, state: dict, host: dict) -> None:
        # The whole host's sessions go too (as if sshd's unit were killed with its control group), so no
        # persisted SSH connection keeps a stopped host reachable.
        processes.kill_all(network.netns_pids(host["netns"]))
        proc = self._procs.pop(host["spec"]["name"], None)
        if proc is not None:
            proc.poll()
        host["sshd_pid"] = None
        host["faults"]["stopped"] = True

    def _fault_start(self, state: dict, host: dict) -> None:
        if not self._sshd_running(host):
            self._start_sshds(state, [host["spec"]["name"]])
        host["faults"]["stopped"] = False

    def _fault_cut(self, state: dict, host: dict) -> None:
        network.set_link(host["veth"], up=False)
        network.close_connections(host["spec"]["address"])
        host["faults"]["cut"] = True

    def _fault_freeze(self, state: dict, host: dict) -> None:
        processes.signal_all(network.netns_pids(host["netns"]), signal.SIGSTOP)
        host["faults"]["frozen"] = True

    def _fault_thaw(self, state: dict, host: dict) -> None:
        processes.signal_all(network.netns_pids(host["netns"]), signal.SIGCONT)
        host["faults"]["frozen"] = False

    def _fault_restore(self, state: dict, host: dict) -> None:
        network.set_link(host["veth"], up=True)
        host["faults"]["cut"] = False

    def _nsenter_mount(self, host: dict, *args: str) -> None:
        proc = subprocess.run(
            ["/usr/bin/nsenter", "-t", str(host["sshd_pid"]), "-m", *args], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise SandboxError(f"{' '.join(args)} on {host['spec']['name']!r}", proc.stderr.strip() or "failed")

    def _fault_unreadable(self, state: dict, host: dict) -> None:
        if host["faults"]["unreadable"]:
            return
        if self._sshd_running(host):
            for path in sshd.PROBE_FILES:
                self._nsenter_mount(host, "mount", "--bind", sshd.UNREADABLE_SOURCE, path)
        host["faults"]["unreadable"] = True  # a (re)started sshd applies it in its start script

    def _fault_readable(self, state: dict, host: dict) -> None:
        if not host["faults"]["unreadable"]:
            return
        if self._sshd_running(host):
            for path in sshd.PROBE_FILES:  # pops the unreadable bind, uncovering the driver's file
                self._nsenter_mount(host, "umount", path)
        host["faults"]["unreadable"] = False

    def reset(self) -> None:
        """Every host back to normal: sshd running, network up, files readable, default loads (cpu 5 %, mem 30 %).

        Also restarts the load driver if it died (its counters continue from the files).
        """
        with self._locked():
            state = self._require_state()
            if not processes.is_alive(state.get("driver_pid"), self._driver_marker()):
                self._start_driver(state)
            for host in state["hosts"]:
                if host["faults"].get("frozen"):
                    self._fault_thaw(state, host)
                if host["faults"]["cut"] or not network.is_link_up(host["veth"]):
                    self._fault_restore(state, host)
                if host["faults"]["unreadable"]:
                    self._fault_readable(state, host)
            dead = [h["spec"]["name"] for h in state["hosts"] if not self._sshd_running(h)]
            if dead:
                for name in dead:
                    processes.kill_all(network.netns_pids(self._host_state(state, name)["netns"]))
                self._start_sshds(state, dead)
            self._write_state(state)
            if self._read_loads() != {h["spec"]["name"]: DEFAULT_LOAD for h in state["hosts"]}:
                self._apply_loads({h["spec"]["name"]: DEFAULT_LOAD for h in state["hosts"]})
            arm = _arm_module(required=False) if state.get("azure") is not None else None
            if arm is not None and hasattr(arm, "reset"):
                arm.reset(self.state_dir)


def _spec_to_dict(spec: HostSpec) -> dict:
    return asdict(spec) | {"pools": list(spec.pools)}


def _spec_from_dict(raw: dict) -> HostSpec:
    return HostSpec(**(raw | {"pools": tuple(raw["pools"]), "tags": dict(raw["tags"])}))


def _preflight() -> None:
    if os.geteuid() != 0:
        raise SandboxError(
            "Sandbox up", "needs root (it creates network and mount namespaces)", "Run it as root (e.g. with sudo)."
        )
    missing = [tool for tool in REQUIRED_TOOLS if not os.access(tool, os.X_OK)]
    if missing:
        raise SandboxError(
            "Sandbox up",
            f"missing {', '.join(missing)}",
            "Install them: apt-get install openssh-server iproute2 util-linux.",
        )


def _arm_module(required: bool = True):  # noqa: ANN202 - a module or None
    """The local Azure endpoint (``azlin_fleet_sandbox.arm``: launch/stop), or None/an error if not there."""
    try:
        from azlin_fleet_sandbox import arm
    except ImportError as exc:
        if not required:
            return None
        raise SandboxError(
            "Local Azure endpoint",
            f"azlin_fleet_sandbox.arm cannot be imported ({exc})",
            "Start the sandbox without it: up(azure=False), CLI 'up --no-azure'.",
        ) from exc
    if not (hasattr(arm, "launch") and hasattr(arm, "stop")):
        if not required:
            return None
        raise SandboxError(
            "Local Azure endpoint",
            "azlin_fleet_sandbox.arm has no launch()/stop() yet",
            "Start the sandbox without it: up(azure=False), CLI 'up --no-azure'.",
        )
    return arm
