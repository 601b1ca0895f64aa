"""Flags -> validated extra vars for the azlin.fleet playbooks (names in docs/dev/CONTRACTS.md).

Every value is checked by the collection's own parser (gate grammar, parallel/max-failures values, workflow
schema, group-name sanitizing) before anything runs, so a bad value fails here with exit code 2 and the same
message ``ansible-playbook`` would give.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azlin_fleet_cli.collection import import_plugin_utils
from azlin_fleet_cli.outcome import CliError, ExitCode

DEFAULT_HEALTH_CMD = "/bin/true"
_GATE_FLAGS = (("if_cpu_below", "cpu<{}"), ("if_mem_below", "mem<{}"), ("if_load_below", "load<{}"))


def _plugin_function(module: str, *names: str) -> Callable[..., Any]:
    loaded = import_plugin_utils(module)
    for name in names:
        function = getattr(loaded, name, None)
        if callable(function):
            return function
    raise CliError(
        ExitCode.USAGE,
        f"collection 'azlin.fleet' is incompatible: plugin_utils.{module} has none of {', '.join(names)}. "
        "Install the collection version that matches this CLI.",
    )


def group_name(kind: str, value: str, tag_value: str = "") -> str:
    """The inventory's own group naming (sanitized, rg lower-cased), so --pool/--tag/--resource-group name the
    groups azlin.fleet.azure_pools built."""
    return str(_plugin_function("azure_vms", "group_name")(kind, value, tag_value))


def glob_pattern(glob: str) -> str:
    """A host pattern matching VM names against a shell glob.

    Ansible reads ``web-[12]`` as element 12 of group ``web-``, so a glob with a character class becomes an
    anchored ``~regex`` pattern; other globs are Ansible's own fnmatch patterns.
    """
    # ',' and ':' separate host patterns; a leading '!', '&' or '~' would change what the pattern means.
    if not glob or any(ch in glob for ch in ",:") or glob[0] in "!&~":
        raise CliError(
            ExitCode.USAGE,
            f"--pattern {glob!r} is not a VM name glob: it must be non-empty, contain no ',' or ':' and not start "
            "with '!', '&' or '~'. Use *, ? and [..] wildcards, e.g. --pattern 'web-*'.",
        )
    if "[" not in glob:
        return glob
    regex, index = [], 0
    while index < len(glob):
        char = glob[index]
        end = glob.find("]", index + 2) if char == "[" else -1
        if char == "[" and end != -1:
            body = glob[index + 1 : end]
            regex.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            index = end + 1
            continue
        regex.append({"*": ".*", "?": "."}.get(char, re.escape(char)))
        index += 1
    return "~" + "".join(regex) + "$"


def build_targets(args: argparse.Namespace) -> str | None:
    """Host pattern from the selection flags, ANDed with ``:&``; None when no selection flag was given."""
    if args.all:
        others = args.pool or args.tag or args.pattern or args.resource_group
        if others:
            raise CliError(
                ExitCode.USAGE,
                "--all cannot be combined with --pool, --tag, --pattern or --resource-group: "
                "--all already selects every running VM. Drop --all to narrow the selection.",
            )
        return "all"
    parts = [group_name("pool", pool) for pool in args.pool]
    parts += [group_name("tag", key, value) for key, value in args.tag]
    parts += [group_name("rg", rg) for rg in args.resource_group]
    parts += [glob_pattern(glob) for glob in args.pattern]
    if not parts:
        return None
    return parts[0] + "".join(f":&{part}" for part in parts[1:])


def require_targets(args: argparse.Namespace) -> str:
    """The host pattern; selecting nothing is an error, never an implicit 'all'."""
    targets = build_targets(args)
    if targets is None:
        raise CliError(
            ExitCode.USAGE,
            "no hosts selected: give --pool NAME, --tag K=V, --pattern GLOB, --resource-group RG or --all.",
        )
    return targets


def build_gate(args: argparse.Namespace) -> str | None:
    """One gate expression from the --if-* flags (joined with 'and'), validated by the collection's grammar."""
    terms = ["idle"] if args.if_idle else []
    terms += [template.format(getattr(args, flag)) for flag, template in _GATE_FLAGS if getattr(args, flag) is not None]
    expression = _plugin_function("gates", "combine_gates")(terms)
    if expression is not None:
        _plugin_function("gates", "parse_gate")(expression)
    return expression


def _check_parallel(value: str) -> None:
    # N% is resolved against the selected hosts by the playbook; here only the form is checked.
    errors = import_plugin_utils("errors")
    try:
        _plugin_function("routing", "parse_parallel")(value, 100)
    except errors.FleetUsageError as ex:
        raise errors.FleetUsageError(ex.subject.replace("fleet_parallel", "--parallel"), ex.reason, ex.hint) from None


