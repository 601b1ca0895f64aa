"""The HTTPS server: Entra token endpoints, ARM list endpoints and the `/_sandbox/` admin API.

ARM behaviour reproduced: 401 without a valid bearer token (`AuthenticationFailed` / `InvalidAuthenticationToken`),
400 without `api-version` (`MissingApiVersionParameter`), 404 for an unknown subscription (`SubscriptionNotFound`),
paths matched case-insensitively, lists paged with an absolute `nextLink` that keeps the query (api-version,
statusOnly) and adds `$skiptoken`. Faults answer with ARM's bodies: 429 `TooManyRequests` + `Retry-After`,
403 `AuthorizationFailed`, 500 `InternalServerError`, 503 `ServiceUnavailable`.

Also served: scale sets (`virtualMachineScaleSets` list, and per scale set its `virtualMachines` (`$expand=
instanceView`), `networkInterfaces` and `publicipaddresses`), VM power operations (`start`, `deallocate`,
`powerOff`) as long-running operations (operations.py), and the regional `metrics:getBatch` under
`/metrics/{region}` (metrics.py). Fault kinds: `scale_sets`, `vmss_vms`, `vmss_nics`, `vmss_public_ips` (matched by
rules without a kind, like the other lists), `power`, `operations`, `metrics` (only by rules naming them).
"""

from __future__ import annotations

import json
import re
import signal
import ssl
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .entra import Entra, Reply, openid_configuration
from .faults import Control, FaultRule
from .metrics import MetricsRequestError, batch_response, synthetic_load
from .operations import ACTIONS, Operation, Operations, SandboxPower, settle_delay
from .paging import SKIPTOKEN, BadSkipToken, next_link, page_body, page_slice
from .world import ScaleSetDef, World, subscription_json, vm_id

_OPENID = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$", re.I)
_TOKEN = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$", re.I)
_SUBS = re.compile(r"^/subscriptions/?$", re.I)
_SUB = re.compile(r"^/subscriptions/([^/]+)/?$", re.I)
_LIST = re.compile(
    r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+))?/providers/"
    r"(Microsoft\.Compute/virtualMachines|Microsoft\.Network/networkInterfaces|Microsoft\.Network/publicIPAddresses"
    r"|Microsoft\.Compute/virtualMachineScaleSets)/?$",
    re.I,
)
_SCALE_SET_LIST = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/virtualMachineScaleSets/([^/]+)/"
    r"(virtualMachines|networkInterfaces|publicIPAddresses)/?$",
    re.I,
)
_POWER = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/"
    r"((?:virtualMachineScaleSets/[^/]+/)?virtualMachines/[^/]+)/(start|deallocate|powerOff)/?$",
    re.I,
)
_OPERATION = re.compile(
    r"^/subscriptions/([^/]+)/providers/Microsoft\.Compute/locations/([^/]+)/(operations|operationResults)/([^/]+)/?$",
    re.I,
)
_METRICS = re.compile(r"^/metrics/([^/]+)/subscriptions/([^/]+)/metrics:getBatch/?$", re.I)
_SUB_PREFIX = re.compile(r"^/subscriptions/([^/]+)", re.I)
_PROVIDER_KIND = {
    "microsoft.compute/virtualmachines": "vms",
    "microsoft.network/networkinterfaces": "nics",
    "microsoft.network/publicipaddresses": "public_ips",
    "microsoft.compute/virtualmachinescalesets": "scale_sets",
}
_SCALE_SET_KIND = {
    "virtualmachines": "vmss_vms",
    "networkinterfaces": "vmss_nics",
    "publicipaddresses": "vmss_public_ips",
}
_ACTION = {
    "vms": "Microsoft.Compute/virtualMachines/read",
    "nics": "Microsoft.Network/networkInterfaces/read",
    "public_ips": "Microsoft.Network/publicIPAddresses/read",
    "subscriptions": "Microsoft.Resources/subscriptions/read",
    "scale_sets": "Microsoft.Compute/virtualMachineScaleSets/read",
    "vmss_vms": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
    "vmss_nics": "Microsoft.Compute/virtualMachineScaleSets/networkInterfaces/read",
    "vmss_public_ips": "Microsoft.Compute/virtualMachineScaleSets/publicIPAddresses/read",
    "power": "Microsoft.Compute/virtualMachines/start/action",
    "operations": "Microsoft.Compute/locations/operations/read",
    "metrics": "Microsoft.Insights/metrics/read",
}
# Retry-After of a power operation's 202 and of its polls: short, so runs do not wait on the sandbox.
_LRO_RETRY_AFTER = "1"


class ArmServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self,
        tls_context: ssl.SSLContext,
        world: World,
        entra: Entra,
        control: Control,
        request_log: Path | None = None,
        state_dir: Path | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", 0), ArmHandler)
        self.socket = tls_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.base_url = f"https://127.0.0.1:{self.server_address[1]}"
        entra.base_url = self.base_url
        self.world = world
        self.entra = entra
        self.control = control
        self.world_lock = threading.Lock()
        self._initial_vms = list(world.vms)
        self._initial_scale_sets = list(world.scale_sets)
        self.operations = Operations()
        self.power = SandboxPower(state_dir) if state_dir is not None else None
        self._log_lock = threading.Lock()
        self._log = request_log.open("a", buffering=1) if request_log else None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the request's thread, so one slow client never blocks accept().
        try:
            request.settimeout(30)
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)

    def log_request_line(self, record: dict[str, Any]) -> None:
        if self._log is not None:
            with self._log_lock:
                self._log.write(json.dumps(record) + "\n")

    def reset_world(self) -> None:
        self.operations.reset()
        with self.world_lock:
            self.world.vms = list(self._initial_vms)
            self.world.scale_sets = list(self._initial_scale_sets)
            self.world.render()


class ArmHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ArmServer
    server_version = "azlin-fleet-sandbox-arm"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the JSON-lines request log replaces the stderr access log

    # -- plumbing -------------------------------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes | dict[str, Any],
        headers: tuple[tuple[str, str], ...] = (),
        *,
        kind: str | None = None,
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("x-ms-correlation-request-id", str(uuid.uuid4()))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if kind is not None:
            # Counted before the body goes out, so a client that got its answer always sees it counted.
            path = self.path.split("?", 1)[0]
            sub = _SUB_PREFIX.match(path)
            self.server.control.count(kind, status, sub.group(1) if sub else None)
            self.server.log_request_line(
                {
                    "time": round(time.time(), 3),
                    "method": self.command,
                    "kind": kind,
                    "path": path,
                    "status": status,
                }
            )
        self.wfile.write(raw)

    def _arm_error(
        self, status: int, code: str, message: str, kind: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self._send(status, {"error": {"code": code, "message": message}}, headers, kind=kind)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path, query = split.path, dict(parse_qsl(split.query, keep_blank_values=True))
        body = self._body() if method == "POST" else b""
        if m := _POWER.match(path):
            self._power(method, path, query, m.group(1), m.group(2), m.group(3), m.group(4).lower())
            return
        if m := _OPERATION.match(path):
            self._operation(method, query, m.group(1), m.group(3).lower(), m.group(4))
            return
        if m := _METRICS.match(path):
            self._metrics(method, query, m.group(1), m.group(2), body)
            return
        if m := _SCALE_SET_LIST.match(path):
            kind = _SCALE_SET_KIND[m.group(4).lower()]
            self._arm(method, path, query, kind, m.group(1), m.group(2), scale_set=m.group(3))
            return
        if path.startswith("/_sandbox/"):
            self._admin(method, path[len("/_sandbox/") :].strip("/"), body)
            return
        if m := _OPENID.match(path):
            self._openid(m.group(1))
        elif m := _TOKEN.match(path):
            if method != "POST":
                self._send(405, {"error": "invalid_request"}, kind="token")
                return
            self._token(m.group(1), body)
        elif _SUBS.match(path):
            self._arm(method, path, query, "subscriptions", None, None)
        elif m := _SUB.match(path):
            self._arm(method, path, query, "subscriptions", m.group(1), None, single=True)
        elif m := _LIST.match(path):
            self._arm(method, path, query, _PROVIDER_KIND[m.group(3).lower()], m.group(1), m.group(2))
        else:
            self._arm_error(
                404, "NotFound", f"The requested path '{path}' is not served by the sandbox endpoint.", "other"
            )

    # -- Entra ------------------------------------------------------------------------------------------------------
    def _reply(self, reply: Reply, kind: str) -> None:
        self._send(reply.status, reply.body, reply.headers, kind=kind)

    def _fault(self, kind: str, subscription: str | None) -> bool:
        delay, rule = self.server.control.take_fault(kind, subscription)
        if delay:
            time.sleep(delay)
        if rule is None:
            return False
        self._answer_fault(rule, kind, subscription)
        return True

    def _openid(self, tenant: str) -> None:
        if self._fault("openid", None):
            return
        entra = self.server.entra
        if not entra.known_tenant(tenant):
            self._reply(entra.unknown_tenant(tenant), "openid")
            return
        self._send(200, openid_configuration(self.server.base_url, tenant), kind="openid")

    def _token(self, tenant: str, body: bytes) -> None:
        if self._fault("token", None):
            return
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        self._reply(self.server.entra.token(tenant, form), "token")

    # -- ARM ----------------------------------------------------------------------------------------------------------
    def _answer_fault(self, rule: FaultRule, kind: str, subscription: str | None) -> None:
        if kind in ("token", "openid"):
            self._send(
                rule.status or 500,
                {
                    "error": "temporarily_unavailable",
                    "error_description": f"AADSTS50000: sandbox fault {rule.status}.",
                    "error_codes": [50000],
                },
                kind=kind,
            )
            return
        scope = f"/subscriptions/{subscription}" if subscription else "/"
        if rule.status == 429:
            writes = kind == "power"
            self._arm_error(
                429,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type - "
                f"{'Write' if writes else 'Read'}_ObservationWindow_00:05:00. For more information, refer to - "
                "https://aka.ms/srpthrottlinglimits",
                kind,
                (
                    ("Retry-After", str(rule.retry_after)),
                    (f"x-ms-ratelimit-remaining-subscription-{'writes' if writes else 'reads'}", "0"),
                ),
            )
        elif rule.status == 403:
            entra = self.server.entra
            self._arm_error(
                403,
                "AuthorizationFailed",
                f"The client '{entra.client_id}' with object id '{entra.client_id}' does not have authorization to "
                f"perform action '{_ACTION.get(kind, 'read')}' over scope '{scope}' or the scope is invalid. If "
                "access was recently granted, please refresh your credentials.",
                kind,
            )
        elif rule.status == 503:
            self._arm_error(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable.",
                kind,
                (("Retry-After", str(rule.retry_after)),),
            )
        else:
            self._arm_error(
                500,
                "InternalServerError",
                f"Encountered internal server error. Diagnostic information: subscription id "
                f"'{subscription or ''}', tracking id '{uuid.uuid4()}'.",
                kind,
            )

    def _arm(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        kind: str,
        subscription: str | None,
        resource_group: str | None,
        *,
        single: bool = False,
        scale_set: str | None = None,
    ) -> None:
        if method != "GET":
            self._arm_error(405, "MethodNotAllowed", f"The sandbox endpoint only lists; {method} is not served.", kind)
            return
        if self._unauthorized(kind):
            return
        if self._fault(kind, subscription):
            return
        if not self._has_api_version(query, kind):
            return
        world = self.server.world
        subs = {s.lower(): s for s in world.subscriptions}
        if subscription is not None and subscription.lower() not in subs:
            self._arm_error(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.", kind)
            return
        if single:
            index = world.subscriptions.index(subs[subscription.lower()])  # type: ignore[union-attr]
            self._send(200, subscription_json(world.subscriptions[index], index, world.tenant_id), kind=kind)
            return
        if kind == "subscriptions":
            items = [
                json.dumps(subscription_json(s, i, world.tenant_id)).encode() for i, s in enumerate(world.subscriptions)
            ]
        elif scale_set is not None:
            list_kind = kind
            if kind == "vmss_vms" and query.get("$expand", "").lower() == "instanceview":
                list_kind = "vmss_vms_view"
            with self.server.world_lock:
                found = world.list_scale_set_items(subs[subscription.lower()], resource_group, scale_set, list_kind)  # type: ignore[union-attr,arg-type]
            if found is None:
                self._arm_error(
                    404,
                    "ResourceNotFound",
                    f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{scale_set}' under resource group "
                    f"'{resource_group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                    kind,
                )
                return
            items = found
        else:
            list_kind = "vms_status" if kind == "vms" and query.get("statusOnly", "").lower() == "true" else kind
            with self.server.world_lock:
                items = world.list_items(subs[subscription.lower()], list_kind, resource_group)  # type: ignore[union-attr,arg-type]
        try:
            start, stop, token = page_slice(len(items), query.get(SKIPTOKEN), self.server.control.page_size)
        except BadSkipToken:
            self._arm_error(400, "InvalidSkipToken", f"The skip token '{query.get(SKIPTOKEN)}' is invalid.", kind)
            return
        link = next_link(self.server.base_url, path, query, token) if token else None
        self._send(200, page_body(items[start:stop], link), kind=kind)

    def _unauthorized(self, kind: str) -> bool:
        """Answer 401 (and return True) unless the request carries a live bearer token."""
        problem = self.server.entra.check_bearer(self.headers.get("Authorization"))
        if problem is not None:
            message = {
                "AuthenticationFailed": "Authentication failed. The 'Authorization' header is missing.",
                "InvalidAuthenticationToken": "The access token is invalid.",
                "ExpiredAuthenticationToken": "The access token expiry UTC time is in the past.",
            }[problem]
            challenge = (
                f'Bearer authorization_uri="{self.server.base_url}/{self.server.entra.tenant_id}", '
                f'error="invalid_token", error_description="{message}"'
            )
            self._arm_error(401, problem, message, kind, (("WWW-Authenticate", challenge),))
            return True
        return False

    def _has_api_version(self, query: dict[str, str], kind: str) -> bool:
        if query.get("api-version"):
            return True
        self._arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
            kind,
        )
        return False

    # -- power operations (long-running) ----------------------------------------------------------------------------
    def _power(
        self, method: str, path: str, query: dict[str, str], subscription: str, rg: str, vm_path: str, action: str
    ) -> None:
        kind = "power"
        if method != "POST":
            self._arm_error(405, "MethodNotAllowed", f"{action} takes POST, not {method}.", kind)
            return
        if self._unauthorized(kind) or self._fault(kind, subscription) or not self._has_api_version(query, kind):
            return
        server = self.server
        resource_id = f"/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.Compute/{vm_path}"
        with server.world_lock:
            index = server.world.find_vm(resource_id)
            vm = server.world.vms[index] if index is not None else None
        if vm is None:
            self._arm_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Compute/{vm_path}' under resource group '{rg}' was not found. "
                "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                kind,
            )
            return
        failure = server.operations.take_failure(action, vm.name)
        op = server.operations.begin(action, vm_id(vm), lambda o, g: self._run_operation(o, g, failure))
        api = query["api-version"]
        where = f"{server.base_url}/subscriptions/{vm.subscription}/providers/Microsoft.Compute/locations/{vm.location}"
        self._send(
            202,
            b"",
            (
                ("Azure-AsyncOperation", f"{where}/operations/{op.id}?p=1&api-version={api}"),
                ("Location", f"{where}/operationResults/{op.id}?p=1&monitor=true&api-version={api}"),
                ("Retry-After", _LRO_RETRY_AFTER),
            ),
            kind=kind,
        )

    def _run_operation(self, op: Operation, generation: int, failure: dict[str, str] | None) -> None:
        server = self.server
        transitional, final, running = ACTIONS[op.action]
        if failure is not None:
            settle_delay()
            server.operations.finish(op, failure)
            return
        with server.world_lock:
            index = server.world.find_vm(op.vm_id)
            if index is None or server.operations.generation != generation:
                server.operations.finish(op, {"code": "OperationPreempted", "message": "The world was reset."})
                return
            host = server.world.vms[index].host
            server.world.set_power_at(index, transitional)
        error = None
        try:
            if server.power is not None:
                server.power.apply(host, running)
        except Exception as ex:  # noqa: BLE001 - any hook failure becomes the operation's ARM error
            error = {"code": "InternalExecutionError", "message": f"The sandbox host did not follow: {ex}"}
        settle_delay()
        with server.world_lock:
            index = server.world.find_vm(op.vm_id)
            if index is not None and server.operations.generation == generation:
                server.world.set_power_at(index, final if error is None else "unknown")
        server.operations.finish(op, error)

    def _operation(self, method: str, query: dict[str, str], subscription: str, what: str, op_id: str) -> None:
        kind = "operations"
        if method != "GET":
            self._arm_error(405, "MethodNotAllowed", f"Operations take GET, not {method}.", kind)
            return
        if self._unauthorized(kind) or self._fault(kind, subscription) or not self._has_api_version(query, kind):
            return
        op = self.server.operations.get(op_id)
        if op is None:
            self._arm_error(404, "OperationNotFound", f"The operation '{op_id}' was not found.", kind)
            return
        retry = (("Retry-After", _LRO_RETRY_AFTER),)
        if what == "operations":
            self._send(200, op.status_body(), retry if op.status == "InProgress" else (), kind=kind)
        elif op.status == "InProgress":
            self._send(202, b"", (("Location", self._absolute()), *retry), kind=kind)
        elif op.status == "Failed":
            self._send(200, {"error": op.error}, kind=kind)
        else:
            self._send(200, b"", kind=kind)

    def _absolute(self) -> str:
        return f"{self.server.base_url}{self.path}"

    # -- Azure Monitor ----------------------------------------------------------------------------------------------
    def _metrics(self, method: str, query: dict[str, str], region: str, subscription: str, body: bytes) -> None:
        kind = "metrics"
        if method != "POST":
            self._arm_error(405, "MethodNotAllowed", f"metrics:getBatch takes POST, not {method}.", kind)
            return
        if self._unauthorized(kind) or self._fault(kind, subscription) or not self._has_api_version(query, kind):
            return
        try:
            resource_ids = [str(r) for r in json.loads(body or b"{}").get("resourceids") or []]
        except (ValueError, AttributeError):
            self._arm_error(400, "BadRequest", 'The request body must be {"resourceids": [...]}.', kind)
            return
        wrong = [r for r in resource_ids if not r.lower().startswith(f"/subscriptions/{subscription.lower()}/")]
        if wrong:
            self._arm_error(400, "BadRequest", f"Resources {wrong[:3]} are not in subscription {subscription}.", kind)
            return
        server = self.server
        loads = server.power.loads() if server.power is not None else {}
        with server.world_lock:
            vms = {}
            for resource_id in resource_ids:
                index = server.world.find_vm(resource_id)
                if index is not None:
                    vm = server.world.vms[index]
                    vms[resource_id.lower()] = {
                        "location": vm.location,
                        "running": vm.power_state == "running",
                        "load": loads.get(vm.host or "") or synthetic_load(vm.name),
                    }
        try:
            answer = batch_response(query, resource_ids, vms, region, datetime.now(UTC))
        except MetricsRequestError as ex:
            self._arm_error(400, ex.code, str(ex), kind)
            return
        self._send(200, answer, kind=kind)

    # -- admin --------------------------------------------------------------------------------------------------------
    def _admin(self, method: str, action: str, body: bytes) -> None:
        if not self.client_address[0].startswith("127."):
            self._send(403, {"error": "the admin API answers loopback clients only"})
            return
        try:
            spec = json.loads(body) if body.strip() else {}
            if not isinstance(spec, dict):
                raise ValueError("the request body must be a JSON object")
            self._send(200, self._admin_action(method, action, spec))
        except (ValueError, KeyError, TypeError) as ex:
            self._send(400, {"error": str(ex)})
        except LookupError as ex:
            self._send(404, {"error": str(ex)})

    def _admin_action(self, method: str, action: str, spec: dict[str, Any]) -> dict[str, Any]:
        server = self.server
        control = server.control
        if (method, action) == ("GET", "health"):
            return {"ok": True, "base_url": server.base_url}
        if (method, action) == ("GET", "requests"):
            return control.counts()
        if (method, action) == ("GET", "faults"):
            return {"faults": control.rules()}
        if (method, action) == ("POST", "faults"):
            rule = control.add_rule(spec)
            return {"id": rule.id, "faults": control.rules()}
        if (method, action) == ("POST", "reset"):
            control.reset()
            server.reset_world()
            revoked = server.entra.revoke_all() if spec.get("tokens") else 0
            return {"ok": True, "revoked_tokens": revoked}
        if (method, action) == ("POST", "config"):
            if "page_size" in spec:
                size = int(spec["page_size"])
                if size < 1:
                    raise ValueError(f"page_size must be at least 1, got {size}")
                control.page_size = size
            if "status_only_shape" in spec:
                if spec["status_only_shape"] not in ("minimal", "full"):
                    raise ValueError("status_only_shape must be 'minimal' or 'full'")
                with server.world_lock:
                    server.world.status_shape = spec["status_only_shape"]
                    server.world.render()
            return {"page_size": control.page_size, "status_only_shape": server.world.status_shape}
        if (method, action) == ("POST", "power"):
            with server.world_lock:
                changed = server.world.set_power(str(spec["name"]), str(spec["state"]), spec.get("subscription"))
            if not changed:
                raise LookupError(f"no VM named {spec['name']!r}")
            return {"changed": changed}
        if (method, action) == ("POST", "scale_sets"):
            mode = spec.get("orchestration", "Uniform")
            if mode not in ("Uniform", "Flexible"):
                raise ValueError("orchestration must be 'Uniform' or 'Flexible'")
            tags = [(str(k), str(v)) for k, v in (spec.get("tags") or {}).items()]
            with server.world_lock:
                made: ScaleSetDef = server.world.make_scale_set(str(spec["name"]), mode, list(spec["hosts"]), tags)
                members = [vm.name for vm in server.world.vms if vm.scale_set == made.name]
            return {
                "name": made.name,
                "subscription": made.subscription,
                "resource_group": made.resource_group,
                "orchestration": made.orchestration,
                "members": members,
            }
        if (method, action) == ("POST", "power_failures"):
            server.operations.fail_next_start(str(spec["name"]), spec.get("error"))
            return {"ok": True}
        if (method, action) == ("POST", "tokens/revoke"):
            return {"revoked_tokens": server.entra.revoke_all()}
        if (method, action) == ("GET", "world"):
            with server.world_lock:
                return {
                    "tenant_id": server.world.tenant_id,
                    "subscriptions": server.world.subscriptions,
                    "vms": server.world.summary(),
                    "scale_sets": [
                        {
                            "name": ss.name,
                            "subscription": ss.subscription,
                            "resource_group": ss.resource_group,
                            "orchestration": ss.orchestration,
                            "tags": dict(ss.tags),
                        }
                        for ss in server.world.scale_sets
                    ],
                }
        raise LookupError(f"unknown admin action {method} /_sandbox/{action}")


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def run_until_signalled(server: ArmServer) -> None:
    """Serve until SIGTERM/SIGINT, then close the socket."""

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()


__all__ = ["ArmServer", "run_until_signalled", "tls_context"]
