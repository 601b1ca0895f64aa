# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe in one SSH exec: a POSIX ``sh`` command for the host, and the controller-side parser of its output.

The host needs no Python: the command reads the cpu lines of ``/proc/stat`` (with ``sed``; twice, ``interval``
seconds apart, inside the same exec), ``/proc/loadavg``, ``/proc/meminfo``, ``/proc/uptime``, the host's clock
(``date``), the utmp file as hex bytes (``od -An -v -tx1``, POSIX, so the binary records cross the text-only channel
unchanged) and the access times of the terminals (``stat -c``), each in a section headed by a ``@@`` line. The
controller turns the sections into the same metrics dict as the ``fleet_probe`` module, with the same parsers
(``module_utils/proc_metrics.py``).

Fractional intervals need a ``sleep`` that takes fractions (GNU coreutils and BusyBox do); a strictly POSIX one
that refuses ``0.5`` sleeps a whole second instead, which only lengthens the CPU sample.

Anything the host sends is untrusted: garbage raises :class:`ProbeOutputError` naming what is wrong, so the host is
unmeasurable and the others are routed as usual.
"""

from __future__ import annotations

import math
import shlex
import struct
from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.azlin.fleet.plugins.module_utils.proc_metrics import (
    meets_limits,
    metrics_from,
    parse_loadavg,
    parse_meminfo,
    parse_stat,
    parse_uptime,
    parse_utmp,
    session_idle,
)

PROBE_VERSION = "1"
#: the action that runs this probe on a host (the routing probe, the strategies' threads, step `when` gates)
PROBE_ACTION = "azlin.fleet.probe_host"
MAX_INTERVAL = 60.0
#: the default sampling window: the routing delay a run pays once (all hosts' windows overlap) against how short a
#: burst can sway a host's CPU % (see README, "How routing measures"). 0.4 s keeps routing within 15 % of an
#: unrouted run of a trivial command on 16 hosts (benchmarks/bench_routing.py), which 0.5 s met only half the time.
DEFAULT_INTERVAL = 0.4
UTMP_PATHS = ("/run/utmp", "/var/run/utmp")
# the metrics dict every probe path returns: name -> the Python types its value may have
METRIC_TYPES: dict[str, tuple[type, ...]] = {
    "load1": (int, float),
    "load5": (int, float),
    "load15": (int, float),
    "cpus": (int,),
    "cpu": (int, float),
    "mem": (int, float),
    "users": (int,),
    "sessions": (list,),
    "uptime": (int, float),
    "interval": (int, float),
}

_UNREADABLE_HINT = "The host is unmeasurable; check that /proc is mounted and readable."


class ProbeOutputError(ValueError):
    """The probe's output (or a probe result) is unusable; the message says why, for the host's reason."""


def probe_command(interval: float) -> str:
    """Return the ``sh`` command that measures a host in one exec, sampling /proc/stat ``interval`` seconds apart."""
    seconds = float(interval)
    if not 0 <= seconds <= MAX_INTERVAL:
        raise ValueError(f"interval {interval!r} is outside 0..{MAX_INTERVAL:g} seconds")
    wait = shlex.quote(f"{seconds:g}")
    utmp = " ".join(UTMP_PATHS)
    # Shell builtins read the /proc files (a fork and an exec per file would cost the host more than the reading):
    # _f prints one file as a section, _c only the cpu lines of /proc/stat (its intr line alone can be tens of kB
    # on a big VM, and the probe reads it twice). A file that cannot be opened is an @@error section with the
    # shell's own message instead (2>&1 comes first so that the failed redirection's message is the one captured).
    return (
        "LC_ALL=C; export LC_ALL; "
        '_e() { _o=$( { :; } 2>&1 < "$1" ); printf \'@@error %s\\n%s\\n\' "$1" "${_o:-cannot read $1}"; }; '
        '_f() { { printf \'@@file %s\\n\' "$1"; while IFS= read -r _l || [ -n "$_l" ]; do '
        'printf \'%s\\n\' "$_l"; done; } 2>/dev/null < "$1" || _e "$1"; }; '
        "_c() { { printf '@@file /proc/stat\\n'; while IFS= read -r _l; do case $_l in cpu*) "
        "printf '%s\\n' \"$_l\";; *) break;; esac; done; } 2>/dev/null < /proc/stat || _e /proc/stat; }; "
        f"echo '@@probe {PROBE_VERSION}'; _c; "
        f"sleep {wait} 2>/dev/null || sleep 1; "
        "_c; _f /proc/loadavg; _f /proc/meminfo; _f /proc/uptime; "
        "printf '@@now %s\\n' \"$(date +%s.%N)\"; "
        f'for _u in {utmp}; do if [ -e "$_u" ]; then '
        'if _o=$(od -An -v -tx1 "$_u" 2>&1); then printf \'@@utmp %s\\n%s\\n\' "$_u" "$_o"; '
        'else printf \'@@error %s\\n%s\\n\' "$_u" "$_o"; fi; break; fi; done; '
        "echo '@@ttys'; stat -c '%n %X' /dev/pts/[0-9]* /dev/tty[0-9]* 2>/dev/null; "
        "echo '@@end'"
    )


def _sections(stdout: str) -> list[tuple[str, str, str]]:
    """Split the output into (kind, argument, body) in order."""
    sections: list[tuple[str, str, list[str]]] = []
    for line in stdout.splitlines():
        if line.startswith("@@"):
            kind, dummy, arg = line[2:].partition(" ")
            sections.append((kind, arg.strip(), []))
        elif sections:
            sections[-1][2].append(line)
        elif line.strip():
            raise ProbeOutputError(f"unexpected output before the probe header: {line[:80]!r}")
    return [(kind, arg, "\n".join(body)) for kind, arg, body in sections]


def _parsed(path: str, parser: Any, body: Any) -> Any:
    try:
        return parser(body)
    except ValueError as ex:
        raise ProbeOutputError(f"Cannot parse {path}: {ex}.") from None


def _clock(text: str) -> float:
    # BusyBox and other dates without %N print a literal N (or nothing) after the dot: whole seconds then
    head = text.strip().split(".", 1)
    try:
        value = float(text.strip()) if len(head) == 2 and head[1].isdigit() else float(head[0])
    except ValueError:
        raise ProbeOutputError(f"the host's clock reading {text.strip()[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ProbeOutputError(f"the host's clock reading {text.strip()[:40]!r} is not a number")
    return value


def _utmp_bytes(path: str, body: str) -> bytes:
    try:
        return bytes.fromhex("".join(body.split()))
    except ValueError:
        raise ProbeOutputError(f"Cannot parse {path}: the od dump is not hex bytes.") from None


def _tty_atimes(body: str) -> dict[str, float]:
    atimes = {}
    for line in body.splitlines():
        name, dummy, value = line.strip().rpartition(" ")
        if name.startswith("/dev/"):
            try:
                atimes[name[len("/dev/") :]] = float(value)
            except ValueError:
                continue  # a tty that vanished mid-probe: its session falls back to its login time
    return atimes


def parse_probe_output(stdout: str, interval: float) -> dict[str, Any]:
    """Turn the output of :func:`probe_command` into the metrics dict; raise ProbeOutputError naming the problem."""
    try:
        return _parse_probe_output(stdout, interval)
    except ProbeOutputError:
        raise
    except (ArithmeticError, IndexError, KeyError, TypeError, ValueError, struct.error) as ex:
        # whatever the host sent, a parser slip is that host's problem, never the run's
        raise ProbeOutputError(f"the probe output cannot be parsed ({type(ex).__name__}: {ex})") from None


def _parse_probe_output(stdout: str, interval: float) -> dict[str, Any]:
    sections = _sections(stdout)
    if not sections or sections[0][0] != "probe":
        raise ProbeOutputError("the host did not answer with a probe (no '@@probe' header); is /bin/sh a POSIX shell?")
    if not any(section[0] == "end" for section in sections):
        raise ProbeOutputError("the probe output stops before its end marker (the command was cut short)")
    for kind, arg, body in sections:
        if kind == "error":
            reason = body.strip().splitlines()[-1] if body.strip() else "unknown error"
            # cat's message is "cat: PATH: REASON": keep the reason
            reason = reason.rpartition(": ")[2] or reason
            raise ProbeOutputError(f"Cannot read {arg}: {reason}. {_UNREADABLE_HINT}")
    files = [(arg, body) for kind, arg, body in sections if kind == "file"]
    stats = [body for path, body in files if path == "/proc/stat"]
    single = {path: body for path, body in files if path != "/proc/stat"}
    if len(stats) != 2:
        raise ProbeOutputError(f"expected two samples of /proc/stat, got {len(stats)}")
    for path in ("/proc/loadavg", "/proc/meminfo", "/proc/uptime"):
        if path not in single:
            raise ProbeOutputError(f"the probe output has no {path} section")
    first = _parsed("/proc/stat", parse_stat, stats[0])
    second = _parsed("/proc/stat", parse_stat, stats[1])
    load1, load5, load15 = _parsed("/proc/loadavg", parse_loadavg, single["/proc/loadavg"])
    mem = _parsed("/proc/meminfo", parse_meminfo, single["/proc/meminfo"])
    uptime = _parsed("/proc/uptime", parse_uptime, single["/proc/uptime"])
    clock = [body or arg for kind, arg, body in sections if kind == "now"]
    if not clock:
        raise ProbeOutputError("the probe output has no clock reading")
    now = _clock(clock[0])
    sessions: list[dict[str, Any]] = []
    utmp = [(arg, body) for kind, arg, body in sections if kind == "utmp"]
    if utmp:
        path, body = utmp[0]
        atimes = _tty_atimes(next((body for kind, dummy, body in sections if kind == "ttys"), ""))
        sessions = _parsed(path, parse_utmp, _utmp_bytes(path, body))
        for session in sessions:
            session["idle"] = session_idle(now, session.pop("login"), atimes.get(session["line"]))
    return check_metrics(metrics_from((load1, load5, load15), first, second, mem, uptime, sessions, float(interval)))


def _number(name: str, value: Any, types: tuple[type, ...]) -> Any:
    if isinstance(value, bool) or not isinstance(value, types):
        raise ProbeOutputError(f"{name} is {str(value)[:40]!r}, not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProbeOutputError(f"{name} is {value!r}, not a finite number")
    if value < 0:
        raise ProbeOutputError(f"{name} is {value!r}, below 0")
    return value


def check_metrics(metrics: Any) -> dict[str, Any]:
    """Return a plain copy of a metrics dict whose every field has the right type; raise ProbeOutputError otherwise.

    A probe result comes from the host, which may be compromised: a string, NaN, a negative or a missing field makes
    that one host unmeasurable, never routing as a whole.
    """
    if not isinstance(metrics, Mapping):
        raise ProbeOutputError(f"the metrics are a {type(metrics).__name__}, not a mapping")
    if metrics.get("source") == "azure":
        return _check_azure_metrics(metrics)
    out: dict[str, Any] = {}
    for name, types in METRIC_TYPES.items():
        if name not in metrics:
            raise ProbeOutputError(f"the metrics lack {name!r}")
        value = metrics[name]
        if name == "sessions":
            if not isinstance(value, list):
                raise ProbeOutputError(f"sessions is a {type(value).__name__}, not a list")
            sessions = []
            for session in value:
                if not isinstance(session, Mapping):
                    raise ProbeOutputError("a session is not a mapping")
                idle = _number("a session's idle time", session.get("idle"), (int, float))
                sessions.append(
                    {
                        "user": str(session.get("user", "")),
                        "line": str(session.get("line", "")),
                        "host": str(session.get("host", "")),
                        "idle": int(idle),
                    }
                )
            out[name] = sessions
            continue
        out[name] = _number(name, value, types)
    if out["cpus"] < 1:
        raise ProbeOutputError(f"cpus is {out['cpus']!r}, below 1")
    for name in ("cpu", "mem"):
        if out[name] > 100:
            raise ProbeOutputError(f"{name} is {out[name]!r}, above 100 %")
    if out["users"] != len(out["sessions"]):
        raise ProbeOutputError(f"users is {out['users']} but {len(out['sessions'])} session(s) are listed")
    return out


#: What Azure Monitor measures (``azlin.fleet.azure_metrics``): CPU always, memory when asked; the rest is SSH-only.
AZURE_METRICS = ("cpu", "mem")


def _check_azure_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Azure Monitor metrics: ``cpu`` (and ``mem`` when present) as percentages, with their age and granularity."""
    if "cpu" not in metrics:
        raise ProbeOutputError("the Azure Monitor metrics lack 'cpu'")
    out: dict[str, Any] = {"source": "azure"}
    for name in AZURE_METRICS:
        if name in metrics:
            out[name] = _number(name, metrics[name], (int, float))
            if out[name] > 100:
                raise ProbeOutputError(f"{name} is {out[name]!r}, above 100 %")
    for name in ("granularity", "time"):
        if isinstance(metrics.get(name), str):
            out[name] = metrics[name][:40]
    if "age" in metrics:
        out["age"] = _number("age", metrics["age"], (int, float))
    return out


