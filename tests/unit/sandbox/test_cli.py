"""The azlin-fleet-sandbox CLI: usage errors exit 2, a sandbox that is not up exits 1, both without changes."""

from __future__ import annotations

import pytest

from azlin_fleet_sandbox.cli import main


@pytest.mark.parametrize(
    "argv",
    [["load", "web-1", "--load", "1,2"], ["load", "web-1", "--cpu", "x"], ["fault", "web-1", "melt"], ["frobnicate"]],
    ids=["load-two-values", "cpu-not-a-number", "unknown-fault", "unknown-command"],
)
def test_usage_errors_exit_2(argv: list[str], tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--state-dir", str(tmp_path)] if argv[0] != "frobnicate" else argv)
    assert exc.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_acting_on_a_sandbox_that_is_not_up_fails_with_a_hint(tmp_path, capsys) -> None:
    assert main(["fault", "web-1", "stop", "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("azlin-fleet-sandbox: Sandbox in ")
    assert "is not up. Start it with 'azlin-fleet-sandbox up'" in err


def test_status_of_a_sandbox_that_is_down(tmp_path, capsys) -> None:
    assert main(["status", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"sandbox in {tmp_path}: down\n"
