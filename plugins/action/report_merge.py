# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The documentation lives in plugins/modules/report_merge.py, where ansible-doc looks for it.
import glob
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report import FILE_FORMATS, write_report
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_group import hosts_by_status
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_merge import DEFAULT_MERGED_NAME, merge_reports

display = Display()


class ActionModule(ActionBase):
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("reports", "output_dir", "name", "formats"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        patterns = args.get("reports")
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns:
            raise AnsibleActionFail("Argument 'reports' must be a list of JSON report paths or globs.", obj=patterns)
        paths = []
        for pattern in patterns:
            matched = sorted(glob.glob(str(Path(str(pattern)).expanduser()))) or [str(pattern)]
            paths += [p for p in matched if p not in paths]
        output_dir = args.get("output_dir")
        if not output_dir:
            raise AnsibleActionFail("Argument 'output_dir' is required: the directory for the merged report files.")
        name = args.get("name") or DEFAULT_MERGED_NAME
        formats = args.get("formats") or list(FILE_FORMATS)
        try:
            merged = merge_reports(paths, name=name)
            written = [] if self._task.check_mode else write_report(merged, output_dir, name, formats)
        except FleetError as ex:
            raise AnsibleActionFail(str(ex), obj=args) from ex
        for warning in merged.get("warnings", []):
            display.warning(warning)
        result.update(
            changed=bool(written),
            sources=paths,
            files=[str(path) for path in written],
            name=name,
            hosts=len(merged["hosts"]),
            counts=merged["counts"],
            hosts_by_status=hosts_by_status(merged),
            complete=merged["complete"],
        )
        return result
