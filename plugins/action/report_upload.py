# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The documentation lives in plugins/modules/report_upload.py, where ansible-doc looks for it.
import os
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report import FILE_FORMATS
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_upload import (
    UPLOAD_OPTIONS,
    destination_of,
    options_with_env,
    resolve_upload,
    upload_report_files,
)

display = Display()


class ActionModule(ActionBase):
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("paths", "report_dir", "report_name", "fail_on_error", *UPLOAD_OPTIONS))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        fail_on_error = boolean(args.get("fail_on_error", False), strict=False)
        paths = self._paths(args)
        try:
            settings = resolve_upload(options_with_env(args, os.environ))
        except FleetError as ex:
            if fail_on_error:
                raise AnsibleActionFail(str(ex)) from ex
            display.warning(f"Report files not uploaded (they stay on disk): {ex}")
            result.update(changed=False, uploads=[], uploaded=0, not_uploaded=len(paths), destination=None, msg=str(ex))
            return result
        destination = destination_of(settings)
        if self._task.check_mode:
            result.update(changed=bool(paths), uploads=[], uploaded=0, not_uploaded=0, destination=destination)
            return result
        uploads = upload_report_files(paths, settings)
        errors = [u["error"] for u in uploads if not u["uploaded"]]
        for error in errors:
            display.warning(error)
        result.update(
            changed=len(errors) < len(uploads),
            uploads=uploads,
            uploaded=len(uploads) - len(errors),
            not_uploaded=len(errors),
            destination=destination,
        )
        if errors and fail_on_error:
            result.update(failed=True, msg=errors[0])
        return result

    def _paths(self, args):
        paths = args.get("paths")
        if paths is not None:
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise AnsibleActionFail("Argument 'paths' must be a list of file paths.", obj=paths)
            return [Path(p).expanduser() for p in paths]
        directory, name = args.get("report_dir"), args.get("report_name")
        if not directory or not name:
            raise AnsibleActionFail(
                "Report upload: no files given. Set 'paths', or 'report_dir' and 'report_name'.", obj=args
            )
        # Only the formats that were written; a report written as JSON only uploads one file.
        found = [Path(directory).expanduser() / f"{name}.{fmt}" for fmt in FILE_FORMATS]
        found = [path for path in found if path.is_file()]
        if not found:
            raise AnsibleActionFail(
                f"Report {name!r} not found in {directory!r}: no {name}.json, .md or .html there. "
                "Check report_dir and report_name against the fleet_report callback's settings."
            )
        return found
