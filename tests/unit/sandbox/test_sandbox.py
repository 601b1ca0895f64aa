"""Sandbox identity: reserved names for the demo and test sandboxes, hashed (and movable) ones otherwise."""

from __future__ import annotations

from pathlib import Path

from azlin_fleet_sandbox.sandbox import sandbox_identity


def test_demo_and_test_sandboxes_have_reserved_names_and_subnets() -> None:
    assert sandbox_identity(Path("/work/main/.sandbox")) == ("azf", 0)
    assert sandbox_identity(Path("/elsewhere/.sandbox-test")) == ("azt", 1)


def test_other_state_dirs_get_a_four_letter_prefix_that_cannot_shadow_the_reserved_ones() -> None:
    prefixes = {sandbox_identity(Path(f"/tmp/sandbox-{i}"))[0] for i in range(50)}
    assert all(len(p) == 4 and p.startswith("az") and p.isalpha() for p in prefixes)
    assert len(prefixes) > 40  # spread out, so two engineers' sandboxes rarely start on the same name
    nets = {sandbox_identity(Path(f"/tmp/sandbox-{i}"))[1] for i in range(50)}
    assert all(2 <= n <= 251 for n in nets)


def test_a_taken_identity_moves_on_to_the_next_candidate() -> None:
    first = sandbox_identity(Path("/tmp/x"), 0)
    assert sandbox_identity(Path("/tmp/x"), 0) == first
    assert sandbox_identity(Path("/tmp/x"), 1)[0] != first[0]
    assert sandbox_identity(Path("/tmp/x"), 1)[1] != first[1]
