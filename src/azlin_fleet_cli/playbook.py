"""Run one azlin.fleet playbook as a child ``ansible-playbook`` and hand back where its report is.

The child gets every setting through its environment (collections path, report callback and its files,
pipelining, ControlPersist, forks, host key checking), so the run does not depend on an ansible.cfg being
found; the user's own ANSIBLE_* variables still win except the ones that wire up the report.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from azlin_fleet_cli.collection import collections_path_for_child
from azlin_fleet_cli.outcome import CliError, ExitCode
from azlin_fleet_cli.progress import watch_events

REPORT_CALLBACK = "azlin.fleet.fleet_report"
# Faster SSH than ansible-core's defaults: one connection per host reused by every task (ControlPersist) and
# modules piped into the remote python instead of copied (pipelining). Host keys stay checked.
SPEED_DEFAULTS = {
    "ANSIBLE_PIPELINING": "True",
    "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s",
    "ANSIBLE_HOST_KEY_CHECKING": "True",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
    "ANSIBLE_NOCOLOR": "1",
}
DEFAULT_FORKS = 16
PERCENT_FORKS = 100
# ansible-playbook's own codes for a run it refused to start: 4 parser error, 5 bad or incomplete options.
_ANSIBLE_REJECTED = {4, 5}


@dataclass(frozen=True, slots=True)
class PlaybookRun:
    """Everything needed to start one run, and where its files go."""

    playbook: str
    inventory: tuple[str, ...]
    extra_vars: Mapping[str, Any]
    report_dir: Path
    report_name: str
    forks: int
    passthrough: tuple[str, ...] = ()
    verbosity: int = 0
    env: Mapping[str, str] | None = None

    @property
    def report_json(self) -> Path:
        return self.report_dir / f"{self.report_name}.json"

    @property
    def events_file(self) -> Path:
        return self.report_dir / f".{self.report_name}.events.jsonl"

    @property
    def log_file(self) -> Path:
        return self.report_dir / f".{self.report_name}.ansible.log"


def new_report_name(kind: str) -> str:
    """A report name unique per run: ``fleet-<kind>-<UTC time>-<pid>``."""
    return f"fleet-{kind}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}"


def forks_for(parallel: str | None) -> int:
    """Forks for the child: N for ``--parallel N``; for ``N%`` (resolved by the playbook against the selected hosts)
    enough room for it; else $ANSIBLE_FORKS or 16. Ansible never starts more workers than a batch has hosts, and
    ``--sequence`` batches are the playbook's ``serial``, so the probe before them still runs with full fan-out."""
    if parallel is not None and parallel.endswith("%"):
        return PERCENT_FORKS
    if parallel is not None:
        return max(1, int(parallel))
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
    """Extra vars as one inline YAML mapping with every string tagged ``!unsafe``.

    Commands such as ``docker ps --format '{{.Names}}'`` must reach the host verbatim, never as a template.
    """
    items = []
    for key, value in extra_vars.items():
        text = json.dumps(value, ensure_ascii=False)
        items.append(f"{json.dumps(key)}: {'!unsafe ' if _needs_unsafe(value) else ''}{text}")
    return "{" + ", ".join(items) + "}"


def _needs_unsafe(value: Any) -> bool:
    """Whether a value gets the ``!unsafe`` tag: every string, except one YAML would read as another type.

    Ansible resolves an ``!unsafe`` scalar as if it were plain, so ``!unsafe "true"`` loads as a boolean and
    ``!unsafe "42"`` as a number. Such strings (``true``, ``yes``, ``42``, ``1.5``, ``null``) hold no template
    markers, so a plain quoted string keeps them the text the user gave.
    """
    if not isinstance(value, str):
        return False
    return yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"


def build_command(run: PlaybookRun) -> list[str]:
    """The exact ansible-playbook command line (what ``-v`` prints)."""
    command = [ansible_playbook_path()]
    for source in run.inventory:
        command += ["-i", source]
    command += [run.playbook, "-e", format_extra_vars(run.extra_vars)]
    if run.verbosity >= 2:
        command.append("-" + "v" * (run.verbosity - 1))
    return command + list(run.passthrough)


def build_env(run: PlaybookRun, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: the user's, speed defaults where unset, and the report wiring."""
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
    env["AZLIN_FLEET_REPORT_DIR"] = str(run.report_dir)
    env["AZLIN_FLEET_REPORT_NAME"] = run.report_name
    env["AZLIN_FLEET_EVENTS_FILE"] = str(run.events_file)
    return env


def run_playbook(run: PlaybookRun, *, show_progress: bool, stderr: TextIO) -> tuple[Path, bool]:
    """Run the playbook; return the JSON report's path and whether Ctrl-C interrupted it.

    Raises CliError when the run produced no report.
    """
    command = build_command(run)
    if run.verbosity >= 1:
        print(f"azlin-fleet: running: {shlex.join(command)}", file=stderr, flush=True)
    run.report_dir.mkdir(parents=True, exist_ok=True)
    run.events_file.unlink(missing_ok=True)
    env = build_env(run)
    # The log holds unmasked command output: readable by the user only, like the report files.
    log_fd = os.open(run.log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(log_fd, "w", encoding="utf-8") as log:
        # With -vv ansible's own output goes to stderr (stdout stays clean for --format json).
        output = stderr if run.verbosity >= 2 else log
        try:
            child = subprocess.Popen(
                command, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        except OSError as ex:
            raise CliError(ExitCode.USAGE, f"cannot start {command[0]!r}: {ex}.") from ex
        interrupted = False
        try:
            watch_events(child, run.events_file, enabled=show_progress, stream=stderr)
        except KeyboardInterrupt:
            # The child got the same SIGINT from the terminal; let it write its report, then show it.
            interrupted = True
            child.wait()
    run.events_file.unlink(missing_ok=True)
    if run.report_json.is_file():
        # The report holds everything ansible printed about the hosts; the raw log is kept only when it is the
        # sole account of a failed run.
        run.log_file.unlink(missing_ok=True)
        return run.report_json, interrupted
    if interrupted:
        raise KeyboardInterrupt
    tail = _tail(run.log_file)
    if child.returncode in _ANSIBLE_REJECTED:
        raise CliError(ExitCode.USAGE, f"ansible-playbook rejected the run (rc {child.returncode}): {tail}")
    raise CliError(
        ExitCode.FAILED,
        f"ansible-playbook exited with rc {child.returncode} and wrote no report (is the callback "
        f"{REPORT_CALLBACK} installed?): {tail} Full output: {run.log_file}",
    )


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output captured)"
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in kept if line.startswith(("ERROR", "[ERROR]", "fatal"))]
    return " | ".join((errors or kept)[-lines:]) or "(no output)"
