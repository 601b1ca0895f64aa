"""Benchmark the fleet_report callback: 2,000 hosts x 10 tasks, 64 KB outputs, 90 % identical.

Results go through the callback's real handlers (``v2_runner_on_start`` / ``v2_runner_on_ok``), loaded by
Ansible's plugin loader with its real options, as lightweight objects shaped like ``CallbackTaskResult``
(``host``, ``task``, ``result``). Every result carries a fresh copy of its output, as results arriving from
worker processes do.

Prints: added time per host-task (handler time only, host normalisation on, as by default), the cost of host
normalisation per host-task (the same run with it off), peak traced memory while collecting, the size of the
distinct outputs, and their ratio; then the one-off cost of building and writing the report at the end.
``--named`` makes that share of outputs name their own host on their first line (normalisation's worst case:
every such output must be searched and rewritten); the divergent outputs always name their host.

    ANSIBLE_CONFIG=ansible.cfg .venv/bin/python benchmarks/bench_report.py [--hosts 2000] [--tasks 10] [--named 0.5]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
os.chdir(ROOT)  # ansible.cfg's collections_path is relative to the repo root

from ansible.plugins.loader import callback_loader, init_plugin_loader  # noqa: E402

LINE = 64  # characters per output line, newline included


class Host:
    def __init__(self, name: str, address: str | None = None) -> None:
        self.name = name
        self.vars = {"ansible_host": address} if address else {}

    def get_name(self) -> str:
        return self.name


class Task:
    no_log = False

    def __init__(self, index: int) -> None:
        self._uuid = f"task-{index:04d}"
        self.name = f"Run command {index}"

    def get_name(self) -> str:
        return self.name

    def get_path(self) -> str:
        return f"bench.yml:{self._uuid[-4:]}"

    def get_vars(self) -> dict:
        return {}


class Result:
    """What a callback handler reads from a CallbackTaskResult."""

    def __init__(self, host: Host, task: Task, result: dict) -> None:
        self.host = host
        self.task = task
        self.result = result


def make_output(task: int, size: int, variant: str | None, named: str | None = None) -> str:
    """A fresh ~size-character output; variant (a host name) changes one line in the middle; named (a host name)
    puts the host's name on the first line, as `hostname` or a deploy log would."""
    lines = [f"task {task} line {i:05d} ".ljust(LINE - 1, ".") for i in range(size // LINE)]
    if variant is not None:
        lines[len(lines) // 2] = f"task {task} diverges on {variant} ".ljust(LINE - 1, "!")
    if named is not None:
        lines[0] = f"deployed on {named} ".ljust(LINE - 1, ".")
    return "\n".join(lines) + "\n"


def load_callback(report_dir: str, events: bool = False, normalize: bool = True):
    os.environ.update(
        AZLIN_FLEET_REPORT_DIR=report_dir,
        AZLIN_FLEET_REPORT_NAME="bench",
        AZLIN_FLEET_REPORT_SUMMARY="false",
        AZLIN_FLEET_NORMALIZE_HOSTS=str(normalize).lower(),
    )
    if events:
        os.environ["AZLIN_FLEET_EVENTS_FILE"] = os.path.join(report_dir, "events.jsonl")
    callback = callback_loader.get("azlin.fleet.fleet_report")
    if callback is None:
        sys.exit(
            "bench_report: cannot load azlin.fleet.fleet_report; run from the repo with ANSIBLE_CONFIG=ansible.cfg"
        )
    callback.set_options()
    return callback


def feed(
    callbacks: list, hosts: int, tasks: int, size: int, divergent: float, trace: bool, named: float = 0.0
) -> tuple[list[float], int]:
    """Send every host-task through the handlers of each callback in turn (the same results, interleaved, so a
    busy machine slows them alike); return (handler seconds per callback, peak traced bytes above the start)."""
    host_objs = [Host(f"node-{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(1, hosts + 1)]
    every = round(1 / divergent)
    named_every = round(1 / named) if named else 0
    handler_time = [0.0] * len(callbacks)
    base_mem = 0
    if trace:
        gc.collect()
        tracemalloc.start()
        base_mem = tracemalloc.get_traced_memory()[0]
    for t in range(tasks):
        task = Task(t)
        for callback in callbacks:
            callback.v2_playbook_on_task_start(task, False)
        baseline = make_output(t, size, None)
        for i, host in enumerate(host_objs):
            if i % every == every - 1:
                text = make_output(t, size, host.name)
            elif named_every and i % named_every == 0:
                text = make_output(t, size, None, host.name)
            else:
                text = baseline.encode().decode()
            for number, callback in enumerate(callbacks):
                # A fresh copy for each, as results arriving from worker processes are.
                stdout = text if number == 0 else text.encode().decode()
                result = Result(
                    host,
                    task,
                    {"changed": False, "rc": 0, "stdout": stdout, "stderr": "", "delta": "0:00:00.010000", "msg": ""},
                )
                del stdout
                start = time.perf_counter()
                callback.v2_runner_on_start(host, task)
                callback.v2_runner_on_ok(result)
                handler_time[number] += time.perf_counter() - start
            del text
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1] - base_mem
        tracemalloc.stop()
    return handler_time, peak


def rss_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (VmRSS now, VmHWM the peak so far), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_rss(total_mb: int, hosts: int, events: bool) -> None:
    """Feed total_mb MiB of distinct output (hosts x total/hosts MiB, every output different, naming its host,
    with a secret per 100 lines) through the handlers and report the growth of the peak RSS."""
    per_host = total_mb * 2**20 // hosts
    with tempfile.TemporaryDirectory() as tmp:
        callback = load_callback(tmp, events)
        task = Task(0)
        callback.v2_playbook_on_task_start(task, False)
        gc.collect()
        before = rss_kib("VmRSS")
        for i in range(1, hosts + 1):
            host = Host(f"node-{i}", f"10.0.0.{i}")
            line = f"node-{i} deploy step {{:07d}} writes its log line ok\n"
            count = per_host // len(line.format(0))
            text = "".join(line.format(n) if n % 100 else f"node-{i} token=secret{n}\n" for n in range(count))
            callback.v2_runner_on_start(host, task)
            callback.v2_runner_on_ok(Result(host, task, {"changed": False, "rc": 0, "stdout": text, "stderr": ""}))
            del text
        peak = rss_kib("VmHWM")
        start = time.perf_counter()
        callback.v2_playbook_on_stats(None)
        end_seconds = time.perf_counter() - start
        after = rss_kib("VmHWM")
    print(
        f"RSS: {total_mb} MiB of output from {hosts} hosts ({per_host / 2**20:.0f} MiB each, all different): "
        f"peak RSS grew {(peak - before) / 1024:.0f} MiB while collecting ({(peak - before) / 1024 / total_mb:.2f}x "
        f"the output; one output is held by the caller at a time, as Ansible holds one result), "
        f"{(after - before) / 1024:.0f} MiB including the end of run ({end_seconds:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--size", type=int, default=64 * 1024, help="output size in characters")
    parser.add_argument("--divergent", type=float, default=0.10, help="share of hosts whose output is unique")
    parser.add_argument("--events", action="store_true", help="also append the live events file")
    parser.add_argument("--named", type=float, default=0.0, help="share of outputs naming their own host")
    parser.add_argument("--rss-mb", type=int, default=0, help="instead: feed this many MiB of output, report RSS")
    args = parser.parse_args()
    if args.rss_mb:
        init_plugin_loader()
        measure_rss(args.rss_mb, args.hosts, args.events)
        return
    host_tasks = args.hosts * args.tasks
    init_plugin_loader()
    with tempfile.TemporaryDirectory() as tmp:
        # Pass 1: time only (tracemalloc would slow every allocation), host normalisation on (the default) and,
        # for its cost, off, fed the same results in turn.
        callback = load_callback(tmp, args.events)
        plain = load_callback(tmp, args.events, normalize=False)
        (seconds, plain_seconds), _ = feed(
            [callback, plain], args.hosts, args.tasks, args.size, args.divergent, False, args.named
        )
        plain_outputs = len(plain._collector.outputs)
        del plain
        gc.collect()
        collector = callback._collector
        unique = sum(len(entry.text.encode()) for entry in collector.outputs.values())
        print(
            f"host-tasks: {host_tasks} ({args.hosts} hosts x {args.tasks} tasks, {args.size // 1024} KB outputs, "
            f"{100 - args.divergent * 100:.0f} % identical, {args.named * 100:.0f} % naming their host)"
        )
        print(f"added time per host-task: {seconds / host_tasks * 1000:.3f} ms (goal < 2 ms); total {seconds:.2f} s")
        print(
            f"host normalisation: {(seconds - plain_seconds) / host_tasks * 1000:+.3f} ms per host-task "
            f"(off: {plain_seconds / host_tasks * 1000:.3f} ms); distinct outputs {plain_outputs} -> "
            f"{len(collector.outputs)}"
        )
        print(f"distinct outputs stored: {len(collector.outputs)} ({unique / 2**20:.1f} MiB)")
        start = time.perf_counter()
        callback.v2_playbook_on_stats(None)
        end_seconds = time.perf_counter() - start
        sizes = {p.suffix: p.stat().st_size for p in Path(tmp).iterdir() if p.name.startswith("bench.")}
        print(
            f"end of run (group, diff, render, write json/md/html): {end_seconds:.2f} s; files: "
            + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sorted(sizes.items()))
        )
        del callback, collector
        gc.collect()
        # Pass 2: memory.
        callback = load_callback(tmp, args.events)
        _, peak = feed([callback], args.hosts, args.tasks, args.size, args.divergent, True, args.named)
        print(
            f"peak memory while collecting (tracemalloc): {peak / 2**20:.1f} MiB; "
            f"ratio to distinct outputs: {peak / unique:.2f} (goal: proportional, ~1); beyond the distinct outputs, "
            f"{(peak - unique) / host_tasks:.0f} bytes per host-task (its row: status, keys, times)"
        )
        raw_total = host_tasks * args.size
        print(
            f"for scale: all outputs together would be {raw_total / 2**20:.0f} MiB ({raw_total / peak:.1f}x the peak)"
        )


if __name__ == "__main__":
    main()
