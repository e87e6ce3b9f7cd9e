"""The one table of HTTP operations: functions/actions.py registers a function for each row it serves, and
openapi.py writes the OpenAPI document from the same rows, so the routes and the document cannot drift apart.

Rows with `served_by` other than "actions" belong to other blueprints (the export endpoints); they are in the table
so that the document describes every HTTP function of the app, and a test checks them against the app's registered
routes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.actions import filters
from shared.actions import vocabulary as v
from shared.export.streams import STREAMS
from shared.webhooks.notifications import MAX_VALIDATION_TOKEN_CHARS

# The queue of the asynchronous-request worker (functions/jobs.py; created and granted in infra/main.bicep). Here
# rather than in shared.actions.jobs so that functions/ can name it without importing storage or Graph clients.
JOB_QUEUE = "action-jobs"

PERMISSION = {
    ("alert", "read"): "SecurityAlert.Read.All",
    ("alert", "write"): "SecurityAlert.ReadWrite.All",
    ("incident", "read"): "SecurityIncident.Read.All",
    ("incident", "write"): "SecurityIncident.ReadWrite.All",
    ("riskyUser", "write"): "IdentityRiskyUser.ReadWrite.All",
    ("riskyServicePrincipal", "write"): "IdentityRiskyServicePrincipal.ReadWrite.All",
}


@dataclass(frozen=True)
class Param:
    name: str
    location: str  # path | query | header
    summary: str
    description: str
    schema: dict[str, Any]
    required: bool = False
    visibility: str | None = None  # x-ms-visibility: important | advanced | internal


@dataclass(frozen=True)
class Operation:
    operation_id: str
    function_name: str  # the Functions function name (unique in the app)
    method: str
    route: str  # Functions route template, below the route prefix
    tag: str
    summary: str
    description: str
    handler: str  # name of the handler in shared.actions.service
    write: bool = False
    params: tuple[Param, ...] = ()
    body: str | None = None  # definition name of the JSON body
    success_status: int = 200
    success_schema: str | None = None
    success_description: str = "Success"
    errors: tuple[int, ...] = ()
    served_by: str = "actions"
    visibility: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


TENANT = Param(
    "tenant", "query", "Tenant id",
    "The Entra tenant to act in. Needed only when the app serves several tenants (GRAPH_TENANT_IDS).",
    {"type": "string", "pattern": v.GUID_PATTERN}, visibility="advanced",
)
ALERT_ID = Param(
    "alertId", "path", "Alert id", "The id of the alert (alerts_v2), e.g. da637551227677560813_-961444813.",
    {"type": "string", "pattern": v.ENTITY_ID_PATTERN, "minLength": 1, "maxLength": v.MAX_ENTITY_ID_CHARS},
    required=True,
)
INCIDENT_ID = Param(
    "incidentId", "path", "Incident id", "The id of the incident, e.g. 2972395.",
    {"type": "string", "pattern": v.ENTITY_ID_PATTERN, "minLength": 1, "maxLength": v.MAX_ENTITY_ID_CHARS},
    required=True,
)


def idempotency_key(description: str) -> Param:
    """The Idempotency-Key header (validation.idempotency_key checks it), with what it means for the operation."""
    return Param("Idempotency-Key", "header", "Idempotency key", description,
                 {"type": "string", "minLength": 1, "maxLength": v.MAX_IDEMPOTENCY_KEY_CHARS, "pattern": r"^[!-~]+$"},
                 visibility="advanced")


IDEMPOTENCY_KEY = idempotency_key(
    "Any unique string for this comment (e.g. the Logic App run id and the item id). A retry with the same key "
    "returns the first answer instead of adding the comment twice.")

VALIDATION_TOKEN = Param(
    "validationToken", "query", "Validation token",
    "Sent by Microsoft Graph when a subscription is created; echoed back as plain text.",
    {"type": "string", "maxLength": MAX_VALIDATION_TOKEN_CHARS}, visibility="internal",
)



def filter_param(spec: filters.EnumFilter) -> Param:
    return Param(spec.name, "query", spec.summary, spec.description(),
                 {"type": "string", "maxLength": 2000}, visibility="advanced")


TRIGGER_STATE = Param(
    "triggerState", "query", "Trigger state",
    "Where the trigger stands in the export; Logic Apps keeps it in the Location of each answer. Leave it empty.",
    {"type": "string", "maxLength": 8192}, visibility="internal",
)
TRIGGER_ERRORS = (400, 401, 503)
TRIGGER_HOW = (
    "Fires for every new version of {what} the app's export writes (created or updated), each version once, "
    "without calling Microsoft Graph: it reads the export in Blob Storage, so it lags the export by its schedule "
    "(EXPORT_SCHEDULE, 5 minutes by default). Starts from the moment the workflow is saved. Filters are optional; "
    "several values separated by commas match any of them."
)



def _time_param(name: str, summary: str, what: str) -> Param:
    return Param(name, "query", summary, f"{what} (ISO 8601, e.g. 2026-11-01T00:00:00Z).",
                 {"type": "string", "format": "date-time", "maxLength": 40}, visibility="advanced")


LIST_FILTERS = (
    Param("assignedTo", "query", "Assigned to", "Only items assigned to this owner (exact match, e.g. a user "
          "principal name).", {"type": "string", "maxLength": v.MAX_ASSIGNED_TO_CHARS}, visibility="advanced"),
    _time_param("createdAfter", "Created after", "Only items created at or after this time"),
    _time_param("createdBefore", "Created before", "Only items created before this time"),
    _time_param("updatedAfter", "Updated after", "Only items last updated at or after this time"),
    _time_param("updatedBefore", "Updated before", "Only items last updated before this time"),
    Param("top", "query", "Page size", "Items per page, 1 to 1000 (default 100).",
          {"type": "integer", "minimum": 1, "maximum": 1000}, visibility="advanced"),
)
CONTINUATION = Param(
    "continuationToken", "query", "Continuation token",
    "From the previous page's answer; send it with the same filters to read the next page. Logic Apps follows "
    "nextLink on its own when Pagination is on.", {"type": "string", "maxLength": 8192}, visibility="advanced",
)
LIST_HOW = (
    " Filters are optional and combine with and; several values of one filter, separated by commas, combine with "
    "or. One Microsoft Graph call per page; the answer's nextLink (and continuationToken) reads the next page."
)

PREFER_ASYNC = Param(
    "Prefer", "header", "Respond asynchronously",
    "respond-async: a request with more ids than one Microsoft Graph call takes is answered at once with 202 and a "
    "Location to poll (Logic Apps follows it on its own) and runs in the background, up to 5,000 ids.",
    {"type": "string", "enum": ["respond-async"]}, visibility="advanced",
)
JOB_KEY = idempotency_key(
    "With respond-async: the same request with the same key (or, without a key, on the same UTC day) joins the job "
    "it started instead of starting another. Use a new key to run the same change again on purpose.")
JOB_ID = Param(
    "jobId", "path", "Job id", "From the Location of a 202 answer.",
    {"type": "string", "pattern": "^[0-9a-f]{32}$"}, required=True,
)
# "Export now" in the connector: always asynchronous (an internal, required parameter with a default is sent by the
# connector without showing it), so a workflow never meets the 230 s cut of the Functions front end. Other clients
# may leave the header out and wait for the synchronous answer.
EXPORT_ASYNC = Param(
    "Prefer", "header", "Respond asynchronously",
    "respond-async: answer 202 at once with a Location that gives the run summaries when the export is done. "
    "Without it the request waits for the run (at most about 200 seconds).",
    {"type": "string", "enum": ["respond-async"], "default": "respond-async"}, required=True, visibility="internal",
)
EXPORT_KEY = idempotency_key(
    "With respond-async: the same request with the same key joins the job it started, running or done. Without a "
    "key, the same request joins the job while it runs and starts a new export once it is done.")
ASYNC_HOW = (" With Prefer: respond-async, a larger request answers 202 at once and its Location gives the same "
             "answer when the work is done (up to 5,000 ids; the same request sent again joins the same job).")

READ_ERRORS = (400, 401, 403, 404, 429, 502, 503, 504)
WRITE_ERRORS = (400, 401, 403, 404, 413, 415, 429, 502, 503, 504)
LIST_ERRORS = (400, 401, 403, 404, 413, 415, 429, 502, 503, 504)


@dataclass(frozen=True)
class _Item:
    """An alert or an incident, as the operations on one item by its id name it."""

    name: str  # "alert": in operation ids, handler names and messages
    tag: str  # "Alerts": the tag of its operations and the start of its routes
    item_id: Param

    @property
    def route(self) -> str:
        return f"{self.tag.lower()}/{{{self.item_id.name}}}"

    @property
    def schema(self) -> str:
        return self.name.capitalize()


ALERT = _Item("alert", "Alerts", ALERT_ID)
INCIDENT = _Item("incident", "Incidents", INCIDENT_ID)


def _get(item: _Item, description: str) -> Operation:
    return Operation(
        f"Get{item.schema}", f"actions_get_{item.name}", "GET", item.route, item.tag, f"Get an {item.name}",
        description, f"get_{item.name}", params=(item.item_id, TENANT), success_schema=item.schema,
        success_description=f"The {item.name}", errors=READ_ERRORS,
    )


def _update(item: _Item, description: str) -> Operation:
    return Operation(
        f"Update{item.schema}", f"actions_update_{item.name}", "PATCH", item.route, item.tag, f"Update an {item.name}",
        description, f"update_{item.name}", write=True, params=(item.item_id, TENANT), body=f"{item.schema}Update",
        success_schema=item.schema, success_description=f"The updated {item.name}", errors=WRITE_ERRORS,
    )


def _comment(item: _Item) -> Operation:
    """Adding a comment to an alert or an incident: the same request, answer and Idempotency-Key handling."""
    return Operation(
        f"Add{item.schema}Comment", f"actions_add_{item.name}_comment", "POST", f"{item.route}/comments", item.tag,
        f"Comment on an {item.name}",
        f"Adds a comment to the {item.name} and answers with all its comments. Send an Idempotency-Key header so "
        "that a retried request does not add the comment twice.",
        f"add_{item.name}_comment", write=True, params=(item.item_id, IDEMPOTENCY_KEY, TENANT), body="CommentRequest",
        success_schema="CommentList", success_description=f"All comments of the {item.name}",
        errors=(*WRITE_ERRORS, 409, 422),
    )


def _many_ids(operation_id: str, function_name: str, route: str, tag: str, summary: str, description: str,
              handler: str, *, body: str, success_schema: str, success_description: str) -> Operation:
    """A POST on a list of ids, which a request with Prefer: respond-async may run as a job (shared.actions.jobs)."""
    return Operation(
        operation_id, function_name, "POST", route, tag, summary, description + ASYNC_HOW, handler, write=True,
        params=(TENANT, PREFER_ASYNC, JOB_KEY), body=body, success_schema=success_schema,
        success_description=success_description, errors=LIST_ERRORS, extra={"async": True},
    )


def _risky(plural: str, short: str, confirm_effect: str = "", dismiss_effect: str = "") -> tuple[Operation, ...]:
    """Confirm compromised and dismiss, for Identity Protection's risky users or risky service principals (`plural`:
    "users" or "service principals"; `short`: their name in function names)."""
    singular = plural.removesuffix("s")
    name = plural.title().replace(" ", "")
    route, handler = f"risky-{plural.replace(' ', '-')}", plural.replace(" ", "_")
    per_id = (f", 60 per Graph call. Answers with a result per {singular} id (notAttempted for the ids "
              "ACTIONS_BULK_TIME_BUDGET_SECONDS did not reach: send those again).")
    answer = {"body": f"Risky{name}Request", "success_schema": "RiskyResult",
              "success_description": f"A result per {singular} id"}
    return (
        _many_ids(f"ConfirmRisky{name}Compromised", f"actions_confirm_risky_{short}", f"{route}/confirm-compromised",
                  f"Risky {plural}", f"Confirm {plural} compromised",
                  f"Marks the {plural} as compromised in Entra ID Protection{confirm_effect}{per_id}",
                  f"confirm_risky_{handler}", **answer),
        _many_ids(f"DismissRisky{name}", f"actions_dismiss_risky_{short}", f"{route}/dismiss", f"Risky {plural}",
                  f"Dismiss {singular} risk",
                  f"Dismisses the risk of the {plural} in Entra ID Protection{dismiss_effect}{per_id}",
                  f"dismiss_risky_{handler}", **answer),
    )


def _trigger(item: str, *fields: filters.EnumFilter) -> Operation:
    """The polling trigger of the alerts' or the incidents' export (shared.actions.triggers)."""
    items = f"{item}s"
    return Operation(
        f"When{items.capitalize()}Change", f"triggers_{items}", "GET", f"triggers/{items}", "Triggers",
        f"When {items} are created or updated", TRIGGER_HOW.format(what=f"an {item}"), f"trigger_{items}",
        params=(*(filter_param(f) for f in fields), TENANT, TRIGGER_STATE),
        success_schema=f"{item.capitalize()}Batch", success_description=f"The new versions of {items}",
        errors=TRIGGER_ERRORS,
        extra={"trigger": f"To see it work now, change an {item} in Microsoft Defender and wait for the next export."},
    )


def _graph_callback(operation_id: str, function_name: str, route: str, summary: str, description: str,
                    accepted: str) -> Operation:
    """An endpoint Microsoft Graph posts to (functions/webhooks.py): the validation handshake, then notifications
    that are checked and queued. Hidden from the Logic Apps designer."""
    return Operation(
        operation_id, function_name, "POST", route, "Webhooks", summary, description, "",
        params=(VALIDATION_TOKEN,), body="ChangeNotificationCollection", success_status=202,
        success_description=f"Accepted: the trusted {accepted} are queued", errors=(400, 401, 413, 503),
        served_by="webhooks", visibility="internal", extra={"bodyRequired": False, "handshake": True},
    )


OPERATIONS: tuple[Operation, ...] = (
    # The helpers build each row's names from the item (GetAlert, actions_get_alert, get_alert, alerts/{alertId}...);
    # the comments name the operation ids, so that a search for one finds its row.
    _get(ALERT, "Reads one alert (Microsoft Graph security alerts_v2) with its evidence and comments."),  # GetAlert
    _update(ALERT,  # UpdateAlert
            "Sets any of status, assignedTo, classification and determination (classification and "
            "determination together, as a valid pair). Repeating the same update changes nothing and is safe to "
            "retry. Answers with the alert as it is after the update."),
    _comment(ALERT),  # AddAlertComment
    _many_ids(
        "BulkUpdateAlerts", "actions_bulk_update_alerts", "alerts/bulk-update", "Alerts", "Update many alerts",
        "Applies the same change to up to ACTIONS_MAX_BULK_IDS alerts, 20 per Graph $batch call within the app's "
        "Graph rate budget, and answers with a result per id (updated, notFound, failed with the reason, or "
        "notAttempted when ACTIONS_BULK_TIME_BUDGET_SECONDS ran out: send those again). When nothing was updated and "
        "every id failed for the same reason, the answer is that error instead.",
        "bulk_update_alerts", body="BulkUpdateRequest", success_schema="BulkResult",
        success_description="A result per alert id",
    ),
    _get(INCIDENT, "Reads one incident with its comments and tags."),  # GetIncident
    _update(INCIDENT,  # UpdateIncident
            "Sets any of status, assignedTo, classification and determination (together, as a valid pair) "
            "and customTags (the new list replaces the old one). Safe to retry. Answers with the incident after the "
            "update."),
    _comment(INCIDENT),  # AddIncidentComment
    # ConfirmRiskyUsersCompromised, DismissRiskyUsers
    *_risky("users", "users", " (their risk becomes high)", " (their risk becomes none)"),
    # ConfirmRiskyServicePrincipalsCompromised, DismissRiskyServicePrincipals
    *_risky("service principals", "sps"),
    Operation(
        "ListAlerts", "actions_list_alerts", "GET", "alerts", "Alerts", "List alerts",
        "Finds alerts (alerts_v2) across every Defender product by severity, status, service source, detection "
        "source, owner, classification, time and incident." + LIST_HOW,
        "list_alerts", params=(
            *(filter_param(f) for f in (filters.SEVERITY, filters.ALERT_STATUS, filters.SERVICE_SOURCE,
                                        filters.DETECTION_SOURCE, filters.CLASSIFICATION)),
            *LIST_FILTERS,
            Param("incidentId", "query", "Incident id", "Only the alerts of this incident (read in one call; no "
                  "paging).", {"type": "string", "pattern": v.ENTITY_ID_PATTERN, "maxLength": v.MAX_ENTITY_ID_CHARS},
                  visibility="advanced"),
            CONTINUATION, TENANT,
        ),
        success_schema="AlertList", success_description="A page of alerts", errors=READ_ERRORS,
        extra={"pageable": True},
    ),
    Operation(
        "ListIncidents", "actions_list_incidents", "GET", "incidents", "Incidents", "List incidents",
        "Finds incidents by severity, status, owner, classification and time." + LIST_HOW,
        "list_incidents", params=(
            *(filter_param(f) for f in (filters.SEVERITY, filters.INCIDENT_STATUS, filters.CLASSIFICATION)),
            *LIST_FILTERS, CONTINUATION, TENANT,
        ),
        success_schema="IncidentList", success_description="A page of incidents", errors=READ_ERRORS,
        extra={"pageable": True},
    ),
    Operation(
        "ListIncidentAlerts", "actions_list_incident_alerts", "GET", "incidents/{incidentId}/alerts", "Incidents",
        "List alerts of an incident",
        "The alerts of one incident, in one Microsoft Graph call, optionally filtered like List alerts.",
        "list_incident_alerts", params=(
            INCIDENT_ID,
            *(filter_param(f) for f in (filters.SEVERITY, filters.ALERT_STATUS, filters.SERVICE_SOURCE,
                                        filters.DETECTION_SOURCE, filters.CLASSIFICATION)),
            *LIST_FILTERS[:5], TENANT,
        ),
        success_schema="AlertList", success_description="The alerts of the incident", errors=READ_ERRORS,
    ),
    Operation(
        "GetJob", "actions_get_job", "GET", "jobs/{jobId}", "Jobs", "Result of an asynchronous request",
        "202 while the request runs (with Location and Retry-After), then the answer the request itself would have "
        "given: 200 with a result per id, or the error every id failed with.",
        "get_job", params=(JOB_ID,), success_schema=None, success_description="The request's answer",
        errors=(400, 401, 403, 404, 429, 502, 503, 504), extra={"jobStatus": True},
    ),
    # WhenAlertsChange, WhenIncidentsChange
    _trigger("alert", filters.SEVERITY, filters.ALERT_STATUS, filters.CLASSIFICATION, filters.SERVICE_SOURCE),
    _trigger("incident", filters.SEVERITY, filters.INCIDENT_STATUS, filters.CLASSIFICATION),
    Operation(
        "GetOpenApiDocument", "actions_openapi", "GET", "openapi.json", "Meta", "OpenAPI document",
        "This document: OpenAPI 2.0, usable as-is to create a Logic Apps custom connector.",
        "openapi_document", success_schema=None, success_description="The OpenAPI 2.0 document", errors=(401,),
        visibility="internal",
    ),
    # --- served by functions/export.py
    Operation(
        "RunExport", "export_run", "POST", "export/{stream}", "Export", "Export a stream now",
        "Runs one export stream now for every tenant (or ?tenant=). A JSON body {\"from\": ..., \"to\": ...} runs "
        "a backfill of that window instead, leaving the live cursor alone. With Prefer: respond-async (the connector "
        "always sends it) the answer is 202 at once and its Location gives the run summaries when the export is done "
        "(a repeat sent while it runs joins it; with an Idempotency-Key, any repeat does). Without it, the run stops "
        "after about 200 seconds and a later run resumes it.",
        "", params=(
            Param("stream", "path", "Stream", "The stream to export.",
                  {"type": "string", "enum": list(STREAMS)}, required=True),
            TENANT, EXPORT_ASYNC, EXPORT_KEY,
        ),
        body="ExportWindow", success_schema="ExportRuns", success_description="A summary per tenant",
        errors=(400, 401, 404, 409, 413, 502, 503), served_by="export", extra={"bodyRequired": False, "async": True},
    ),
    Operation(
        "GetExportStatus", "export_status", "GET", "export/status", "Export", "Export status",
        "Per tenant and stream: cursor, lag, last success, last error, whether a pass is in progress.",
        "", success_schema="ExportStatus", success_description="The status of every stream", errors=(401, 502),
        served_by="export",
    ),
    # --- served by functions/webhooks.py (called by Microsoft Graph, hidden from the Logic Apps designer)
    _graph_callback(
        "ReceiveChangeNotifications", "webhook_notifications", "webhooks/notifications", "Graph change notifications",
        "Microsoft Graph posts change notifications here. With ?validationToken= it answers the subscription "
        "validation handshake: 200, text/plain, the token. Otherwise it checks each notification's clientState, "
        "queues the accepted ones for export and answers 202.", "notifications",
    ),
    _graph_callback(
        "ReceiveLifecycleNotifications", "webhook_lifecycle", "webhooks/lifecycle", "Graph lifecycle notifications",
        "Microsoft Graph posts subscription lifecycle events here (reauthorizationRequired, subscriptionRemoved, "
        "missed), with the same validation handshake. Accepted events are queued; the processor renews or "
        "recreates the subscription and runs a catch-up export.", "events",
    ),
    Operation(
        "GetSubscriptions", "webhook_subscriptions", "GET", "webhooks/subscriptions", "Webhooks",
        "Graph subscriptions",
        "The app's Graph change-notification subscriptions: resource, change type, streams, subscription id, "
        "expiry, last error (the clientState secrets are never shown).",
        "", success_schema="Subscriptions", success_description="The subscriptions", errors=(401, 502),
        served_by="webhooks",
    ),
)

BY_ID: dict[str, Operation] = {op.operation_id: op for op in OPERATIONS}
SERVED_HERE: tuple[Operation, ...] = tuple(op for op in OPERATIONS if op.served_by == "actions")
