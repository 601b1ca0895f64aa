"""Where reports live: the private default home, the checks a report dir must pass, listing and finding reports.

Default: ``$XDG_STATE_HOME/azlin-fleet/reports`` (XDG default ``~/.local/state``), created 0700. A report dir must
be a directory the user can write, owned by the user (or root), and not writable by others unless it is sticky and
owned by the user (like /tmp: others may add entries but cannot replace ours). These checks run before any host
is touched, so a bad report dir is exit 2 and never a run whose report is lost.

Each report the CLI saves gets a small record ``.<name>.run.json`` beside it (subcommand, command or workflow,
targets), so ``report list`` can show what ran and ``--compare-to last`` can find the previous report of the same
command and targets.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azlin_fleet_cli.outcome import CliError, ExitCode
from azlin_fleet_cli.private_files import create_file, open_dir, read_file, write_file_atomic

REPORT_FORMAT = "azlin.fleet.report"
RECORD_SUFFIX = ".run.json"


def default_report_dir() -> Path:
    """``$XDG_STATE_HOME/azlin-fleet/reports``, else ``~/.local/state/azlin-fleet/reports``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(base) / "azlin-fleet" / "reports"


def wake_state_dir() -> Path:
    """Where --wake runs record the VMs they woke until they are returned (``$XDG_STATE_HOME/azlin-fleet/wake``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    path = Path(base) / "azlin-fleet" / "wake"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def woken_hosts(path: Path) -> list[str]:
    """The hosts a --wake run's state file still records as woken (not yet returned); none when it is gone."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    woken = data.get("woken") if isinstance(data, dict) else None
    return sorted(woken) if isinstance(woken, dict) else []


def choose_report_dir(flag: str | None, configured: str | None) -> Path:
    """--report-dir, else $AZLIN_FLEET_REPORT_DIR, else the config file's report_dir, else the private default."""
    chosen = flag or os.environ.get("AZLIN_FLEET_REPORT_DIR") or configured
    return (Path(chosen).expanduser() if chosen else default_report_dir()).absolute()


def _refuse(path: Path, why: str, fix: str) -> CliError:
    return CliError(ExitCode.USAGE, f"report dir {str(path)!r} {why}. {fix}")


def _make_dirs(path: Path) -> None:
    missing = []
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            os.mkdir(candidate, 0o700)
        except FileExistsError:
            continue
        except NotADirectoryError as ex:
            blocker = next((str(p) for p in candidate.parents if p.exists() and not p.is_dir()), str(candidate.parent))
            raise _refuse(
                path, f"cannot be created: {blocker!r} is a file", "Give a directory with --report-dir."
            ) from ex
        except OSError as ex:
            raise _refuse(
                path, f"cannot be created ({ex.strerror})", "Give a writable directory with --report-dir."
            ) from ex


def prepare_report_dir(path: Path) -> Path:
    """Create the report dir (0700) if missing and check it is safe and writable; returns its resolved path.

    Raises CliError (exit 2) naming the problem: a file, under a file, read-only or full, not the user's, or
    writable by others without being sticky and the user's.
    """
    _make_dirs(path)
    real = path.resolve()
    try:
        info = os.stat(real)
    except NotADirectoryError as ex:
        raise _refuse(path, "is under a file, not a directory", "Give a directory with --report-dir.") from ex
    except OSError as ex:
        raise _refuse(
            path, f"cannot be read ({ex.strerror})", "Give a directory you can write with --report-dir."
        ) from ex
    if not stat.S_ISDIR(info.st_mode):
        raise _refuse(path, "is a file, not a directory", "Give a directory with --report-dir.")
    me = os.geteuid()
    if info.st_uid not in (me, 0):
        raise _refuse(
            path,
            f"belongs to another user (uid {info.st_uid}), who could replace the report files",
            "Use a directory of your own.",
        )
    shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if shared and not (info.st_mode & stat.S_ISVTX and info.st_uid == me):
        raise _refuse(
            path,
            f"is writable by other users (mode {stat.S_IMODE(info.st_mode):o}) and not a sticky dir of yours",
            "Run 'chmod go-w' on it or use a private directory (the default is private).",
        )
    _check_writable(real, path)
    return real


def _check_writable(real: Path, shown: Path) -> None:
    probe = f".azlin-fleet-probe-{secrets.token_hex(6)}"
    try:
        fd = open_dir(real)
        try:
            create_file(fd, probe, b"probe\n")
            os.unlink(probe, dir_fd=fd)
        finally:
            os.close(fd)
    except OSError as ex:
        raise _refuse(shown, f"is not writable ({ex.strerror})", "Give a writable directory with --report-dir.") from ex


def new_report_name(kind: str, now: datetime | None = None) -> str:
    """A report name unique across runs, hosts and containers: ``fleet-<kind>-<UTC time>-<random>``."""
    now = now or datetime.now(UTC)
    return f"fleet-{kind}-{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What a saved report was a run of (written by the CLI beside the report)."""

    subcommand: str
    command: str | None
    workflow: str | None
    targets: str | None

    def matches(self, other: RunRecord) -> bool:
        """Same command or workflow on the same targets (what ``--compare-to last`` compares with)."""
        return (self.subcommand, self.command, self.workflow, self.targets) == (
            other.subcommand,
            other.command,
            other.workflow,
            other.targets,
        )


