"""The list actions ("List alerts", "List incidents", "List alerts of an incident"): typed filters turned into a
safe OData `$filter`, one Graph page per call, and an opaque continuation that survives Graph's paging quirks.

Safety: no caller text is ever pasted into OData. Enum filters are checked against Graph's vocabulary and written
in Graph's spelling; `assignedTo` is a string literal escaped by the OData rule (a quote is doubled) after control
characters are refused; times are parsed and written again as `YYYY-MM-DDTHH:MM:SSZ`; the incident id is checked
against the id shape and goes into the URL path percent-encoded. The query string itself is encoded by requests.

Filters Graph does not document as filterable on alerts_v2 (`detectionSource`) are applied by the app to each page,
as are the exact (sub-second) time bounds: Graph gets whole-second bounds that include them. A page can therefore
hold fewer than `top` items while more follow.

Paging: Graph's `@odata.nextLink` is followed when it is given. alerts_v2 has been seen answering a full page with no
nextLink (a field report: elastic/integrations#20234), so when a page is full and has no nextLink the continuation
carries a time cursor instead: the edge of the page's lastUpdateDateTime range, and the keys of the versions seen in
that edge's second. The next call narrows the window to that second and before it (newest-first pages) or from it
on (oldest-first pages) and drops the versions already returned. Nothing is skipped, and a version can repeat only
if more than MAX_EDGE_KEYS versions share one second. The continuation is sealed (shared.actions.tokens): a nextLink
in it is the one Graph gave, never one a caller wrote.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from shared.actions import filters, validation
from shared.actions import vocabulary as v
from shared.actions.errors import storage_problem
from shared.actions.operations import PERMISSION
from shared.actions.tokens import open_sealed, seal, signing_key
from shared.graph.versions import normalize_version, shift, to_datetime, version_key
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.actions.service import Answer, Context

log = logging.getLogger("graph_security_bridge.actions")

TOKEN_PARAMETER = "continuationToken"  # noqa: S105 - a parameter name, not a secret
TOKEN_VERSION = 1
DEFAULT_TOP = 100
MAX_TOP = 1000  # Graph's largest page for alerts_v2 and incidents
MAX_EDGE_KEYS = 400  # versions remembered in the edge second (keeps the token within tokens.MAX_TOKEN_CHARS)
CURSOR_FIELD = "lastUpdateDateTime"

ALERTS_PATH = "/security/alerts_v2"
INCIDENTS_PATH = "/security/incidents"


@dataclass(frozen=True)
class ListSpec:
    kind: str  # "alert" | "incident", for permissions and messages
    path: str
    server_filters: tuple[filters.EnumFilter, ...]  # sent to Graph in $filter
    local_filters: tuple[filters.EnumFilter, ...] = ()  # applied by the app to each page


ALERTS = ListSpec("alert", ALERTS_PATH,
                  (filters.SEVERITY, filters.ALERT_STATUS, filters.CLASSIFICATION, filters.SERVICE_SOURCE),
                  (filters.DETECTION_SOURCE,))
INCIDENTS = ListSpec("incident", INCIDENTS_PATH, (filters.SEVERITY, filters.INCIDENT_STATUS, filters.CLASSIFICATION))

# Time window parameters: (parameter, Graph field, operator).
TIME_BOUNDS: tuple[tuple[str, str, str], ...] = (
    ("createdAfter", "createdDateTime", "ge"),
    ("createdBefore", "createdDateTime", "lt"),
    ("updatedAfter", "lastUpdateDateTime", "ge"),
    ("updatedBefore", "lastUpdateDateTime", "lt"),
)


def odata_string(value: str) -> str:
    """An OData string literal: single quotes, a quote inside doubled (OData ABNF, `SQUOTE-in-string`)."""
    return "'" + value.replace("'", "''") + "'"


def _second(version: str) -> str:
    """The whole second of a normal-form version, as an OData DateTimeOffset literal."""
    return version[:19] + "Z"


def _next_second(version: str) -> str:
    return _second(shift(version[:19] + ".0000000Z", timedelta(seconds=1)))


@dataclass(frozen=True)
class Query:
    """A validated list request: what Graph is asked, and what the app checks on each item."""

    enums: dict[str, tuple[str, ...]]
    local_enums: dict[str, tuple[str, ...]]
    assigned_to: str | None
    bounds: tuple[tuple[str, str, str], ...]  # (Graph field, operator, normal-form version)
    top: int
    incident_id: str | None = None

    def clauses(self) -> list[str]:
        out = []
        for name, values in self.enums.items():
            if values:
                # Values come from the vocabulary, never from the caller; quoted all the same.
                out.append("(" + " or ".join(f"{name} eq {odata_string(value)}" for value in values) + ")")
        if self.assigned_to is not None:
            out.append(f"assignedTo eq {odata_string(self.assigned_to)}")
        for graph_field, op, version in self.bounds:
            # Whole seconds that include the exact bound; the exact check is made on each item.
            literal = _second(version) if op == "ge" else _next_second(version)
            out.append(f"{graph_field} {op} {literal}")
        return out

    def keeps(self, item: dict[str, Any]) -> bool:
        if not all(filters.matches(item, name, values) for name, values in self.local_enums.items()):
            return False
        for graph_field, op, version in self.bounds:
            seen = normalize_version(item.get(graph_field))
            if seen is None or (seen < version if op == "ge" else seen >= version):
                return False
        return True

    def fingerprint(self) -> str:
        """Which query a continuation belongs to."""
        text = json.dumps([self.enums, self.local_enums, self.assigned_to, self.bounds, self.top, self.incident_id],
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") for char in text)


def _time(params: dict[str, str], name: str, errors: list[dict[str, Any]]) -> str | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    version = normalize_version(raw.strip()) if len(raw) <= 40 else None
    if version is None:
        errors.append({"field": name, "message": f"{validation.shown(raw)} is not an ISO 8601 date and time, e.g. "
                       "2026-11-01T00:00:00Z"})
        return None
    try:
        to_datetime(version)  # a real date (not 2026-02-31)
    except ValueError:
        errors.append({"field": name, "message": f"{validation.shown(raw)} is not a valid date"})
        return None
    return version


def parse_query(params: dict[str, str], spec: ListSpec, incident_id: str | None = None) -> Query:
    errors: list[dict[str, Any]] = []
    enums: dict[str, tuple[str, ...]] = {}
    local: dict[str, tuple[str, ...]] = {}
    for target, specs in ((enums, spec.server_filters), (local, spec.local_filters)):
        for enum_filter in specs:
            try:
                target[enum_filter.name] = filters.enum_values(params, enum_filter)
            except Problem as problem:
                errors += problem.extra.get("errors", [])
    assigned_to = None
    if params.get("assignedTo") not in (None, ""):
        raw = params["assignedTo"]
        if len(raw) > v.MAX_ASSIGNED_TO_CHARS or _has_control(raw) or not raw.strip():
            errors.append({"field": "assignedTo", "message": f"1 to {v.MAX_ASSIGNED_TO_CHARS} characters without "
                           "control characters, e.g. analyst@contoso.com"})
        else:
            assigned_to = raw.strip()
    bounds = []
    for name, graph_field, op in TIME_BOUNDS:
        version = _time(params, name, errors)
        if version is not None:
            bounds.append((graph_field, op, version))
    for low_name, high_name in (("createdAfter", "createdBefore"), ("updatedAfter", "updatedBefore")):
        low = _time(params, low_name, [])
        high = _time(params, high_name, [])
        if low and high and low >= high:
            errors.append({"field": high_name, "message": f"must be later than {low_name}"})
    top = DEFAULT_TOP
    if params.get("top") not in (None, ""):
        raw = params["top"]
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP:
            errors.append({"field": "top", "message": f"an integer from 1 to {MAX_TOP}"})
        else:
            top = int(raw)
    if incident_id is None and params.get("incidentId") not in (None, ""):
        try:
            incident_id = validation.entity_id(params["incidentId"], "incident")
        except Problem as problem:
            errors.append({"field": "incidentId", "message": problem.detail})
    if errors:
        raise Problem(400, "Invalid filter", "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                      errors=errors)
    return Query(enums, local, assigned_to, tuple(bounds), top, incident_id)


@dataclass
class Continuation:
    query: str  # Query.fingerprint()
    tenant: str
    next_link: str | None = None
    before: str | None = None  # newest-first pages: read the window up to the end of this second
    after: str | None = None  # oldest-first pages: read the window from the start of this second
    edge_keys: list[str] = field(default_factory=list)  # versions already returned within that second

    def to_json(self) -> dict[str, Any]:
        return {"v": TOKEN_VERSION, "q": self.query, "t": self.tenant, "n": self.next_link, "b": self.before,
                "a": self.after, "k": self.edge_keys}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Continuation:
        fields = (data.get("q"), data.get("t"), data.get("n"), data.get("b"), data.get("a"))
        keys = data.get("k")
        if (data.get("v") != TOKEN_VERSION or not all(f is None or isinstance(f, str) for f in fields)
                or not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
            raise Problem(400, "Invalid continuation token", "The continuationToken is of an older form; list "
                          "again from the start.")
        return cls(str(data["q"]), str(data["t"]), data["n"], data["b"], data["a"], list(keys))


def _edge(items: list[dict[str, Any]]) -> tuple[str, str] | None:
    """("before" | "after", edge version) of a full page without nextLink: its oldest version when the page runs
    newest first, its newest when it runs oldest first. None when the page is in no order of lastUpdateDateTime."""
    versions = [normalize_version(item.get(CURSOR_FIELD)) for item in items]
    if not versions or any(version is None for version in versions):
        return None
    known = [version for version in versions if version is not None]
    if all(a >= b for a, b in itertools.pairwise(known)):
        return "before", known[-1]
    if all(a <= b for a, b in itertools.pairwise(known)):
        return "after", known[-1]
    return None


def _key(item: dict[str, Any]) -> str:
    return version_key(str(item.get("id", "")), normalize_version(item.get(CURSOR_FIELD)) or "")


def _next_continuation(items: list[dict[str, Any]], query: Query, tenant: str,
                       previous: Continuation | None) -> Continuation | None:
    """The time cursor after a full page without nextLink."""
    edge = _edge(items)
    if edge is None:
        raise Problem(502, "Microsoft Graph paging failed",
                      f"Graph answered a full page ({len(items)} items) without a nextLink and not in "
                      f"{CURSOR_FIELD} order, so the rest cannot be read without gaps. Narrow the time window "
                      "(updatedAfter/updatedBefore) so that it holds fewer items than top.")
    side, version = edge
    second = _second(version)
    keys = [_key(item) for item in items
            if (normalize_version(item.get(CURSOR_FIELD)) or "").startswith(version[:19])]
    if previous is not None and (previous.before or previous.after) == second:
        keys = previous.edge_keys + [k for k in keys if k not in previous.edge_keys]
        if len(keys) == len(previous.edge_keys):
            # More versions share this second than a page holds, and Graph keeps answering the same ones.
            log.warning("List of %d items stuck in the second %s without a nextLink: paging stops", len(items), second)
            return None
    return Continuation(query.fingerprint(), tenant, None, second if side == "before" else None,
                        second if side == "after" else None, keys[-MAX_EDGE_KEYS:])


def _link(url: str, params: dict[str, str], token: str) -> str:
    parts = urlsplit(url)
    query = {name: value for name, value in params.items() if name != TOKEN_PARAMETER}
    query[TOKEN_PARAMETER] = token
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _items_of(body: object, what: str) -> list[dict[str, Any]]:
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise Problem(502, "Microsoft Graph failed", f"Graph's answer for {what} has no 'value' list.")
    return [item for item in items if isinstance(item, dict)]


def list_items(ctx: Context, spec: ListSpec, incident_id: str | None = None) -> Answer:
    from shared.actions.service import Answer

    params = dict(ctx.call.params)
    query = parse_query(params, spec, incident_id)
    tenant = ctx.tenant
    read, write = PERMISSION[(spec.kind, "read")], PERMISSION[(spec.kind, "write")]
    if query.incident_id is not None:
        return _alerts_of_incident(ctx, query)

    with storage_problem("the continuation key"):
        key = signing_key(ctx.settings)
    purpose = f"list:{spec.kind}"
    previous = None
    if params.get(TOKEN_PARAMETER):
        previous = Continuation.from_json(open_sealed(key, purpose, params[TOKEN_PARAMETER],
                                                      what="continuation token", parameter=TOKEN_PARAMETER))
        if previous.query != query.fingerprint() or previous.tenant != tenant:
            raise Problem(400, "Invalid continuation token", "The continuationToken belongs to a list with other "
                          "filters or another tenant: send it with the parameters of the call that gave it.",
                          errors=[{"field": TOKEN_PARAMETER, "message": "belongs to another query"}])

    what = f"the {spec.kind}s"
    if previous is not None and previous.next_link:
        response = ctx.graph("GET", previous.next_link, target=what, permission=read, or_permission=write)
    else:
        clauses = query.clauses()
        if previous is not None and previous.before:
            clauses.append(f"{CURSOR_FIELD} lt {_next_second(previous.before)}")
        if previous is not None and previous.after:
            clauses.append(f"{CURSOR_FIELD} ge {previous.after}")
        graph_params = {"$top": str(query.top)}
        if clauses:
            graph_params["$filter"] = " and ".join(clauses)
        response = ctx.graph("GET", spec.path, params=graph_params, target=what, permission=read,
                             or_permission=write)
    body = response.body
    items = _items_of(body, what)
    graph_next = body.get("@odata.nextLink") if isinstance(body, dict) else None
    edge_keys = set(previous.edge_keys) if previous is not None and not previous.next_link else set()
    fresh = [item for item in items if _key(item) not in edge_keys]

    continuation = None
    if isinstance(graph_next, str) and graph_next:
        continuation = Continuation(query.fingerprint(), tenant, graph_next)
    elif len(items) >= query.top:
        continuation = _next_continuation(items, query, tenant,
                                          previous if previous is not None and not previous.next_link else None)
    result: dict[str, Any] = {"value": [item for item in fresh if query.keeps(item)]}
    if continuation is not None:
        token = seal(key, purpose, continuation.to_json())
        result[TOKEN_PARAMETER] = token
        result["nextLink"] = _link(ctx.call.url, params, token)
    return Answer(200, result)


def _alerts_of_incident(ctx: Context, query: Query) -> Answer:
    """An incident's alerts, in one Graph call (the incident with $expand=alerts); the filters apply to them."""
    from shared.actions.service import Answer

    assert query.incident_id is not None
    incident_id = query.incident_id
    response = ctx.graph("GET", f"{INCIDENTS_PATH}/{quote(incident_id, safe='')}", params={"$expand": "alerts"},
                         target=f"incident {incident_id}", permission=PERMISSION[("incident", "read")],
                         or_permission=PERMISSION[("incident", "write")])
    alerts = response.body.get("alerts") if isinstance(response.body, dict) else None
    alerts = [a for a in alerts if isinstance(a, dict)] if isinstance(alerts, list) else []
    kept = [a for a in alerts if query.keeps(a)
            and all(filters.matches(a, name, values) for name, values in query.enums.items())
            and (query.assigned_to is None or a.get("assignedTo") == query.assigned_to)]
    return Answer(200, {"value": kept})  # an incident's alerts come in one answer: no paging, top does not apply
