"""The Graph API surface: routes a (decoded, authenticated) request to the resource handlers.

Used both for top-level HTTP requests and for the inner requests of ``$batch``, so both get the same validation,
throttling and bodies. Knows nothing about sockets or TLS.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from . import resources as R
from .auth import TokenInfo
from .config import SimConfig
from .directory import DIRECTORY, INTUNE, Directory, directory_of
from .errors import GraphError, bad_request, graph_error_body, not_found
from .odata import compile_filter, normalize_params, parse_list_query
from .paging import PageState, decode_token, encode_token, take_page
from .profiles import PROFILES
from .store import Record
from .tenant import TenantState
from .throttle import Throttler

if TYPE_CHECKING:
    from .subscription_api import SubscriptionApi

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
PREFER_ENUMS = "include-unknown-enum-members"
MAX_BATCH = 20
_DIAGNOSTIC = json.dumps(
    {
        "ServerInfo": {
            "DataCenter": "Loopback",
            "Slice": "E",
            "Ring": "5",
            "ScaleUnit": "000",
            "RoleInstance": "graphsim",
        }
    }
)
# The first path segments the directory serves (servicePrincipals also as servicePrincipals(appId='...')).
_DIRECTORY_ROOTS = frozenset({"users", "devices", "devicemanagement", "rolemanagement", "reports"})
_NOUNS = {
    R.ALERTS.name: "alert",
    R.INCIDENTS.name: "incident",
    R.RISK_DETECTIONS.name: "riskDetection",
    R.RISKY_USERS.name: "riskyUser",
    R.RISKY_SERVICE_PRINCIPALS.name: "riskyServicePrincipal",
    R.SERVICE_PRINCIPAL_RISK_DETECTIONS.name: "servicePrincipalRiskDetection",
}


@dataclass
class GraphRequest:
    method: str
    path: str  # below the version segment, e.g. "security/alerts_v2/abc" (percent-decoded)
    query: str  # raw query string
    headers: dict[str, str]  # lower-case names
    body: bytes
    token: TokenInfo
    base_url: str
    version: str = "v1.0"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_request_id: str = ""
    in_batch: bool = False

    def __post_init__(self) -> None:
        if not self.client_request_id:
            self.client_request_id = self.headers.get("client-request-id") or str(uuid.uuid4())

    @property
    def full_enums(self) -> bool:
        """True when ``Prefer`` (possibly several comma-separated preferences) asks for all enum members."""
        prefer = self.headers.get("prefer", "")
        return any(p.strip().lower() == PREFER_ENUMS for p in prefer.split(","))

    def json_body(self) -> object:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise bad_request("The request body is not valid JSON.") from None


@dataclass
class GraphResponse:
    status: int
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[], GraphResponse]


class GraphApi:
    def __init__(
        self,
        tenants: Mapping[str, TenantState],
        throttler: Throttler,
        config: SimConfig,
        log_inner: Callable[[GraphRequest, GraphResponse], None] | None = None,
        subscriptions: SubscriptionApi | None = None,
    ):
        self.tenants = tenants
        self.throttler = throttler
        self.config = config
        self.log_inner = log_inner
        self.subscriptions = subscriptions

    # --- entry ------------------------------------------------------------------------------------------------------

    def handle(self, req: GraphRequest) -> GraphResponse:
        try:
            resp = self._route(req)
        except GraphError as exc:
            resp = self.error(req, exc)
        resp.headers.setdefault("request-id", req.request_id)
        resp.headers.setdefault("client-request-id", req.client_request_id)
        resp.headers.setdefault("x-ms-ags-diagnostic", _DIAGNOSTIC)
        if resp.body is not None:
            resp.headers.setdefault("Content-Type", JSON_TYPE)
            resp.headers.setdefault("OData-Version", "4.0")
        if req.full_enums and resp.status < 400:
            resp.headers.setdefault("Preference-Applied", PREFER_ENUMS)
        return resp

    @staticmethod
    def error(req: GraphRequest, exc: GraphError) -> GraphResponse:
        body = graph_error_body(exc.status, exc.code, exc.message, req.request_id, req.client_request_id)
        return GraphResponse(exc.status, body, {"Content-Type": "application/json", **exc.headers})

    def _route(self, req: GraphRequest) -> GraphResponse:
        segments = [s for s in req.path.split("/") if s]
        lower = [s.lower() for s in segments]
        if lower == ["$batch"]:
            if req.in_batch:
                raise bad_request("A batch request cannot contain another batch request.")
            require_method(req, "POST")
            return self._batch(req)
        if lower[:1] == ["subscriptions"] and self.subscriptions is not None:
            return self.subscriptions.route(req, segments[1:])
        if lower and (lower[0] in _DIRECTORY_ROOTS or lower[0].startswith("serviceprincipals")):
            require_method(req, "GET")
            return self._directory(req, segments)
        spec = R.BY_PATH.get("/".join(lower[:2])) if len(lower) >= 2 else None
        if spec is None:
            bad = (
                segments[1]
                if len(lower) >= 2 and lower[0] in ("security", "identityprotection")
                else (segments[0] if segments else "")
            )
            raise not_found(f"Resource not found for the segment '{bad}'.")
        handler = self._operation(req, spec, segments[2:])
        self._throttle(spec.family, req)
        return handler()

    def _operation(self, req: GraphRequest, spec: R.ResourceSpec, rest: list[str]) -> Handler:
        """Pick the handler for the path below the collection, checking the method (405 before throttling)."""
        tenant = self.tenants[req.token.tenant]
        sub = [s.lower() for s in rest]
        if not rest:
            require_method(req, "GET")
            return lambda: self._list(req, spec, tenant)
        if (
            len(rest) == 1
            and spec in (R.RISKY_USERS, R.RISKY_SERVICE_PRINCIPALS)
            and sub[0] in ("confirmcompromised", "dismiss")
        ):
            require_method(req, "POST")
            action = "confirmCompromised" if sub[0] == "confirmcompromised" else "dismiss"
            return lambda: self._risk_action(req, spec, tenant, action)
        if len(rest) == 1:
            if spec in (R.ALERTS, R.INCIDENTS):
                require_method(req, "GET", "PATCH")
                if req.method == "PATCH":
                    return lambda: self._patch(req, spec, tenant, rest[0])
            else:
                require_method(req, "GET")
            return lambda: self._get(req, spec, tenant, rest[0])
        if len(rest) == 2 and sub[1] == "comments" and spec in (R.ALERTS, R.INCIDENTS):
            require_method(req, "GET", "POST")
            return lambda: self._comments(req, spec, tenant, rest[0])
        if len(rest) == 2 and sub[1] == "alerts" and spec is R.INCIDENTS:
            require_method(req, "GET")
            return lambda: self._incident_alerts(req, tenant, rest[0])
        raise not_found(f"Resource not found for the segment '{rest[-1]}'.")

    def _directory(self, req: GraphRequest, segments: list[str]) -> GraphResponse:
        tenant = self.tenants[req.token.tenant]
        self._throttle(Directory.family(segments), req)
        params = normalize_params(parse_qsl(req.query, keep_blank_values=True))
        answer = directory_of(tenant).get(
            segments, params, req.headers, self.config.denied_permissions,
            filter_values=self.config.directory_filter_values, page_size=self.config.directory_page_size,
            link=f"{req.base_url}/{req.version}/{'/'.join(segments)}")
        return GraphResponse(200, _json(answer))

    def _throttle(self, family: str, req: GraphRequest) -> None:
        wait = self.throttler.check(family, req.token.tenant, req.token.client_id)
        if wait is None:
            return
        headers = {}
        if family in (R.SECURITY, DIRECTORY, INTUNE):  # Identity Protection sends no Retry-After (docs/graph-notes.md)
            headers["Retry-After"] = f"{wait:.3f}".rstrip("0").rstrip(".")
        raise GraphError(429, "Please retry again later.", "TooManyRequests", headers)

    # --- reads ------------------------------------------------------------------------------------------------------

    def _context(self, req: GraphRequest, suffix: str) -> str:
        return f"{req.base_url}/{req.version}/$metadata#{suffix}"

    def _list(self, req: GraphRequest, spec: R.ResourceSpec, tenant: TenantState) -> GraphResponse:
        params = normalize_params(parse_qsl(req.query, keep_blank_values=True))
        profile = PROFILES[self.config.profile]
        for name in self.config.refused_options.get(spec.name, ()):
            if name in params:
                raise bad_request(f"Query option '{name}' is not supported for '{spec.path}'.")
        skip = 0
        if "$skiptoken" in params:
            state = decode_token(params["$skiptoken"])
            if state.resource != spec.name or state.tenant != tenant.id:
                raise bad_request("The $skiptoken is invalid.")
        else:
            ascending = False
            if profile.orderby and "$orderby" in params:
                ascending = _ascending(spec, params.pop("$orderby"))
            if profile.clamp_top and params.get("$top", "").isdigit() and int(params["$top"]) > spec.max_top:
                params["$top"] = str(spec.max_top)
            q = parse_list_query(spec, params)
            top = q.top if q.top is not None else spec.default_top
            state = PageState(spec.name, tenant.id, q.filter, top, q.count, q.expand, q.select, 0, ascending)
            skip = q.skip
        flt = compile_filter(spec, state.filter) if state.filter else None
        with tenant.lock:
            page = take_page(
                tenant.collection(spec.name), flt, pos=state.pos, skip=skip,
                top=profile.page_size(spec.family, state.top), want_count=state.count, ascending=state.ascending,
            )
            expansions = self._expansions(tenant, page.records) if "alerts" in state.expand else None
        context = self._context(req, spec.path + (f"({','.join(state.select)})" if state.select else ""))
        parts = [b'{"@odata.context":', _json(context)]
        if page.count is not None:
            parts += [b',"@odata.count":', str(page.count).encode()]
        linked = spec.family in profile.next_link_families
        if page.next_pos is not None and linked:
            token = encode_token(replace(state, pos=page.next_pos))
            parts += [b',"@odata.nextLink":', _json(f"{req.base_url}/{req.version}/{spec.path}?$skiptoken={token}")]
        parts.append(b',"value":[')
        full = req.full_enums
        for i, record in enumerate(page.records):
            if i:
                parts.append(b",")
            parts.extend(self._item_parts(record, full, state.select, expansions))
        parts.append(b"]}")
        return GraphResponse(200, b"".join(parts))

    def _expansions(self, tenant: TenantState, incidents: list[Record]) -> dict[str, list[Record]]:
        alerts = tenant.collection(R.ALERTS.name)
        out = {}
        for incident in incidents:
            ids = tenant.incident_alerts.get(incident.id, ())
            out[incident.id] = [r for r in (alerts.get(i) for i in ids) if r is not None]
        return out

    @staticmethod
    def _item_parts(
        record: Record, full: bool, select: tuple[str, ...] | None, expansions: dict[str, list[Record]] | None
    ) -> list[bytes]:
        if select:
            item = record.to_dict(full)
            return [_json({k: item[k] for k in ("id", *select) if k in item})]
        head = record.head(full)
        if expansions is None:
            return [head, record.rest]
        parts = [head, record.rest[:-1], b',"alerts":[']
        for i, alert in enumerate(expansions.get(record.id, ())):
            if i:
                parts.append(b",")
            parts += [alert.head(full), alert.rest]
        parts.append(b"]}")
        return parts

    def _get(self, req: GraphRequest, spec: R.ResourceSpec, tenant: TenantState, item_id: str) -> GraphResponse:
        params = normalize_params(parse_qsl(req.query, keep_blank_values=True))
        q = parse_list_query(spec, params, single=True)
        with tenant.lock:
            record = tenant.collection(spec.name).get(item_id)
            if record is None:
                raise not_found(f"The {_NOUNS[spec.name]} with id '{item_id}' was not found.")
            expansions = self._expansions(tenant, [record]) if "alerts" in q.expand else None
        return self._entity(req, spec, self._item_parts(record, req.full_enums, q.select, expansions))

    def _entity(self, req: GraphRequest, spec: R.ResourceSpec, parts: list[bytes]) -> GraphResponse:
        body = b"".join(parts)
        prefix = b'{"@odata.context":' + _json(self._context(req, f"{spec.path}/$entity"))
        return GraphResponse(200, prefix + (b"," + body[1:] if len(body) > 2 else b"}"))

    def _incident_alerts(self, req: GraphRequest, tenant: TenantState, incident_id: str) -> GraphResponse:
        with tenant.lock:
            incident = tenant.collection(R.INCIDENTS.name).get(incident_id)
            if incident is None:
                raise not_found(f"The incident with id '{incident_id}' was not found.")
            alerts = self._expansions(tenant, [incident])[incident_id]
        full = req.full_enums
        parts = [
            b'{"@odata.context":',
            _json(self._context(req, f"security/incidents('{incident_id}')/alerts")),
            b',"value":[',
        ]
        for i, alert in enumerate(alerts):
            if i:
                parts.append(b",")
            parts += [alert.head(full), alert.rest]
        parts.append(b"]}")
        return GraphResponse(200, b"".join(parts))

    # --- writes -----------------------------------------------------------------------------------------------------

    def _patch(self, req: GraphRequest, spec: R.ResourceSpec, tenant: TenantState, item_id: str) -> GraphResponse:
        body = req.json_body()
        if spec is R.ALERTS:
            record = tenant.patch_alert(item_id, body)
        else:
            record = tenant.patch_incident(item_id, body, self._author(req))
        return self._entity(req, spec, [record.json_bytes(req.full_enums)])

    def _comments(self, req: GraphRequest, spec: R.ResourceSpec, tenant: TenantState, item_id: str) -> GraphResponse:
        if req.method == "GET":
            with tenant.lock:
                record = tenant.collection(spec.name).get(item_id)
            if record is None:
                raise not_found(f"The {_NOUNS[spec.name]} with id '{item_id}' was not found.")
            comments = record.to_dict()["comments"]
        elif spec is R.ALERTS:
            comments = tenant.add_alert_comment(item_id, req.json_body(), self._author(req))
        else:
            comments = tenant.add_incident_comment(item_id, req.json_body(), self._author(req))
        context = self._context(req, f"{spec.path}('{item_id}')/comments")
        return GraphResponse(200, _json({"@odata.context": context, "value": comments}))

    def _risk_action(self, req: GraphRequest, spec: R.ResourceSpec, tenant: TenantState, action: str) -> GraphResponse:
        body = req.json_body()
        if spec is R.RISKY_USERS:
            tenant.risky_users_action(action, body)
        else:
            tenant.risky_service_principals_action(action, body)
        return GraphResponse(204)

    def _author(self, req: GraphRequest) -> str:
        return self.config.app_display_name

    # --- $batch -----------------------------------------------------------------------------------------------------

    def _batch(self, req: GraphRequest) -> GraphResponse:
        """JSON batching (docs/graph-notes.md): up to 20 requests, run in order, each throttled on its own."""
        payload = req.json_body()
        steps = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(steps, list) or not steps:
            raise bad_request("Invalid batch payload format: a non-empty 'requests' array is required.")
        if len(steps) > MAX_BATCH:
            raise bad_request(f"The number of requests in the batch ({len(steps)}) exceeds the limit of {MAX_BATCH}.")
        seen: set[str] = set()
        for step in steps:
            if not isinstance(step, dict) or not all(isinstance(step.get(k), str) for k in ("id", "method", "url")):
                raise bad_request("Invalid batch payload format: every request needs string 'id', 'method', 'url'.")
            if step["id"] in seen:
                raise bad_request(f"Batch request contains duplicate request id '{step['id']}'.")
            depends = step.get("dependsOn") or []
            if not isinstance(depends, list) or any(d not in seen for d in depends):
                raise bad_request(f"Request '{step['id']}' depends on an unknown or later request id.")
            seen.add(step["id"])
            headers = step.get("headers") or {}
            if not isinstance(headers, dict):
                raise bad_request(f"Request '{step['id']}': 'headers' must be an object.")
            if "body" in step and not any(k.lower() == "content-type" for k in headers):
                raise bad_request(f"Request '{step['id']}': a Content-Type header is required when a body is present.")
        statuses: dict[str, int] = {}
        out: list[bytes] = []
        for step in steps:
            resp = self._batch_step(req, step, statuses)
            statuses[step["id"]] = resp.status
            headers = {k: v for k, v in resp.headers.items() if k in ("Content-Type", "Retry-After", "Location")}
            item = b'{"id":' + _json(step["id"]) + b',"status":' + str(resp.status).encode()
            item += b',"headers":' + _json(headers)
            if resp.body is not None:
                item += b',"body":' + resp.body
            out.append(item + b"}")
        return GraphResponse(200, b'{"responses":[' + b",".join(out) + b"]}")

    def _batch_step(self, outer: GraphRequest, step: dict[str, Any], statuses: dict[str, int]) -> GraphResponse:
        headers = {str(k).lower(): str(v) for k, v in (step.get("headers") or {}).items()}
        url: str = step["url"]
        path, _, query = url.partition("?")
        inner = GraphRequest(
            method=step["method"].upper(),
            path=path.lstrip("/"),
            query=query,
            headers=headers,
            body=json.dumps(step["body"]).encode() if "body" in step else b"",
            token=outer.token,
            base_url=outer.base_url,
            version=outer.version,
            in_batch=True,
        )
        if any(statuses.get(d, 0) >= 400 for d in step.get("dependsOn") or []):
            resp = self.handle_error(inner, GraphError(424, "The request depends on a request that failed."))
        elif url.lower().startswith(("http://", "https://")):
            resp = self.handle_error(inner, bad_request("Batch request URLs must be relative."))
        else:
            inner.path = unquote(inner.path)
            resp = self.handle(inner)
        if self.log_inner is not None:
            self.log_inner(inner, resp)
        return resp

    def handle_error(self, req: GraphRequest, exc: GraphError) -> GraphResponse:
        resp = self.error(req, exc)
        resp.headers.setdefault("request-id", req.request_id)
        resp.headers.setdefault("client-request-id", req.client_request_id)
        return resp


def _ascending(spec: R.ResourceSpec, text: str) -> bool:
    """``$orderby=<cursor property> [asc|desc]``, the one order the observed profile accepts."""
    parts = text.split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise bad_request(f"Invalid value '{text}' for query option '$orderby'.")
    if parts[0] != spec.cursor:
        raise bad_request(f"Ordering by the property '{parts[0]}' is not supported for '{spec.path}'.")
    return len(parts) == 1 or parts[1].lower() == "asc"


def require_method(req: GraphRequest, *methods: str) -> None:
    if req.method not in methods:
        raise GraphError(
            405,
            f"The HTTP method '{req.method}' is not supported for this resource.",
            "MethodNotAllowed",
            {"Allow": ", ".join(methods)},
        )


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