def save_report(
    source_fd: int, name: str, directory: Path, record: RunRecord, formats: tuple[str, ...]
) -> tuple[list[Path], OSError | None]:
    """Copy the report files ``name.<fmt>`` from the private workspace into the report dir, plus the run record.

    Returns the files saved and the error that stopped the rest (e.g. ENOSPC), if any: what was saved stays.
    """
    written: list[Path] = []
    try:
        fd = open_dir(directory)
    except OSError as ex:
        return written, ex
    try:
        for fmt in formats:
            try:
                data = read_file(source_fd, f"{name}.{fmt}")
            except FileNotFoundError:
                continue
            write_file_atomic(fd, f"{name}.{fmt}", data)
            written.append(directory / f"{name}.{fmt}")
        body = {
            "subcommand": record.subcommand,
            "command": record.command,
            "workflow": record.workflow,
            "targets": record.targets,
        }
        write_file_atomic(fd, f".{name}{RECORD_SUFFIX}", json.dumps(body, ensure_ascii=False).encode() + b"\n")
    except OSError as ex:
        return written, ex
    finally:
        os.close(fd)
    return written, None


def save_log(source_fd: int, log_name: str, directory: Path, name: str) -> Path | None:
    """Keep ansible-playbook's output beside the reports (``<name>.ansible.log``); None if that fails."""
    try:
        data = read_file(source_fd, log_name)
        fd = open_dir(directory)
        try:
            create_file(fd, f"{name}.ansible.log", data)
        finally:
            os.close(fd)
    except OSError:
        return None
    return directory / f"{name}.ansible.log"


@dataclass(frozen=True, slots=True)
class SavedReport:
    """One report in a report dir, with what the CLI recorded about it (if anything)."""

    path: Path
    report: Mapping[str, Any]
    record: RunRecord | None

    @property
    def started(self) -> str:
        return str(self.report.get("started") or "")


def parse_report(data: bytes, where: str) -> dict[str, Any]:
    """A JSON report from bytes; CliError (exit 2) when it is not one."""
    try:
        report = json.loads(data)
    except ValueError as ex:
        raise CliError(ExitCode.USAGE, f"report {where!r} is not valid JSON ({ex}).") from ex
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT:
        raise CliError(ExitCode.USAGE, f"report {where!r} is not an {REPORT_FORMAT} file.")
    return report


def _read_record(fd: int, name: str) -> RunRecord | None:
    try:
        loaded = json.loads(read_file(fd, f".{name}{RECORD_SUFFIX}"))
    except (OSError, ValueError):
        return None
    if not isinstance(loaded, dict):
        return None
    fields = {key: loaded.get(key) for key in ("subcommand", "command", "workflow", "targets")}
    if not all(value is None or isinstance(value, str) for value in fields.values()) or not fields["subcommand"]:
        return None
    return RunRecord(**fields)  # type: ignore[arg-type]


def _newest_first(directory: Path) -> tuple[int, list[str]] | None:
    """An open descriptor of the dir and its report files (``*.json``, regular, not hidden), newest saved first."""
    try:
        fd = open_dir(directory)
    except FileNotFoundError:
        return None
    except OSError as ex:
        raise CliError(ExitCode.USAGE, f"report dir {str(directory)!r} cannot be read ({ex.strerror}).") from ex
    found = []
    for entry in os.scandir(fd):
        if entry.name.startswith(".") or not entry.name.endswith(".json"):
            continue
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(info.st_mode):
            found.append((info.st_mtime_ns, entry.name))
    return fd, [name for _, name in sorted(found, reverse=True)]


def _iter_reports(directory: Path, record: RunRecord | None = None) -> Iterator[SavedReport]:
    # Newest first, parsing only what is asked for: the run records are tiny, reports can be large.
    listing = _newest_first(directory)
    if listing is None:
        return
    fd, names = listing
    try:
        for file_name in names:
            name = file_name.removesuffix(".json")
            saved_record = _read_record(fd, name)
            if record is not None and (saved_record is None or not saved_record.matches(record)):
                continue
            try:
                report = parse_report(read_file(fd, file_name), file_name)
            except (OSError, CliError):
                continue
            yield SavedReport(directory / file_name, report, saved_record)
    finally:
        os.close(fd)


def list_reports(directory: Path, limit: int | None = None) -> list[SavedReport]:
    """The JSON reports of a report dir, newest first (by when they were saved); unreadable files are skipped."""
    found = []
    for saved in _iter_reports(directory):
        found.append(saved)
        if limit is not None and len(found) >= limit:
            break
    return found


def find_last(directory: Path, record: RunRecord | None = None) -> SavedReport | None:
    """The newest report of the dir; with ``record``, the newest of the same command/workflow and targets."""
    return next(_iter_reports(directory, record), None)


def describe_report(saved: SavedReport) -> list[str]:
    """One row of ``report list``: time, command, targets, status, counts."""
    report, record = saved.report, saved.record
    run = report.get("run") if isinstance(report.get("run"), Mapping) else {}
    if record is not None:
        what = record.command if record.command is not None else f"workflow {record.workflow}"
        targets = record.targets or "-"
    else:
        what = ", ".join(str(p) for p in report.get("playbooks") or []) or "-"
        targets = "-"
    status = str(
        run.get("status")
        or ("interrupted" if report.get("interrupted") else "complete" if report.get("complete") else "incomplete")
    )
    counts = report.get("counts") if isinstance(report.get("counts"), Mapping) else {}
    counted = " ".join(f"{key}={value}" for key, value in counts.items()) or "none"
    return [saved.started[:19].replace("T", " ") or "-", what, targets, status, counted, saved.path.name]
