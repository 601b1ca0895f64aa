"""Unit tests for the health_check module: the polling rule, each probe kind, and the module as a process."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.azlin.fleet.plugins.modules import health_check

MODULE = Path(health_check.__file__)


class Clock:
    """A clock that advances only when the code sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(*outcomes: bool):
    items = list(outcomes)

    def probe():
        ok = items.pop(0)
        return ok, "up" if ok else "down"

    return probe


@pytest.mark.parametrize(
    ("outcomes", "successes", "expected"),
    [
        ((True,), 1, (True, 1)),
        ((False, False, True), 1, (True, 3)),
        ((True, False, True, True), 2, (True, 4)),  # a failure resets the streak
        ((False,) * 10, 1, (False, 6)),  # 0,2,4,6,8,10: the next probe would pass the 10 s limit
    ],
    ids=["first-probe", "after-failures", "streak-reset", "gives-up-at-timeout"],
)
def test_wait_healthy_needs_consecutive_successes_within_timeout(outcomes, successes, expected) -> None:
    clock = Clock()
    healthy, probes, elapsed, last = health_check.wait_healthy(
        scripted(*outcomes), interval=2, timeout=10, successes=successes, clock=clock, sleep=clock.sleep
    )
    assert (healthy, probes) == expected
    assert last == ("up" if healthy else "down")
    assert elapsed <= 10


@pytest.fixture
def listening_port() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    yield server.getsockname()[1]
    server.close()


def test_probe_port_open_and_closed(listening_port: int) -> None:
    assert health_check.probe_port("127.0.0.1", listening_port, 1) == (True, f"port {listening_port} on 127.0.0.1 open")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    ok, detail = health_check.probe_port("127.0.0.1", port, 1)
    assert not ok and "refused" in detail.lower()


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_probe_url_compares_the_status(http_server: str) -> None:
    assert health_check.probe_url(http_server + "/ok", 200, 2, True) == (True, "HTTP 200")
    assert health_check.probe_url(http_server + "/down", 200, 2, True) == (False, "HTTP 503")
    assert health_check.probe_url(http_server + "/down", 503, 2, True) == (True, "HTTP 503")


def run_module(tmp_path: Path, **args: object) -> tuple[int, dict]:
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, timeout=60, check=False
    )
    return proc.returncode, json.loads(proc.stdout)


def test_module_command_probe_passes(tmp_path: Path) -> None:
    rc, result = run_module(tmp_path, command="test -d /", interval=0.1, timeout=5)
    assert rc == 0 and result["healthy"] is True and result["last"] == "exit code 0"


def test_module_fails_with_the_last_probe_after_timeout(tmp_path: Path) -> None:
    rc, result = run_module(tmp_path, command="echo broken >&2; exit 3", interval=0.2, timeout=0.5, successes=2)
    assert rc == 1 and result["failed"] is True and result["healthy"] is False
    assert result["last"] == "exit code 3: broken"
    assert result["msg"].startswith("Health check command 'echo broken >&2; exit 3' failed after")
    assert result["probes"] >= 2


def test_module_rejects_two_probe_kinds(tmp_path: Path) -> None:
    rc, result = run_module(tmp_path, command="true", port=22)
    assert rc == 1 and "mutually exclusive" in result["msg"]
