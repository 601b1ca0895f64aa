# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check that a report dict read from a file has the shape of docs/report-schema.json before anything uses it.

``report show`` and ``report merge`` read JSON that anyone could have written: every field the renderers,
the merge and the CLI read is checked for its type (an ``rc`` that is a string, an ``attempts`` that is text, a host
list that is a number), and every output key a group or result names must exist. The problems come back as a list
of readable lines with their JSON path; an empty list means the report is safe to use. No third-party library is
needed on the controller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.azlin.fleet.plugins.plugin_utils.report_collect import RESULT_STATUSES

_HASH = re.compile(r"[0-9a-f]{64}")
_RUN_STATUSES = ("complete", "incomplete", "interrupted")
_MAX_PROBLEMS = 50

Check = Callable[[Any], bool]


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _nullable(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _list_of(check: Check) -> Check:
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def _is_status(value: Any) -> bool:
    return value in RESULT_STATUSES


def _is_key(value: Any) -> bool:
    return value is None or (isinstance(value, str) and bool(_HASH.fullmatch(value)))


_NAMES = {
    _is_str: "a string",
    _is_int: "an integer",
    _is_bool: "true or false",
    _is_status: "a report status",
    _is_key: "an output key (64 hex digits) or null",
}

_TOP = {
    "format": _is_str,
    "version": _is_int,
    "name": _is_str,
    "complete": _is_bool,
    "interrupted": _nullable(_is_str),
    "started": _nullable(_is_str),
    "finished": _nullable(_is_str),
    "playbooks": _list_of(_is_str),
    "warnings": _list_of(_is_str),
}
_HOST = {"host": _is_str, "status": _is_status, "attempts": _nullable(_is_int), "reasons": _list_of(_is_str)}
_TASK = {"id": _is_str, "name": _is_str, "play": _is_str, "path": _is_str, "kind": _is_str, "hosts": _is_int}
_GROUP = {
    "status": _is_status,
    "rc": _nullable(_is_int),
    "output": _is_key,
    "no_log": _is_bool,
    "hosts": _list_of(_is_str),
    "nodeset": _is_str,
    "count": _is_int,
    "baseline": _is_bool,
    "diff": _nullable(_is_str),
}
_REASON = {"reason": _is_str, "hosts": _list_of(_is_str), "nodeset": _is_str}
_RESULT = {
    "host": _is_str,
    "status": _is_status,
    "rc": _nullable(_is_int),
    "output": _is_key,
    "reason": _nullable(_is_str),
    "duration": _nullable(_is_number),
    "attempts": _nullable(_is_int),
    "step": _nullable(_is_str),
    "ignored": _is_bool,
    "no_log": _is_bool,
    "start": _nullable(_is_number),
    "end": _nullable(_is_number),
    "identity": _nullable(_list_of(_is_str)),
}
_OUTPUT = {"text": _is_str, "size": _is_int, "truncated": _is_bool, "binary": _is_bool}
_ERROR = {
    "host": _is_str,
    "task": _is_str,
    "play": _is_str,
    "path": _is_str,
    "status": _is_status,
    "reason": _nullable(_is_str),
    "ignored": _is_bool,
}
_INTERNAL = {"host": _is_str, "task": _is_str, "error": _is_str}
_PLAN_HOST = {
    "host": _is_str,
    "status": _is_status,
    "order": _nullable(_is_number),
    "score": _nullable(_is_number),
}
_SOURCE = {"name": _is_str, "started": _nullable(_is_str), "finished": _nullable(_is_str), "complete": _is_bool}
_DRIFT = {
    "compared_to": _is_str,
    "compared_started": _nullable(_is_str),
    "tasks_compared": _is_int,
    "tasks_only_before": _list_of(_is_str),
    "tasks_only_after": _list_of(_is_str),
    "hosts": _list_of(_is_str),
    "warnings": _list_of(_is_str),
}
_DRIFT_TASK = {"name": _is_str, "play": _is_str, "kind": _is_str}
_DRIFT_STATE = {"status": _is_str, "rc": _nullable(_is_int), "output": _nullable(_is_str)}


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fields(self, value: Any, spec: Mapping[str, Check], where: str, optional: tuple[str, ...] = ()) -> bool:
        """Check an object's fields; tell whether it is an object at all."""
        if not isinstance(value, Mapping):
            self.problems.append(f"{where}: expected an object, got {type(value).__name__}")
            return False
        for key, check in spec.items():
            if key not in value:
                if key not in optional:
                    self.problems.append(f"{where}.{key}: missing")
            elif not check(value[key]):
                expected = _NAMES.get(check, "a value of the documented type")
                self.problems.append(f"{where}.{key}: expected {expected}, got {_show(value[key])}")
        return True

    def items(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            self.problems.append(f"{where}: expected a list, got {type(value).__name__}")
            return []
        return value

    def counts(self, value: Any, where: str) -> None:
        if not isinstance(value, Mapping) or not all(_is_status(k) and _is_int(v) for k, v in value.items()):
            self.problems.append(f"{where}: expected an object of status -> integer")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_report(data: Any) -> list[str]:
    """Check a report (current version, as ``load_report`` returns it) against the documented shape.

    Returns one line per problem (``<json path>: what is wrong``), at most 50; an empty list means valid.
    """
    check = _Checker()
    if not check.fields(data, _TOP, "report"):
        return check.problems
    _check_run(check, data.get("run"))
    check.counts(data.get("counts"), "report.counts")
    if not isinstance(data.get("options"), Mapping):
        check.problems.append("report.options: expected an object")
    outputs = data.get("outputs")
    if not isinstance(outputs, Mapping):
        check.problems.append("report.outputs: expected an object")
        outputs = {}
    for key, entry in outputs.items():
        if not _is_key(key) or key is None:
            check.problems.append(f"report.outputs[{_show(key)}]: the key is not an output hash")
        check.fields(entry, _OUTPUT, f"report.outputs[{key[:12] if isinstance(key, str) else key}...]")
    for index, host in enumerate(check.items(data.get("hosts"), "report.hosts")):
        check.fields(host, _HOST, f"report.hosts[{index}]")
    for index, plan in enumerate(check.items(data.get("plans"), "report.plans")):
        if check.fields(plan, {}, f"report.plans[{index}]"):
            for number, host in enumerate(check.items(plan.get("hosts"), f"report.plans[{index}].hosts")):
                check.fields(host, _PLAN_HOST, f"report.plans[{index}].hosts[{number}]", optional=("order", "score"))
    for index, task in enumerate(check.items(data.get("tasks"), "report.tasks")):
        _check_task(check, task, f"report.tasks[{index}]", outputs)
    for index, source in enumerate(check.items(data.get("sources"), "report.sources")):
        check.fields(source, _SOURCE, f"report.sources[{index}]")
    for index, error in enumerate(check.items(data.get("errors", []), "report.errors")):
        check.fields(error, _ERROR, f"report.errors[{index}]")
    if data.get("drift") is not None:
        _check_drift(check, data["drift"])
    return check.problems[:_MAX_PROBLEMS]


def _check_run(check: _Checker, run: Any) -> None:
    if not check.fields(run, {"refused": _list_of(_is_str)}, "report.run"):
        return
    if run.get("status") not in _RUN_STATUSES:
        check.problems.append(f"report.run.status: expected one of {', '.join(_RUN_STATUSES)}")
    for index, error in enumerate(check.items(run.get("internal_errors"), "report.run.internal_errors")):
        check.fields(error, _INTERNAL, f"report.run.internal_errors[{index}]")
    if run.get("nothing_selected") is not None:
        check.fields(run["nothing_selected"], {"targets": _is_str, "reason": _is_str}, "report.run.nothing_selected")


def _check_task(check: _Checker, task: Any, where: str, outputs: Mapping[str, Any]) -> None:
    if not check.fields(task, _TASK, where):
        return
    check.counts(task.get("counts"), f"{where}.counts")
    for index, group in enumerate(check.items(task.get("groups"), f"{where}.groups")):
        if check.fields(group, _GROUP, f"{where}.groups[{index}]"):
            _check_output_key(check, group.get("output"), outputs, f"{where}.groups[{index}].output")
            for number, reason in enumerate(check.items(group.get("reasons"), f"{where}.groups[{index}].reasons")):
                check.fields(reason, _REASON, f"{where}.groups[{index}].reasons[{number}]")
    for index, result in enumerate(check.items(task.get("results"), f"{where}.results")):
        if check.fields(result, _RESULT, f"{where}.results[{index}]"):
            _check_output_key(check, result.get("output"), outputs, f"{where}.results[{index}].output")


def _check_output_key(check: _Checker, key: Any, outputs: Mapping[str, Any], where: str) -> None:
    if isinstance(key, str) and key not in outputs:
        check.problems.append(f"{where}: names an output that is not in report.outputs")


def _check_drift(check: _Checker, drift: Any) -> None:
    if not check.fields(drift, _DRIFT, "report.drift"):
        return
    for index, task in enumerate(check.items(drift.get("tasks"), "report.drift.tasks")):
        where = f"report.drift.tasks[{index}]"
        if not check.fields(task, _DRIFT_TASK, where):
            continue
        for kind, states in (("changed", ("before", "after")), ("appeared", ("after",)), ("disappeared", ("before",))):
            for number, item in enumerate(check.items(task.get(kind), f"{where}.{kind}")):
                spec: dict[str, Check] = {"host": _is_str}
                if kind == "changed":
                    spec["diff"] = _nullable(_is_str)
                if check.fields(item, spec, f"{where}.{kind}[{number}]"):
                    for state in states:
                        check.fields(item.get(state), _DRIFT_STATE, f"{where}.{kind}[{number}].{state}")
