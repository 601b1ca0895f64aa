# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report names unique per job and per slice, from what AWX / Automation Controller passes to a job.

What AWX gives a playbook (``awx/main/models/unified_jobs.py`` and ``jobs.py``, ``awx_meta_vars``): the extra vars
``awx_job_id`` (and its older twin ``tower_job_id``), ``awx_job_template_id`` / ``_name``, ``awx_job_launch_type``
and, for a job started by a workflow, ``awx_workflow_job_id`` / ``awx_workflow_job_name``. A sliced job template
launches a workflow job whose nodes are the slices: every slice is a job of its own (its own ``awx_job_id``) in the
same workflow job (the same ``awx_workflow_job_id``). AWX keeps the slice number in the job's API fields
(``job_slice_number``, ``job_slice_count``), not in the extra vars, so a name built from the job id is unique per
slice, and the workflow job id groups the slices of one launch. ``fleet_slice`` ("K/N") adds the slice number
when the launcher knows it (an ansible-runner or CLI launch that slices by itself).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetUsageError

DEFAULT_PREFIX = "fleet-report"
JOB_ID_VARS: tuple[str, ...] = ("awx_job_id", "tower_job_id")
WORKFLOW_JOB_ID_VARS: tuple[str, ...] = ("awx_workflow_job_id", "tower_workflow_job_id")
SLICE_VAR = "fleet_slice"
_SLICE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class JobIdentity:
    """Who runs this job: the AWX job and workflow job ids and the slice, each None when not known."""

    job_id: str | None = None
    workflow_job_id: str | None = None
    slice_number: int | None = None
    slice_count: int | None = None

    @property
    def is_awx(self) -> bool:
        """Tell whether AWX (or Automation Controller) launched the job."""
        return self.job_id is not None

    def as_dict(self) -> dict[str, Any]:
        """The identity as plain data (for job artifacts)."""
        return {
            "job_id": self.job_id,
            "workflow_job_id": self.workflow_job_id,
            "slice": self.slice_number,
            "slice_count": self.slice_count,
        }


def parse_slice(value: Any) -> tuple[int, int] | None:
    """Parse ``fleet_slice`` ("K/N", 1 <= K <= N); None or an empty value means not sliced."""
    if value is None or value == "":
        return None
    match = _SLICE.match(str(value))
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise FleetUsageError(
            f"Slice {str(value)!r}",
            "expected K/N with 1 <= K <= N",
            "Write fleet_slice as, e.g., 2/3 for the second of three slices, or leave it unset.",
        )
    return int(match.group(1)), int(match.group(2))


def read_job_identity(extra_vars: Mapping[str, Any]) -> JobIdentity:
    """The job identity from a job's vars (AWX's meta vars and ``fleet_slice``); blank values count as unset."""
    sliced = parse_slice(extra_vars.get(SLICE_VAR))
    return JobIdentity(
        job_id=_first_id(extra_vars, JOB_ID_VARS),
        workflow_job_id=_first_id(extra_vars, WORKFLOW_JOB_ID_VARS),
        slice_number=sliced[0] if sliced else None,
        slice_count=sliced[1] if sliced else None,
    )


def _first_id(extra_vars: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = extra_vars.get(name)
        if value is not None and str(value).strip():
            # Ids are integers in AWX; anything else is kept but made safe for a file and blob name.
            return _UNSAFE_CHARS.sub("_", str(value).strip())
    return None


def name_report(identity: JobIdentity, started: datetime, suffix: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The report's base name: from the AWX ids and the slice when known, else the start time plus ``suffix``.

    AWX job: ``<prefix>-wf<workflow job id>-job<job id>[-slice<K>of<N>]`` (``wf`` only in a workflow or sliced
    job). Otherwise: ``<prefix>-<UTC start, to the second>[-slice<K>of<N>]-<suffix>``, where ``suffix`` is a random
    token from the caller (``new_report_suffix()``), so runs started in the same second on one controller, or
    slices sharing one report directory, never overwrite each other.
    """
    parts = [prefix]
    if identity.is_awx:
        if identity.workflow_job_id:
            parts.append(f"wf{identity.workflow_job_id}")
        parts.append(f"job{identity.job_id}")
    else:
        parts.append(f"{started.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    if identity.slice_number is not None:
        parts.append(f"slice{identity.slice_number}of{identity.slice_count}")
    if not identity.is_awx:
        token = _UNSAFE_CHARS.sub("", suffix)
        if not token:
            raise FleetUsageError("Report name suffix", f"{suffix!r} has no usable character", "Pass a random token.")
        parts.append(token)
    return "-".join(parts)


def new_report_suffix() -> str:
    """A random 8-hex-digit token for ``name_report`` (reads the system's random source)."""
    import secrets

    return secrets.token_hex(4)
