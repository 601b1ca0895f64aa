# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inline workflow (``fleet_workflow``) from whatever form it arrives in: a mapping, JSON text or YAML text.

An AWX survey has no mapping type: a workflow typed into a textarea question arrives as text, a JSON extra var or
an AWX workflow node's artifact as a mapping. Every form gets the same validation and the same located errors
(``workflow.load_workflow_text`` / ``workflow.parse_workflow``). A blank survey answer arrives as null (AWX 24)
or an empty string (older releases): both mean "no inline workflow".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError, FleetValidationError
from ansible_collections.azlin.fleet.plugins.plugin_utils.workflow import (
    Workflow,
    load_workflow_text,
    parse_workflow,
)

_FILE_SUFFIXES = (".yml", ".yaml", ".json")


def is_workflow_input_blank(value: Any) -> bool:
    """Tell whether an inline workflow answer is absent: None (a blank survey answer), or empty / blank text."""
    return value is None or (isinstance(value, str) and not value.strip())


def load_workflow_input(
    value: Any, source: str = "fleet_workflow", defaults: Mapping[str, Any] | None = None
) -> Workflow:
    """Validate an inline workflow given as a mapping, JSON text or YAML text, and return it.

    Raises ``FleetValidationError`` listing every problem with its location (``source:line (path)``), the same
    errors a workflow file gets; a blank value is an error too (check ``is_workflow_input_blank`` first when
    blank means "not given"). ``defaults`` are the run flags every step defaults to (a step's own keys win).
    """
    if isinstance(value, Mapping):
        return parse_workflow(dict(value), source, defaults=defaults)
    if is_workflow_input_blank(value):
        raise FleetValidationError(
            f"Workflow {source!r}",
            [
                FleetUsageError(
                    "Workflow", "empty", "Give the workflow as a mapping, or as its JSON or YAML text.", source
                )
            ],
        )
    if not isinstance(value, str):
        raise FleetValidationError(
            f"Workflow {source!r}",
            [
                FleetUsageError(
                    "Workflow",
                    f"expected a mapping or its JSON or YAML text, got {type(value).__name__}",
                    "Pass the workflow as a mapping, or as text.",
                    source,
                )
            ],
        )
    # A tagged or unsafe str subclass from Ansible becomes a plain str for the YAML parser.
    text = str.__str__(value)
    stripped = text.strip()
    if "\n" not in stripped and stripped.endswith(_FILE_SUFFIXES) and ":" not in stripped:
        raise FleetValidationError(
            f"Workflow {source!r}",
            [
                FleetUsageError(
                    "Workflow",
                    f"{stripped!r} looks like a file name, not a workflow",
                    "Name a workflow file with fleet_workflow_file; fleet_workflow holds the workflow itself.",
                    source,
                )
            ],
        )
    # YAML is a superset of JSON, and the YAML loader locates each problem by line.
    return load_workflow_text(text, source, defaults=defaults)