def wait_until(
    measure: Callable[[], dict[str, Any]],
    limits: list[dict[str, Any]],
    timeout: float,
    clock: Callable[[], float],
) -> tuple[dict[str, Any], bool, float]:
    """Re-measure until the metrics meet ``limits`` or ``timeout`` seconds pass; return (metrics, met, waited).

    ``clock`` is the controller's monotonic clock: a host whose wall clock steps neither lengthens the wait nor
    changes the waited time reported. Each round is one probe, paced by the probe's own sampling interval.
    """
    started = clock()
    while True:
        metrics = measure()
        waited = max(0.0, clock() - started)
        if meets_limits(limits, metrics):
            return metrics, True, round(waited, 1)
        if waited >= timeout:
            return metrics, False, round(waited, 1)


def measure_with(execute: Callable[[str], Mapping[str, Any]], interval: float) -> dict[str, Any]:
    """Measure a host with one exec of :func:`probe_command` through ``execute``; return the metrics dict.

    ``execute(command)`` runs the command on the host and returns ``{"rc", "stdout", "stderr"}`` as text, e.g. an
    action's ``lambda cmd: self._low_level_execute_command(cmd, sudoable=False)``. Raises ProbeOutputError when
    the host's answer is unusable (the host is then unmeasurable).
    """
    res = execute(probe_command(interval))
    stdout = _text(res.get("stdout"))
    if res.get("rc") != 0:
        detail = (_text(res.get("stderr")).strip() or stdout.strip())[-200:] or "no output"
        raise ProbeOutputError(f"the probe command exited {res.get('rc')}: {detail}")
    return parse_probe_output(stdout, interval)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def probe_result(
    execute: Callable[[str], Mapping[str, Any]], interval: float, clock: Callable[[], float]
) -> dict[str, Any]:
    """Measure a host once and return the task result every probe path registers (as ``fleet_probe``).

    ``{"changed": False, "metrics", "probed_at"}`` (``clock()`` after the exec), or, when the host's answer is
    unusable, ``unmeasurable`` with the reason: that is the host's own outcome, never a failed task.
    """
    try:
        metrics = measure_with(execute, interval)
    except ProbeOutputError as ex:
        return unmeasurable_result(str(ex))
    return {"changed": False, "metrics": metrics, "probed_at": clock()}


def unmeasurable_result(reason: str) -> dict[str, Any]:
    """The task result of a host whose probe answer is unusable: its own outcome, reported, never a failed task."""
    return {
        "changed": False,
        "unmeasurable": True,
        "fleet_status": "unmeasurable",
        "fleet_reason": reason,
        "msg": reason,
    }
