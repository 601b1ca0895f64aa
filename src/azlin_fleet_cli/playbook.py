"""Run one azlin.fleet playbook as a child ``ansible-playbook`` in a private workspace, and cancel it cleanly.

The child gets every setting through its environment (collections path, report callback and its files,
pipelining, ControlPersist, forks, host key checking), so the run does not depend on an ansible.cfg being
found; the user's own ANSIBLE_* variables still win except the ones that wire up the report and the SSH
control sockets.

Each run has a private workspace (a fresh 0700 temp dir, removed at the end) holding the extra vars file (so
commands and environment values never appear in ``ps``), the events file, ansible's log, the report files as
the callback writes them, and the SSH ControlPath dir (so concurrent runs never share control sockets). The CLI
reads the report from there and then saves it into the report dir itself.

Cancel: the child runs in a session (and process group) of its own, so the terminal's Ctrl-C reaches only the
CLI, and an ssh that would prompt on the terminal (an encrypted key without an agent) fails at once instead of
being stopped in the background. SIGINT or SIGTERM to the CLI (Ctrl-C, ``kill``, ``docker
stop``, ``timeout(1)``) is forwarded once to that whole group: ansible-playbook stops dispatching, its workers and
their ssh connections end, and the report callback writes the report with unfinished hosts marked. The CLI
waits at most CANCEL_GRACE_SECONDS for that, then kills the group; a second signal kills it at once.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import yaml

from azlin_fleet_cli.collection import collections_path_for_child
from azlin_fleet_cli.outcome import CliError, ExitCode
from azlin_fleet_cli.private_files import create_file, open_dir, private_workdir, read_file
from azlin_fleet_cli.progress import ProgressLine, read_new_events

REPORT_CALLBACK = "azlin.fleet.fleet_report"
# Faster SSH than ansible-core's defaults: one connection per host reused by every task (ControlPersist) and
# modules piped into the remote python instead of copied (pipelining). A VM that stops answering mid-command (frozen,
# cut off) is given up after 30 s of silence (ServerAlive: 3 unanswered keepalives 10 s apart) and reported
# unreachable; without them such an exec waits forever. Host keys stay checked. A source that cannot be parsed as
# inventory is an error, never a silently smaller fleet.
SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=10 -o ServerAliveCountMax=3"
SPEED_DEFAULTS = {
    "ANSIBLE_PIPELINING": "True",
    "ANSIBLE_SSH_ARGS": SSH_ARGS,
    "ANSIBLE_HOST_KEY_CHECKING": "True",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
}
DEFAULT_FORKS = 16
# The child's forks: the per-host tasks around the steps (a gate wait's probes, the judge) start a worker per host up
# to this many hosts at once, so a gate wait's sampling windows overlap instead of adding up (clush's default
# fan-out; each worker is a fork of ansible-playbook, so more would cost the controller memory). The first probe
# needs no worker (strategy azlin.fleet.probe_fanout). The steps are held to --parallel (or default_parallel()) by
# the playbook.
PROBE_FORKS = 64
REPORT_FORMATS = ("json", "md", "html")
# How long a cancelled run may take to write its report before its process group is killed.
CANCEL_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.2
# Names inside the private workspace.
VARS_FILE = "extra-vars.yml"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "ansible.log"
REPORT_SUBDIR = "report"
CONTROL_SUBDIR = "cp"


@dataclass(frozen=True, slots=True)
class PlaybookRun:
    """Everything needed to start one run."""

    playbook: str
    inventory: tuple[str, ...]
    extra_vars: Mapping[str, Any]
    report_name: str
    forks: int
    passthrough: tuple[str, ...] = ()
    verbosity: int = 0
    env: Mapping[str, str] | None = None
    compare_to: str | None = None
    full: bool = False


@dataclass(slots=True)
class RunResult:
    """How the child ended and what it left in the workspace (read while the workspace still exists)."""

    returncode: int
    signal_name: str | None
    report: bytes | None
    events_seen: bool
    log_tail: str
    workspace_fd: int = -1
    report_fd: int = -1


def forks_for(parallel: str | None) -> int:
    """Forks for the child: PROBE_FORKS, or N for a larger ``--parallel N``. Never the steps' limit: the playbook
    holds the steps to ``--parallel`` (a throttle or batches), or else to :func:`default_parallel`."""
    if parallel is not None and not parallel.endswith("%"):
        return max(PROBE_FORKS, int(parallel))
    return PROBE_FORKS


def default_parallel() -> int:
    """How many hosts run the steps at once without ``--parallel``: $ANSIBLE_FORKS, else 16 (fleet_parallel_default)."""
    return int(os.environ.get("ANSIBLE_FORKS", DEFAULT_FORKS))


def ansible_playbook_path() -> str:
    """ansible-playbook next to this Python (the CLI's venv), else on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.is_file():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if found is None:
        raise CliError(
            ExitCode.USAGE, "ansible-playbook not found: install ansible-core (>= 2.19) in this environment."
        )
    return found


def format_extra_vars(extra_vars: Mapping[str, Any]) -> str:
    """Extra vars as one YAML mapping with every string tagged ``!unsafe``.

    Commands such as ``docker ps --format '{{.Names}}'`` must reach the host verbatim, never as a template.
    """
    items = []
    for key, value in extra_vars.items():
        items.append(f"{json.dumps(key)}: {_tagged(value)}")
    return "{" + ", ".join(items) + "}"


def _tagged(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_tagged(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_tagged(item) for item in value) + "]"
    text = json.dumps(value, ensure_ascii=False)
    return f"!unsafe {text}" if _needs_unsafe(value) else text


def _needs_unsafe(value: Any) -> bool:
    """Whether a value gets the ``!unsafe`` tag: every string, except one YAML would read as another type.

    Ansible resolves an ``!unsafe`` scalar as if it were plain, so ``!unsafe "true"`` loads as a boolean and
    ``!unsafe "42"`` as a number. Such strings (``true``, ``yes``, ``42``, ``1.5``, ``null``) hold no template
    markers, so a plain quoted string keeps them the text the user gave.
    """
    if not isinstance(value, str):
        return False
    return yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"


def build_command(run: PlaybookRun, vars_file: Path, passthrough: tuple[str, ...] | None = None) -> list[str]:
    """The exact ansible-playbook command line: the extra vars go by file (``-e @FILE``), never in argv."""
    command = [ansible_playbook_path()]
    for source in run.inventory:
        command += ["-i", source]
    command += [run.playbook, "-e", f"@{vars_file}"]
    if run.verbosity >= 2:
        command.append("-" + "v" * (run.verbosity - 1))
    return command + list(run.passthrough if passthrough is None else passthrough)


_EXTRA_VARS_FLAGS = ("-e", "--extra-vars")


def private_passthrough(passthrough: tuple[str, ...], directory: Path) -> tuple[tuple[str, ...], dict[str, bytes]]:
    """Move the values of ``-e``/``--extra-vars`` given after ``--`` into files (``-e @FILE``), in the same order,
    so a secret passed that way is not in ``ps`` either. Returns the new arguments and the files to create.

    A value is loaded the way ansible-playbook loads it: ``@file`` stays as it is, ``{...}``/``[...]`` is YAML
    (written verbatim), anything else ``key=value`` pairs (parsed with Ansible's own ``parse_kv``).
    """
    from ansible.parsing.splitter import parse_kv

    args: list[str] = []
    files: dict[str, bytes] = {}
    tokens = iter(passthrough)
    for token in tokens:
        flag, glued, value = token.partition("=")
        if token in _EXTRA_VARS_FLAGS:
            value = next(tokens, None)  # type: ignore[arg-type]
            if value is None:
                args.append(token)
                break
        elif token.startswith("-e") and len(token) > 2:
            value = token[2:]  # -eVALUE, argparse's glued short option
        elif not (flag == "--extra-vars" and glued):
            args.append(token)
            continue
        if value.startswith("@"):
            args += ["-e", value]
            continue
        name = f"extra-vars-{len(files) + 1}.yml"
        text = value if value.lstrip()[:1] in ("{", "[") else json.dumps(parse_kv(value), ensure_ascii=False)
        files[name] = text.encode()
        args += ["-e", f"@{directory / name}"]
    return tuple(args), files


def build_env(run: PlaybookRun, workspace: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: the user's, speed defaults where unset, and the wiring of the report and SSH."""
    env = dict(os.environ if base is None else base)
    for key, value in SPEED_DEFAULTS.items():
        env.setdefault(key, value)
    env.update(run.env or {})
    env["ANSIBLE_FORKS"] = str(run.forks)
    env["ANSIBLE_COLLECTIONS_PATH"] = collections_path_for_child()
    enabled = [c for c in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c.strip()]
    if REPORT_CALLBACK not in enabled:
        enabled.append(REPORT_CALLBACK)
    env["ANSIBLE_CALLBACKS_ENABLED"] = ",".join(enabled)
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(workspace / CONTROL_SUBDIR)
    env["AZLIN_FLEET_REPORT_DIR"] = str(workspace / REPORT_SUBDIR)
    env["AZLIN_FLEET_REPORT_NAME"] = run.report_name
    env["AZLIN_FLEET_REPORT_FORMATS"] = ",".join(REPORT_FORMATS)
    env["AZLIN_FLEET_EVENTS_FILE"] = str(workspace / EVENTS_FILE)
    env["AZLIN_FLEET_REPORT_SUMMARY"] = "false"  # the CLI prints the report itself
    env.pop("AZLIN_FLEET_COMPARE_TO", None)
    env.pop("AZLIN_FLEET_REPORT_FULL", None)
    env.pop("AZLIN_FLEET_REPORT_SUMMARY_FULL", None)
    if run.compare_to:
        env["AZLIN_FLEET_COMPARE_TO"] = run.compare_to
    if run.full:
        env["AZLIN_FLEET_REPORT_FULL"] = "1"
        env["AZLIN_FLEET_REPORT_SUMMARY_FULL"] = "true"  # the callback's option for its own summary
    return env


class Canceller:
    """Forwards SIGINT/SIGTERM received by the CLI to the child's process group (see the module docstring)."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.deadline: float | None = None
        self._group: int | None = None
        self._pending: list[int] = []

    def attach(self, pid: int) -> None:
        self._group = pid
        for signum in self._pending:
            self._forward(signum)
        self._pending.clear()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        del frame
        first = self.signal_name is None
        if first:
            self.signal_name = signal.Signals(signum).name
            self.deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        if self._group is None:
            self._pending.append(signum)
            return
        self._forward(signum if first else signal.SIGKILL)

    def _forward(self, signum: int) -> None:
        if self._group is not None:
            _kill_group(self._group, signum)

    def detach(self) -> None:
        self._group = None

    def overdue(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline


def _kill_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def _forwarding(canceller: Canceller) -> Iterator[None]:
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, canceller.on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _exit_fd(pid: int) -> int | None:
    """A pidfd of the child (readable once it exits), or None where the kernel has none: then we just sleep."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _wait_for_exit(exit_fd: int | None, seconds: float) -> None:
    """Wait up to ``seconds``, returning at once when the child exits (so a run never ends a poll step late)."""
    if exit_fd is None:
        time.sleep(seconds)
    else:
        select.select([exit_fd], [], [], seconds)


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (its pid, and so its process group id, stay reserved)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def stop_control_masters(control_dir: Path) -> None:
    """End the SSH ControlPersist masters of this run (they outlive ansible-playbook by ControlPersist)."""
    try:
        sockets = [
            entry.path for entry in os.scandir(control_dir) if stat.S_ISSOCK(entry.stat(follow_symlinks=False).st_mode)
        ]
    except OSError:
        return
    ssh = shutil.which("ssh") or "ssh"
    stoppers = []
    for socket_path in sockets:
        try:
            stoppers.append(
                subprocess.Popen(
                    [ssh, "-o", f"ControlPath={socket_path}", "-O", "exit", "azlin-fleet-control-master"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        except OSError:
            return
    for stopper in stoppers:
        try:
            stopper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stopper.kill()
            stopper.wait()


@contextmanager
def run_playbook(
    run: PlaybookRun,
    *,
    stderr: TextIO,
    progress: ProgressLine | None = None,
    echo: Callable[[list[str], Path, dict[Path, bytes]], None] | None = None,
) -> Iterator[RunResult]:
    """Run the playbook in a private workspace; yields how it ended while the workspace still exists.

    ``echo`` (for ``-v``) is called with the command, the extra vars file and the files holding the ``-e`` values
    given after ``--``, before the child starts.
    """
    canceller = Canceller()
    # From here until the workspace (with the extra vars) is gone, SIGINT/SIGTERM cancel instead of killing the CLI.
    with _forwarding(canceller), private_workdir() as workspace:
        os.mkdir(workspace / CONTROL_SUBDIR, 0o700)
        os.mkdir(workspace / REPORT_SUBDIR, 0o700)
        workspace_fd = open_dir(workspace)
        report_fd = open_dir(workspace / REPORT_SUBDIR)
        try:
            create_file(workspace_fd, VARS_FILE, format_extra_vars(run.extra_vars).encode())
            create_file(workspace_fd, EVENTS_FILE)  # the callback appends; nobody else can create it first
            create_file(workspace_fd, LOG_FILE)
            vars_file = workspace / VARS_FILE
            passthrough, files = private_passthrough(run.passthrough, workspace)
            for name, data in files.items():
                create_file(workspace_fd, name, data)
            command = build_command(run, vars_file, passthrough)
            if echo is not None:
                echo(command, vars_file, {workspace / name: data for name, data in files.items()})
            env = build_env(run, workspace)
            result = _run_child(command, env, workspace, workspace_fd, run.verbosity, stderr, progress, canceller)
            result.workspace_fd, result.report_fd = workspace_fd, report_fd
            try:
                result.report = read_file(report_fd, f"{run.report_name}.json")
            except FileNotFoundError:
                result.report = None
            yield result
        finally:
            os.close(report_fd)
            os.close(workspace_fd)


def _run_child(
    command: list[str],
    env: dict[str, str],
    workspace: Path,
    workspace_fd: int,
    verbosity: int,
    stderr: TextIO,
    progress: ProgressLine | None,
    canceller: Canceller,
) -> RunResult:
    if canceller.signal_name is not None:  # cancelled before anything started
        return RunResult(returncode=-1, signal_name=canceller.signal_name, report=None, events_seen=False, log_tail="")
    log_fd = os.open(LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=workspace_fd)
    offset = 0
    events_seen = False
    try:
        # With -vv ansible's own output goes to stderr (stdout stays clean for --format json).
        output: Any = stderr if verbosity >= 2 else log_fd
        try:
            child = subprocess.Popen(
                command,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as ex:
            raise CliError(ExitCode.USAGE, f"cannot start {command[0]!r}: {ex}.") from ex
        canceller.attach(child.pid)
        exit_fd = _exit_fd(child.pid)
        while not _exited(child.pid):
            if canceller.overdue():
                _kill_group(child.pid, signal.SIGKILL)
            _wait_for_exit(exit_fd, POLL_SECONDS)
            events, offset = read_new_events(workspace / EVENTS_FILE, offset)
            events_seen = events_seen or bool(events)
            if progress is not None:
                progress.update(events, cancelling=canceller.signal_name)
        events, offset = read_new_events(workspace / EVENTS_FILE, offset)
        events_seen = events_seen or bool(events)
        # Whatever ansible-playbook left behind in its process group (workers, ssh) ends with it.
        stop_control_masters(workspace / CONTROL_SUBDIR)
        _kill_group(child.pid, signal.SIGKILL)
        if exit_fd is not None:
            os.close(exit_fd)
        returncode = child.wait()
        canceller.detach()  # the pid is reaped: later signals are only recorded
    finally:
        os.close(log_fd)
        if progress is not None:
            progress.close()
    return RunResult(
        returncode=returncode,
        signal_name=canceller.signal_name,
        report=None,
        events_seen=events_seen,
        log_tail=_tail(workspace / LOG_FILE),
    )


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output captured)"
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [
        line
        for line in kept
        if line.startswith(("ERROR", "[ERROR]", "fatal", "[WARNING]: Failed to parse", "[WARNING]: Unable to parse"))
    ]
    return " | ".join((errors or kept)[-lines:]) or "(no output)"


def shell_line(command: list[str]) -> str:
    """The command as one shell line (what ``-v`` prints)."""
    return shlex.join(command)
