"""The user's configuration file and where the inventory comes from.

Resolution order for the inventory: ``-i`` flags, else ``inventory`` in the config file
(``$XDG_CONFIG_HOME/azlin-fleet/config.yml``, default ``~/.config/azlin-fleet/config.yml``), else the running
sandbox (state dir ``$AZLIN_FLEET_SANDBOX_DIR``, default ``<repo>/.sandbox``), else an error saying how to
configure Azure access.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from azlin_fleet_cli.outcome import CliError, ExitCode

CONFIG_KEYS = ("inventory", "report_dir")

HOW_TO_CONFIGURE = (
    "no inventory: no -i given, no 'inventory' in {config}, and no running sandbox. "
    "To use Azure, write an inventory config file such as ~/.config/azlin-fleet/fleet.azure_pools.yml containing "
    "'plugin: azlin.fleet.azure_pools' (credentials come from 'az login' or AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/"
    "AZURE_TENANT_ID/AZURE_SUBSCRIPTION_ID) and put 'inventory: <that path>' in {config}, or pass it with -i. "
    "To try things locally, run 'azlin-fleet sandbox up'."
)


@dataclass(frozen=True, slots=True)
class UserConfig:
    """Settings read from the config file (all optional)."""

    path: Path
    inventory: tuple[str, ...] = ()
    report_dir: str | None = None


@dataclass(frozen=True, slots=True)
class InventoryChoice:
    """The inventory sources for ansible-playbook, where they came from, and env the child needs for them."""

    sources: tuple[str, ...]
    origin: str
    env: dict[str, str] = field(default_factory=dict)


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/azlin-fleet/config.yml`` (XDG default ``~/.config``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "azlin-fleet" / "config.yml"


def _relative_to(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path))


def read_user_config(path: Path | None = None) -> UserConfig:
    """Read the config file; a missing file is an empty config, a malformed one is an error (exit 2)."""
    path = path or config_path()
    if not path.is_file():
        return UserConfig(path=path)
    try:
        loaded: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as ex:
        raise CliError(ExitCode.USAGE, f"config file {str(path)!r} unreadable: {ex}. Fix or remove it.") from ex
    if loaded is None:
        return UserConfig(path=path)
    if not isinstance(loaded, dict):
        raise CliError(ExitCode.USAGE, f"config file {str(path)!r} is not a mapping: write 'key: value' lines.")
    unknown = sorted(set(loaded) - set(CONFIG_KEYS))
    if unknown:
        raise CliError(
            ExitCode.USAGE,
            f"config file {str(path)!r} has unknown key(s) {', '.join(map(repr, unknown))}: "
            f"known keys are {', '.join(CONFIG_KEYS)}.",
        )
    inventory = loaded.get("inventory") or []
    if isinstance(inventory, str):
        inventory = [inventory]
    if not isinstance(inventory, list) or not all(isinstance(item, str) for item in inventory):
        raise CliError(ExitCode.USAGE, f"config file {str(path)!r}: 'inventory' must be a path or a list of paths.")
    report_dir = loaded.get("report_dir")
    if report_dir is not None and not isinstance(report_dir, str):
        raise CliError(ExitCode.USAGE, f"config file {str(path)!r}: 'report_dir' must be a path.")
    return UserConfig(
        path=path,
        inventory=tuple(_relative_to(path.parent, item) for item in inventory),
        report_dir=_relative_to(path.parent, report_dir) if report_dir else None,
    )


def sandbox_inventory() -> InventoryChoice | None:
    """The inventory of the running sandbox ($AZLIN_FLEET_SANDBOX_DIR, default <repo>/.sandbox), or None."""
    try:
        from azlin_fleet_sandbox import DEFAULT_STATE_DIR, Sandbox
    except ImportError:
        return None
    sandbox = Sandbox(os.environ.get("AZLIN_FLEET_SANDBOX_DIR") or DEFAULT_STATE_DIR)
    if not sandbox.status().get("up"):
        return None
    state_dir = sandbox.state_dir
    azure = state_dir / "azure" / "fleet.azure_pools.yml"
    if azure.is_file():
        return InventoryChoice(
            (str(azure),), f"the running sandbox's Azure endpoint ({state_dir})", _sandbox_env(state_dir)
        )
    static = state_dir / "hosts.yml"
    if static.is_file():
        return InventoryChoice((str(static),), f"the running sandbox ({state_dir})")
    return None


def _sandbox_env(state_dir: Path) -> dict[str, str]:
    # The local ARM endpoint's CA; the machine may export its own REQUESTS_CA_BUNDLE, which would win otherwise.
    ca = state_dir / "azure" / "ca.pem"
    return {"REQUESTS_CA_BUNDLE": str(ca)} if ca.is_file() else {}


_YAML_SUFFIXES = (".yml", ".yaml", ".json")


def check_inventory_syntax(source: str) -> None:
    """A YAML/JSON inventory file that does not parse is refused here, naming the error and its position (exit 2);
    Ansible would only warn and go on with fewer hosts, or none."""
    path = Path(source)
    if not path.is_file() or path.suffix not in _YAML_SUFFIXES:
        return
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as handle:
            yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(ex, "problem", None) or str(ex).splitlines()[0]
        raise CliError(
            ExitCode.USAGE, f"inventory {source!r} is not valid YAML: {problem}{where}. Fix the file; nothing ran."
        ) from ex
    except (OSError, UnicodeDecodeError) as ex:
        raise CliError(ExitCode.USAGE, f"inventory {source!r} cannot be read: {ex}.") from ex


def resolve_inventory(flags: list[str], config: UserConfig) -> InventoryChoice:
    """``-i`` flags, else the config file's, else the running sandbox's, else an error (exit 2)."""
    if flags:
        missing = [source for source in flags if "," not in source and not Path(source).expanduser().exists()]
        if missing:
            raise CliError(
                ExitCode.USAGE, f"inventory {missing[0]!r} not found: give an existing inventory file or dir."
            )
        sources = tuple(str(Path(s).expanduser()) if "," not in s else s for s in flags)
        for source in sources:
            check_inventory_syntax(source)
        return InventoryChoice(sources, "-i")
    if config.inventory:
        missing = [source for source in config.inventory if not Path(source).exists()]
        if missing:
            raise CliError(
                ExitCode.USAGE, f"inventory {missing[0]!r} (from {str(config.path)!r}) not found: fix the path there."
            )
        for source in config.inventory:
            check_inventory_syntax(source)
        return InventoryChoice(config.inventory, str(config.path))
    sandbox = sandbox_inventory()
    if sandbox is not None:
        return sandbox
    raise CliError(ExitCode.USAGE, HOW_TO_CONFIGURE.format(config=config.path))