def _check_max_failures(value: str) -> None:
    _plugin_function("workflow_run", "parse_budget")(value, "--max-failures")


def _gate_and_route_vars(args: argparse.Namespace) -> dict[str, Any]:
    found: dict[str, Any] = {}
    gate = build_gate(args)
    if gate is not None:
        found["fleet_gate"] = gate
    if args.gate_mode is not None:
        found["fleet_gate_mode"] = args.gate_mode
    if args.gate_timeout is not None:
        found["fleet_gate_timeout"] = args.gate_timeout
    if args.smart_route or args.route_by is not None or args.count is not None:
        found["fleet_smart_route"] = True
    if args.route_by is not None:
        found["fleet_route_by"] = args.route_by
    if args.count is not None:
        found["fleet_count"] = args.count
    if getattr(args, "probe_source", None) is not None:
        found["fleet_probe_source"] = args.probe_source
    return found


def _execution_vars(args: argparse.Namespace) -> dict[str, Any]:
    """The execution, gate, routing and dry-run vars ``run`` and ``workflow`` share (one set of names)."""
    found: dict[str, Any] = {}
    if args.parallel is not None:
        _check_parallel(args.parallel)
        found["fleet_parallel"] = args.parallel
    if args.max_failures is not None:
        _check_max_failures(args.max_failures)
        found["fleet_max_failures"] = args.max_failures
    if args.retry_failed is not None:
        found["fleet_retries"] = args.retry_failed
    if args.sequence is not None:
        found["fleet_sequence"] = args.sequence
    health = {
        "fleet_health_cmd": args.health_cmd,
        "fleet_health_url": args.health_url,
        "fleet_health_port": args.health_port,
    }
    health = {key: value for key, value in health.items() if value is not None}
    if health and not args.wait_for_health:
        given = ", ".join("--" + key.removeprefix("fleet_").replace("_", "-") for key in health)
        raise CliError(
            ExitCode.USAGE, f"{given} given without --wait-for-health: add --wait-for-health to use the check."
        )
    if args.wait_for_health:
        # Without an explicit check, healthy means the host still runs a command after the change.
        found.update(health or {"fleet_health_cmd": DEFAULT_HEALTH_CMD})
    if args.timeout is not None:
        found["fleet_timeout"] = args.timeout
    if (args.keep_awake or args.wake_timeout is not None) and not args.wake:
        raise CliError(ExitCode.USAGE, "--keep-awake and --wake-timeout go with --wake: add --wake.")
    if args.wake:
        found["fleet_wake"] = True
        if args.keep_awake:
            found["fleet_keep_awake"] = True
        if args.wake_timeout is not None:
            found["fleet_wake_timeout"] = args.wake_timeout
    found.update(_gate_and_route_vars(args))
    if args.dry_run:
        found["fleet_dry_run"] = True
    return found


def build_run_vars(args: argparse.Namespace) -> dict[str, Any]:
    """Extra vars of ``azlin.fleet.run`` for ``azlin-fleet run``."""
    if not args.command.strip():
        raise CliError(
            ExitCode.USAGE, "COMMAND is empty: give the shell command to run, e.g. azlin-fleet run 'uptime' --all."
        )
    found: dict[str, Any] = {"fleet_command": args.command, "fleet_targets": require_targets(args)}
    found.update(_execution_vars(args))
    # The step azlin.fleet.run will build from these vars, validated by the same code the playbook runs.
    _plugin_function("workflow_run", "run_workflow")(found)
    return found


def build_workflow_vars(args: argparse.Namespace) -> dict[str, Any]:
    """Extra vars of ``azlin.fleet.workflow``: the file (validated, all problems at once, before anything runs),
    the selection and the same execution/gate/routing vars as ``run`` (the defaults of every step)."""
    path = Path(args.file).expanduser()
    if not path.is_file():
        raise CliError(ExitCode.USAGE, f"workflow file {str(path)!r} not found: give the path of a workflow YAML file.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        raise CliError(ExitCode.USAGE, f"workflow file {str(path)!r} unreadable: {ex}.") from ex
    _plugin_function("workflow", "load_workflow_text")(text, str(path))
    found: dict[str, Any] = {"fleet_workflow_file": str(path.resolve())}
    targets = build_targets(args)
    if targets is not None:
        found["fleet_targets"] = targets
    found.update(_execution_vars(args))
    return found


def build_probe_vars(args: argparse.Namespace) -> dict[str, Any]:
    """Extra vars of ``azlin.fleet.probe``."""
    found: dict[str, Any] = {"fleet_targets": require_targets(args)}
    found.update(_gate_and_route_vars(args))
    return found
