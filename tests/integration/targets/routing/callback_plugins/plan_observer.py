# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test observer: writes every routing plan it sees (strategy event or route action result) to FLEET_PLAN_FILE."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "plan_observer"
    CALLBACK_NEEDS_ENABLED = False

    def _record(self, source: str, plan: dict, verdicts: dict | None = None) -> None:
        path = os.environ["FLEET_PLAN_FILE"]
        with open(path, "a") as handle:
            handle.write(json.dumps({"source": source, "plan": plan, "verdicts": verdicts}) + "\n")

    def v2_playbook_on_fleet_plan(self, plan):
        self._record("event", plan)

    def v2_runner_on_ok(self, result):
        plan = result.result.get("fleet_plan")
        if plan is not None:
            verdicts = result.result.get("fleet_verdicts")
            self._record("route", json.loads(json.dumps(plan)), json.loads(json.dumps(verdicts)))
