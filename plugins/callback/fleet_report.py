# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_report
type: aggregate
short_description: Group fleet results by identical output and write JSON, Markdown and HTML reports
version_added: 0.1.0
description:
  - Collects every host result and, at the end of the run, groups the hosts of each task by identical status, return
    code and output (folded host sets such as C(web-[1-3,5])). The largest group is the baseline; every other group
    gets a unified diff against it, like C(clush -b --diff).
  - Prints a summary with a counts line at the end of the run (colour only on a terminal; C(NO_COLOR) is honoured)
    and writes the report files C(<report_dir>/<report_name>.json|md|html). The JSON file follows a versioned schema
    and is the source of the other formats.
  - Hosts that a routing plan (from the P(azlin.fleet.least_loaded#strategy) strategy or the M(azlin.fleet.route)
    action) gated, could not measure or did not select are listed with their reasons. Results carrying
    C(fleet_status), C(fleet_reason), C(fleet_step) and C(fleet_attempts) override or enrich what is shown.
  - A result carrying C(fleet_steps) (a list of per-step entries, as the workflow pipeline's step action returns)
    becomes one report row per entry, under the report task C(step:<name>) named by the step; the task's own
    result is then no row.
  - The JSON report's C(run) object says whether the run itself can be trusted. C(status) is C(interrupted) after
    SIGINT or SIGTERM, else C(incomplete) when C(internal_errors) is not empty, else C(complete).
    C(internal_errors) holds every C(fleet_internal_error) a result carries and every failed quiet task (not
    ignored) whose result has none of C(fleet_refused), C(fleet_nothing_selected) and C(fleet_status), such as an
    action that crashed. C(refused) holds the lines of C(fleet_refused), C(nothing_selected) the
    C(fleet_nothing_selected) object (C(targets), C(reason)).
  - Secrets are masked before anything is stored; results of C(no_log) tasks keep only their status.
  - Results of include tasks (C(include_tasks), C(include_role)) and of tasks whose vars set
    C(fleet_report_quiet=true) (internal playbook tasks, set as a task or block var) are not report rows. A routing
    plan such a result carries is still taken in, and a failure of such a task is listed under C(errors) in the JSON
    report and printed in the summary, so nothing is lost silently.
  - If the run is interrupted (SIGINT or SIGTERM), the report is still written and hosts still running are marked
    C(interrupted).
  - An aggregate callback, so it works next to any stdout callback (including AWX's). Enable it with
    C(callbacks_enabled = azlin.fleet.fleet_report).
requirements:
  - ClusterShell (to fold host names; without it host sets are plain lists)
extends_documentation_fragment:
  - azlin.fleet.report
options:
  report_dir:
    description:
      - Directory the report files are written to; created (mode 0700) if missing. Files are written mode 0600.
    type: path
    default: ~/.ansible/fleet_reports
    env:
      - name: AZLIN_FLEET_REPORT_DIR
    ini:
      - section: callback_fleet_report
        key: report_dir
  report_name:
    description:
      - Base name of the report files. When not set, C(fleet-report-<UTC start time>) such as
        C(fleet-report-20260101T120000Z).
    type: str
    env:
      - name: AZLIN_FLEET_REPORT_NAME
    ini:
      - section: callback_fleet_report
        key: report_name
  formats:
    description:
      - Report files to write. JSON is the machine-readable source; Markdown suits tickets; HTML is one
        self-contained page.
    type: list
    elements: str
    choices: [json, md, html]
    default: [json, md, html]
    env:
      - name: AZLIN_FLEET_REPORT_FORMATS
    ini:
      - section: callback_fleet_report
        key: formats
  events_file:
    description:
      - When set, JSON lines are appended to this file (mode 0600) as the run goes, for live progress; the
        azlin-fleet CLI reads it. Each line is one object with an C(event) key. Outputs and reasons are never
        written there. The format is described in C(docs/events.md).
      - "C(plan) lines give the hosts expected to run. When a play starts: C(source=play), C(play) (its name) and
        C(hosts), the play's whole host list (every serial batch, after C(--limit)). When a routing plan arrives or
        changes: C(source=route) and C(hosts), its selected hosts in dispatch order. The last plan line wins."
      - "C(result) lines, one per host result that becomes a report row: C(host), C(task), C(status), C(ts) (ISO 8601
        UTC) and C(step) for workflow steps. Results of quiet tasks and includes are not written."
    type: path
    env:
      - name: AZLIN_FLEET_EVENTS_FILE
    ini:
      - section: callback_fleet_report
        key: events_file
  compare_to:
    description:
      - Path of an earlier JSON report of the same command or workflow. The new report then gets a C(drift)
        section (JSON, Markdown, HTML and the printed summary) naming, for each task in both reports, the hosts
        whose status or host-normalised output changed, appeared or disappeared, with a short diff per changed host.
      - Choosing which earlier report to compare with (such as the last one of the same command and targets) is the
        caller's job; the azlin-fleet CLI does it for C(--compare-to last).
      - If the file cannot be read or is not a report, a warning says so and the report has no drift section.
    type: path
    env:
      - name: AZLIN_FLEET_COMPARE_TO
    ini:
      - section: callback_fleet_report
        key: compare_to
  summary:
    description:
      - Print the grouped summary at the end of the run. Set V(false) when another program (the azlin-fleet CLI)
        prints the report itself.
    type: bool
    default: true
    env:
      - name: AZLIN_FLEET_REPORT_SUMMARY
    ini:
      - section: callback_fleet_report
        key: summary
  summary_max_lines:
    description:
      - Lines shown per output, diff or reason list in the printed summary; the report files always hold the
        whole text.
    type: int
    default: 8
    env:
      - name: AZLIN_FLEET_REPORT_SUMMARY_MAX_LINES
    ini:
      - section: callback_fleet_report
        key: summary_max_lines
  summary_max_groups:
    description:
      - Groups shown per task in the printed summary, largest first; a line C(... M more groups (see <report>))
        stands for the others. The failed hosts (folded per task and status) and the counts line are always
        printed, so a summary of hundreds of hosts stays a screenful.
    type: int
    default: 4
    env:
      - name: AZLIN_FLEET_REPORT_SUMMARY_MAX_GROUPS
    ini:
      - section: callback_fleet_report
        key: summary_max_groups
  summary_full:
    description:
      - Print every group with its whole output or diff, and every internal-task failure on its own line
        (O(summary_max_lines) and O(summary_max_groups) are then ignored).
    type: bool
    default: false
    env:
      - name: AZLIN_FLEET_REPORT_SUMMARY_FULL
    ini:
      - section: callback_fleet_report
        key: summary_full
"""

EXAMPLES = r"""
# ansible.cfg: enable the report next to the normal output
# [defaults]
# callbacks_enabled = azlin.fleet.fleet_report
# [callback_fleet_report]
# report_dir = ./reports

# Same, from the environment, ignoring timestamps when grouping and masking a custom secret:
# ANSIBLE_CALLBACKS_ENABLED=azlin.fleet.fleet_report AZLIN_FLEET_REPORT_DIR=./reports \
# AZLIN_FLEET_IGNORE_PATTERNS='^\d{4}-\d\d-\d\d[T ][\d:.]+' AZLIN_FLEET_MASK_PATTERNS='sig=(?P<secret>\w+)' \
#   ansible-playbook azlin.fleet.run -e fleet_command=uptime
"""

import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.playbook.task_include import TaskInclude
from ansible.plugins.callback import CallbackBase

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report import (
    NormalizeOptions,
    ReportCollector,
    TaskInfo,
    attach_drift,
    build_masker,
    build_report,
    failed_report,
    format_event,
    format_play_plan_event,
    format_route_plan_event,
    is_quiet_task,
    render_text,
    write_report,
)
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_name import (
    name_report,
    new_report_suffix,
    read_job_identity,
)

_PLAN_EVENT = "v2_playbook_on_fleet_plan"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "azlin.fleet.fleet_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None) -> None:
        super().__init__(display=display)
        self._collector: ReportCollector | None = None
        # Bookkeeping that is not report data: where and when, the events stream, signal chaining.
        self._started = datetime.now(UTC)
        self._job = read_job_identity({})  # the AWX job and slice, from the first play's extra vars
        self._play = ""
        self._announced_plays: set[str] = set()  # serial batches each start the play again; announce it once
        self._events = None  # the open events file; False once opening it failed
        self._written = False
        self._pid = os.getpid()
        self._previous_handlers: dict[int, object] = {}

    def _init_callback_methods(self) -> None:
        # The task queue only dispatches the base class's known events; the routing plan is a custom one.
        super()._init_callback_methods()
        self._implemented_callback_methods = self._implemented_callback_methods | {_PLAN_EVENT}

    def set_options(self, task_keys=None, var_options=None, direct=None) -> None:
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        options = NormalizeOptions(
            ignore_patterns=tuple(self.get_option("ignore_patterns") or ()),
            ignore_whitespace=self.get_option("ignore_whitespace"),
            include_stderr=self.get_option("include_stderr"),
            max_output=self.get_option("max_output"),
            normalize_hosts=self.get_option("normalize_hosts"),
        )
        try:
            self._collector = ReportCollector(build_masker(self.get_option("mask_patterns") or ()), options)
        except FleetError as ex:
            raise AnsibleError(str(ex)) from ex
        self._install_signal_handlers()

    # --- recording: each handler turns Ansible objects into plain records and returns ---

    def v2_playbook_on_start(self, playbook) -> None:
        self._collector.playbooks.append(os.path.basename(playbook._file_name))

    def v2_playbook_on_play_start(self, play) -> None:
        self._play = play.get_name()
        if not self._announced_plays:
            # AWX's meta vars (awx_job_id, ...) and fleet_slice name the report after the job and slice
            self._job = read_job_identity(play.get_variable_manager().extra_vars)
        if self.get_option("events_file") and play._uuid not in self._announced_plays:
            self._announced_plays.add(play._uuid)
            # The play's whole host list (all serial batches, after --limit), as the play itself sees it.
            hosts = play.get_variable_manager().get_vars(play=play, include_hostvars=False)["ansible_play_hosts_all"]
            self._emit(format_play_plan_event(self._play, hosts))

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._add_task(task)

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self._add_task(task, "handler")

    def _add_task(self, task, kind: str = "task") -> None:
        if task._uuid in self._collector.tasks:
            return
        # Task vars (its own and its blocks'), read the same way on 2.19 to 2.21; results carry a copy of the task
        # with its parent blocks, so a task first seen in a result is judged the same.
        quiet = is_quiet_task(task.get_vars(), is_include=isinstance(task, TaskInclude))
        self._collector.add_task(TaskInfo(task._uuid, task.get_name(), self._play, task.get_path() or "", kind, quiet))

    def v2_runner_on_start(self, host, task) -> None:
        # Wall-clock seconds: the report's timeline places each host's results on one axis.
        self._collector.start(host.get_name(), task._uuid, time.time())

    def v2_runner_on_ok(self, result) -> None:
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record("failed", result, ignored=bool(ignore_errors))

    def v2_runner_on_unreachable(self, result) -> None:
        self._record("unreachable", result)

    def v2_runner_on_skipped(self, result) -> None:
        self._record("skipped", result)

    def v2_playbook_on_fleet_plan(self, plan) -> None:
        if self._collector.add_plan(plan):
            self._emit(format_route_plan_event(plan))

    def _record(self, event: str, result, ignored: bool = False) -> None:
        task = result.task
        self._add_task(task)
        address = result.host.vars.get("ansible_host")
        if isinstance(address, str) and "{" not in address:  # a literal address, never a template
            self._collector.learn_host(result.host.get_name(), (address,))
        records, plan = self._collector.take_result(
            result.host.get_name(),
            task._uuid,
            event,
            result.result,
            task_no_log=bool(task.no_log),
            ignored=ignored,
            now=time.time(),
        )
        if plan is not None:
            self._emit(format_route_plan_event(plan))
        now = datetime.now(UTC).isoformat()
        for record in records:
            self._emit(format_event(record, self._collector.tasks[record.task_id].name, now))

    # --- the end of the run: build once, write, print ---

    def v2_playbook_on_stats(self, stats) -> None:
        self._finish(complete=True)

    def _finish(self, complete: bool) -> None:
        if self._written:
            return
        self._written = True
        name = self.get_option("report_name") or name_report(self._job, self._started, new_report_suffix())
        started = self._started.isoformat(timespec="seconds")
        finished = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            report = build_report(
                self._collector,
                name=name,
                started=started,
                finished=finished,
                complete=complete,
                diff_context=self.get_option("diff_context"),
            )
        except Exception as ex:  # noqa: BLE001 - the report is always written: one that names this failure
            self._display.error_as_warning("Unable to build the fleet report; writing one that names the cause.", ex)
            report = failed_report(name, started, finished, f"building the report failed: {ex!r}")
        compare_to = self.get_option("compare_to")
        if compare_to:
            try:
                attach_drift(report, compare_to)
            except FleetError as ex:
                message = f"No drift section: {ex}"
                report["warnings"].append(message)
                self._display.warning(message)
        paths = []
        try:
            paths = write_report(report, self.get_option("report_dir"), name, self.get_option("formats"))
        except OSError as ex:
            where = self.get_option("report_dir")
            self._display.error_as_warning(f"Unable to write the fleet report to {where!r}.", ex)
        if self.get_option("summary") and complete:
            color = C.ANSIBLE_FORCE_COLOR or (sys.stdout.isatty() and not C.ANSIBLE_NOCOLOR)
            see = str(paths[-1]) if paths else None
            text = render_text(
                report,
                color=bool(color),
                max_lines=self.get_option("summary_max_lines"),
                max_groups=self.get_option("summary_max_groups"),
                full=self.get_option("summary_full"),
                see=see,
            )
            self._display.display(text)
        for path in paths:
            self._display.display(f"fleet report: {path}")
        self._close_events()

    # --- live events file ---

    def _emit(self, line: str) -> None:
        path = self.get_option("events_file")
        if not path or self._events is False:
            return
        try:
            if self._events is None:
                fd = os.open(os.path.expanduser(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._events = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
            self._events.write(line + "\n")
        except OSError as ex:
            self._display.error_as_warning(f"Unable to write the fleet events file {path!r}; no live progress.", ex)
            self._close_events()
            self._events = False

    def _close_events(self) -> None:
        if self._events:
            self._events.close()
            self._events = None

    # --- interruption: write what we have, then let the previous handler do what it always did ---

    def _install_signal_handlers(self) -> None:
        if self._previous_handlers or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        # Forked workers inherit this handler until they install their own; only the controller writes.
        if os.getpid() == self._pid and not self._written:
            name = signal.Signals(signum).name
            now = datetime.now(UTC).isoformat()
            for record in self._collector.mark_interrupted(name):
                self._emit(format_event(record, self._collector.tasks[record.task_id].name, now))
            self._display.warning(f"Run interrupted by {name}: writing the fleet report with unfinished hosts marked.")
            self._finish(complete=False)
        previous = self._previous_handlers.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
