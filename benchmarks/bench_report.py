"""Benchmark the fleet_report callback: 2,000 hosts x 10 tasks, 64 KB outputs, 90 % identical.

Results go through the callback's real handlers (``v2_runner_on_start`` / ``v2_runner_on_ok``), loaded by
Ansible's plugin loader with its real options, as lightweight objects shaped like ``CallbackTaskResult``
(``host``, ``task``, ``result``). Every result carries a fresh copy of its output, as results arriving from
worker processes do.

Prints: added time per host-task (handler time only), peak traced memory while collecting, the size of the
distinct outputs, and their ratio; then the one-off cost of building and writing the report at the end.

    ANSIBLE_CONFIG=ansible.cfg .venv/bin/python benchmarks/bench_report.py [--hosts 2000] [--tasks 10]
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


def make_output(task: int, size: int, variant: str | None) -> str:
    """A fresh ~size-character output; variant (a host name) changes one line in the middle."""
    lines = [f"task {task} line {i:05d} ".ljust(LINE - 1, ".") for i in range(size // LINE)]
    if variant is not None:
        lines[len(lines) // 2] = f"task {task} diverges on {variant} ".ljust(LINE - 1, "!")
    return "\n".join(lines) + "\n"


def load_callback(report_dir: str, events: bool = False):
    os.environ.update(
        AZLIN_FLEET_REPORT_DIR=report_dir, AZLIN_FLEET_REPORT_NAME="bench", AZLIN_FLEET_REPORT_SUMMARY="false"
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


def feed(callback, hosts: int, tasks: int, size: int, divergent: float, trace: bool) -> tuple[float, int]:
    """Send every host-task through the handlers; return (handler seconds, peak traced bytes above the start)."""
    host_objs = [Host(f"node-{i}") for i in range(1, hosts + 1)]
    every = round(1 / divergent)
    handler_time = 0.0
    base_mem = 0
    if trace:
        gc.collect()
        tracemalloc.start()
        base_mem = tracemalloc.get_traced_memory()[0]
    for t in range(tasks):
        task = Task(t)
        callback.v2_playbook_on_task_start(task, False)
        baseline = make_output(t, size, None)
        for i, host in enumerate(host_objs):
            text = make_output(t, size, host.name) if i % every == every - 1 else baseline.encode().decode()
            result = Result(
                host,
                task,
                {"changed": False, "rc": 0, "stdout": text, "stderr": "", "delta": "0:00:00.010000", "msg": ""},
            )
            del text
            start = time.perf_counter()
            callback.v2_runner_on_start(host, task)
            callback.v2_runner_on_ok(result)
            handler_time += time.perf_counter() - start
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1] - base_mem
        tracemalloc.stop()
    return handler_time, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--size", type=int, default=64 * 1024, help="output size in characters")
    parser.add_argument("--divergent", type=float, default=0.10, help="share of hosts whose output is unique")
    parser.add_argument("--events", action="store_true", help="also append the live events file")
    args = parser.parse_args()
    host_tasks = args.hosts * args.tasks
    init_plugin_loader()
    with tempfile.TemporaryDirectory() as tmp:
        # Pass 1: time only (tracemalloc would slow every allocation).
        callback = load_callback(tmp, args.events)
        seconds, _ = feed(callback, args.hosts, args.tasks, args.size, args.divergent, trace=False)
        collector = callback._collector
        unique = sum(len(entry.text.encode()) for entry in collector.outputs.values())
        print(
            f"host-tasks: {host_tasks} ({args.hosts} hosts x {args.tasks} tasks, {args.size // 1024} KB outputs, "
            f"{100 - args.divergent * 100:.0f} % identical)"
        )
        print(f"added time per host-task: {seconds / host_tasks * 1000:.3f} ms (goal < 2 ms); total {seconds:.2f} s")
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
        _, peak = feed(callback, args.hosts, args.tasks, args.size, args.divergent, trace=True)
        print(
            f"peak memory while collecting (tracemalloc): {peak / 2**20:.1f} MiB; "
            f"ratio to distinct outputs: {peak / unique:.2f} (goal: proportional, ~1)"
        )
        raw_total = host_tasks * args.size
        print(
            f"for scale: all outputs together would be {raw_total / 2**20:.0f} MiB ({raw_total / peak:.1f}x the peak)"
        )


if __name__ == "__main__":
    main()
