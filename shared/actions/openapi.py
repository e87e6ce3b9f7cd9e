"""The OpenAPI 2.0 (Swagger) document of the app's HTTP functions, written from the operation table.

OpenAPI 2.0 because that is what a Logic Apps (and Power Automate) custom connector imports. Besides plain Swagger
it uses the connector extensions: `x-ms-summary` (the label the designer shows), `x-ms-visibility` (important,
advanced, internal) and `x-ms-url-encoding` on path parameters. The function key goes in the `x-functions-key`
header (an apiKey security definition). Enums list the values the app accepts for writing; response values are plain
strings because Graph's enums evolve and unknown values pass through.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shared.actions import vocabulary as v
from shared.actions.operations import OPERATIONS, Operation, Param

TITLE = "Graph Security Bridge"
VERSION = "1.0"

STATUS_TEXT = {
    400: "The request is invalid: the detail names the field and the allowed values",
    401: "Missing or wrong function key (answered by the Functions host, empty body)",
    403: "The app lacks a Microsoft Graph permission (named in the detail), or actions are turned off",
    404: "Microsoft Graph has no such item",
    409: "A request with the same Idempotency-Key is still in progress, or the export stream is busy",
    413: "The body is too large",
    415: "The body is not JSON (send Content-Type: application/json)",
    422: "The Idempotency-Key was already used for a different request",
    429: "Microsoft Graph is throttling the app: retry after Retry-After seconds",
    502: "Microsoft Graph failed or could not be reached",
    503: "Microsoft Graph or the app's storage is unavailable: retry later",
    504: "Microsoft Graph did not answer in time: safe to retry",
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "x-nullable": True}


def _string(summary: str, description: str = "", **more: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "x-ms-summary": summary}
    if description:
        schema["description"] = description
    schema.update(more)
    return schema


def _nullable_strings(summaries: dict[str, str]) -> dict[str, Any]:
    """Item properties Graph may send as null: each a string with its label."""
    return {name: _nullable(_string(summary)) for name, summary in summaries.items()}


def _pairs_text() -> str:
    return "; ".join(f"{c}: {', '.join(ds)}" for c, ds in v.DETERMINATIONS_BY_CLASSIFICATION.items())


def _triage_properties(statuses: tuple[str, ...]) -> dict[str, Any]:
    return {
        "status": _string("Status", "The new status.", enum=list(statuses)),
        "assignedTo": _nullable(_string("Assigned to", "The owner (usually a user principal name); null unassigns.",
                                        minLength=1, maxLength=v.MAX_ASSIGNED_TO_CHARS)),
        "classification": _string("Classification", "Send together with determination.",
                                  enum=list(v.CLASSIFICATIONS)),
        "determination": _string("Determination", "Send together with classification. Valid pairs: "
                                 + _pairs_text() + ".", enum=list(v.DETERMINATIONS)),
    }


def _comment_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "comment": _nullable(_string("Comment", "")),
            "createdByDisplayName": _nullable(_string("Created by", "")),
            "createdDateTime": _nullable(_string("Created", "")),
        },
    }


def _ids_request(field: str, summary: str, ids_array: dict[str, Any]) -> dict[str, Any]:
    """The body of a risky user or service principal action: one list of ids."""
    return {
        "type": "object",
        "properties": {field: {**ids_array, "x-ms-summary": summary}},
        "required": [field],
        "additionalProperties": False,
    }


def _results(*counts: str) -> dict[str, Any]:
    """The answer of an action on many ids: how many ended how (`counts`), and a result per id."""
    return {
        "type": "object",
        "properties": {
            "summary": {"type": "object", "x-ms-summary": "Summary", "properties": {
                name: {"type": "integer", "x-ms-summary": name} for name in ("requested", *counts)
            }},
            "results": {"type": "array", "items": {"$ref": "#/definitions/ItemResult"}, "x-ms-summary": "Results"},
        },
    }


def _items(definition: str, summary: str) -> dict[str, Any]:
    """An array of alerts or incidents, as the `value` of an answer."""
    return {"type": "array", "items": {"$ref": f"#/definitions/{definition}"}, "x-ms-summary": summary}


def _page(definition: str, summary: str) -> dict[str, Any]:
    """One page of a list action, and how to read the next."""
    return {
        "type": "object",
        "properties": {
            "value": _items(definition, summary),
            "nextLink": _string("Next page", "The URL of the next page; absent on the last page."),
            "continuationToken": _string("Continuation token", "Send it to read the next page."),
        },
    }


def _definitions(max_bulk_ids: int) -> dict[str, Any]:
    result_item = {
        "type": "object",
        "properties": {
            "id": _string("Id"),
            "result": _string("Result", "updated, confirmedCompromised or dismissed on success; notFound, failed or "
                              "notAttempted otherwise"),
            "status": {"type": "integer", "x-ms-summary": "HTTP status of the failure"},
            "title": _string("Error title"),
            "detail": _string("Error detail"),
            "graphRequestId": _string("Graph request id"),
            "graphCode": _string("Graph error code"),
            "requiredPermission": _string("Required Graph permission"),
            "retryAfter": {"type": "integer", "x-ms-summary": "Retry after (seconds)"},
        },
        "required": ["id", "result"],
    }
    common_item = {
        "id": _string("Id"),
        **_nullable_strings({
            "status": "Status", "severity": "Severity", "classification": "Classification",
            "determination": "Determination", "assignedTo": "Assigned to", "description": "Description",
            "createdDateTime": "Created", "lastUpdateDateTime": "Last updated", "incidentWebUrl": "Incident URL",
            "tenantId": "Tenant id",
        }),
        "comments": _nullable({"type": "array", "items": {"$ref": "#/definitions/Comment"},
                               "x-ms-summary": "Comments"}),
    }
    ids_array = {
        "type": "array", "minItems": 1, "maxItems": max_bulk_ids, "x-ms-summary": "Ids",
        "items": {"type": "string", "pattern": v.GUID_PATTERN},
    }
    return {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details (application/problem+json).",
            "properties": {
                "type": _string("Type"),
                "title": _string("Title"),
                "status": {"type": "integer", "x-ms-summary": "Status"},
                "detail": _string("Detail"),
                "errors": {"type": "array", "x-ms-summary": "Field errors",
                           "items": {"type": "object", "properties": {"field": _string("Field"),
                                                                      "message": _string("Message")}}},
                "requiredPermission": _string("Required Graph permission"),
                "graphStatus": {"type": "integer", "x-ms-summary": "Graph status"},
                "graphCode": _string("Graph error code"),
                "graphMessage": _string("Graph message"),
                "graphRequestId": _string("Graph request id"),
                "graphClientRequestId": _string("Client request id"),
                "summary": {"type": "object", "x-ms-summary": "Summary"},
                "results": {"type": "array", "items": {"$ref": "#/definitions/ItemResult"}},
            },
            "required": ["title", "status"],
        },
        "Comment": _comment_schema(),
        "Alert": {
            "type": "object",
            "description": "A Microsoft Graph security alert (alerts_v2), as Graph returns it.",
            "properties": {
                **common_item,
                **_nullable_strings({
                    "title": "Title", "incidentId": "Incident id", "serviceSource": "Service source",
                    "detectionSource": "Detection source", "category": "Category", "alertWebUrl": "Alert URL",
                    "resolvedDateTime": "Resolved",
                }),
                "mitreTechniques": _nullable({"type": "array", "items": {"type": "string"},
                                              "x-ms-summary": "MITRE techniques"}),
                "evidence": _nullable({"type": "array", "items": {"type": "object"}, "x-ms-summary": "Evidence"}),
            },
        },
        "Incident": {
            "type": "object",
            "description": "A Microsoft Graph security incident, as Graph returns it.",
            "properties": {
                **common_item,
                **_nullable_strings({"displayName": "Name", "redirectIncidentId": "Merged into incident"}),
                "customTags": _nullable({"type": "array", "items": {"type": "string"}, "x-ms-summary": "Tags"}),
                "systemTags": _nullable({"type": "array", "items": {"type": "string"},
                                         "x-ms-summary": "System tags"}),
            },
        },
        "AlertUpdate": {
            "type": "object",
            "description": "Any of the fields; classification and determination together.",
            "properties": _triage_properties(v.ALERT_STATUSES),
            "additionalProperties": False,
            "minProperties": 1,
        },
        "IncidentUpdate": {
            "type": "object",
            "description": "Any of the fields; classification and determination together; customTags replaces the "
            "incident's tags.",
            "properties": {
                **_triage_properties(v.INCIDENT_STATUSES),
                "customTags": {"type": "array", "maxItems": v.MAX_CUSTOM_TAGS, "x-ms-summary": "Tags",
                               "description": "The complete new list of custom tags ([] clears them).",
                               "items": {"type": "string", "minLength": 1, "maxLength": v.MAX_CUSTOM_TAG_CHARS}},
            },
            "additionalProperties": False,
            "minProperties": 1,
        },
        "CommentRequest": {
            "type": "object",
            "properties": {"comment": _string("Comment", f"The comment text, at most {v.MAX_COMMENT_CHARS} "
                                              "characters.", minLength=1, maxLength=v.MAX_COMMENT_CHARS)},
            "required": ["comment"],
            "additionalProperties": False,
        },
        "CommentList": {
            "type": "object",
            "properties": {"value": {"type": "array", "items": {"$ref": "#/definitions/Comment"},
                                     "x-ms-summary": "Comments"}},
        },
        "BulkUpdateRequest": {
            "type": "object",
            "properties": {
                "ids": {
                    "type": "array", "minItems": 1, "maxItems": max_bulk_ids, "x-ms-summary": "Alert ids",
                    "items": {"type": "string", "pattern": v.ENTITY_ID_PATTERN, "minLength": 1,
                              "maxLength": v.MAX_ENTITY_ID_CHARS},
                },
                "changes": {"$ref": "#/definitions/AlertUpdate"},
            },
            "required": ["ids", "changes"],
            "additionalProperties": False,
        },
        "RiskyUsersRequest": _ids_request("userIds", "User ids", ids_array),
        "RiskyServicePrincipalsRequest": _ids_request("servicePrincipalIds", "Service principal ids", ids_array),
        "ItemResult": result_item,
        "BulkResult": _results("updated", "notFound", "failed", "notAttempted"),
        "RiskyResult": _results("confirmedCompromised", "dismissed", "failed", "notAttempted"),
        "AlertList": _page("Alert", "Alerts"),
        "IncidentList": _page("Incident", "Incidents"),
        "JobProgress": {
            "type": "object",
            "properties": {
                "id": _string("Job id"),
                "status": _string("Status", "running or done"),
                "operation": _string("Operation"),
                "requested": {"type": "integer", "x-ms-summary": "Ids requested"},
                "done": {"type": "integer", "x-ms-summary": "Ids done"},
                "created": _string("Created"),
                "updated": _string("Updated"),
                "lastError": _string("Last error", "Why the worker's last attempt failed (it is retried)"),
            },
        },
        "AlertBatch": {"type": "object", "properties": {"value": _items("Alert", "Alerts")}},
        "IncidentBatch": {"type": "object", "properties": {"value": _items("Incident", "Incidents")}},
        "ExportWindow": {
            "type": "object",
            "properties": {"from": _string("From (UTC)", "ISO 8601, e.g. 2026-11-01T00:00:00Z"),
                           "to": _string("To (UTC)", "ISO 8601, e.g. 2026-11-02T00:00:00Z")},
            "additionalProperties": False,
        },
        "ExportRuns": {"type": "object", "properties": {"runs": {"type": "array", "items": {"type": "object"}}}},
        "ExportStatus": {"type": "object", "properties": {"streams": {"type": "array", "items": {"type": "object"}}}},
        "ChangeNotificationCollection": {
            "type": "object", "description": "Microsoft Graph's changeNotificationCollection",
            "properties": {"value": {"type": "array", "items": {"type": "object"}},
                           "validationTokens": {"type": "array", "items": {"type": "string"}}},
        },
        "Subscriptions": {
            "type": "object",
            "properties": {
                "enabled": {"type": "boolean"},
                "subscriptions": {"type": "array", "items": {"type": "object", "properties": {
                    "tenant": {"type": "string"}, "resource": {"type": "string"}, "changeType": {"type": "string"},
                    "streams": {"type": "array", "items": {"type": "string"}},
                    "subscriptionId": _nullable({"type": "string"}),
                    "expirationDateTime": _nullable({"type": "string"}),
                    "lastError": _nullable({"type": "string"})}}},
            },
        },
    }


def _parameter(param: Param, tenant_ids: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": param.location, "required": param.required or
                           param.location == "path", "description": param.description, "x-ms-summary": param.summary}
    schema = dict(param.schema)
    if param.name == "tenant" and tenant_ids:
        schema.pop("pattern", None)
        schema["enum"] = list(tenant_ids)
    out.update(schema)
    if param.location == "path":
        out["x-ms-url-encoding"] = "single"
    if param.visibility:
        out["x-ms-visibility"] = param.visibility
    return out


def _operation(op: Operation, tenant_ids: tuple[str, ...]) -> dict[str, Any]:
    parameters = [_parameter(p, tenant_ids) for p in op.params]
    if op.body:
        parameters.append({"name": "body", "in": "body", "required": op.extra.get("bodyRequired", True),
                           "schema": {"$ref": f"#/definitions/{op.body}"}})
    success: dict[str, Any] = {"description": op.success_description}
    if op.success_schema:
        success["schema"] = {"$ref": f"#/definitions/{op.success_schema}"}
    else:
        success["schema"] = {"type": "object"}
    if any(p.name == "Idempotency-Key" for p in op.params):
        success["headers"] = {"Idempotent-Replayed": {
            "type": "string", "description": "true when this is the stored answer of an earlier request with the "
            "same Idempotency-Key"}}
    responses: dict[str, Any] = {str(op.success_status): success}
    if op.extra.get("async") or op.extra.get("jobStatus"):
        responses["202"] = {"description": "Accepted: the work goes on; poll the Location after Retry-After seconds",
                            "schema": {"$ref": "#/definitions/JobProgress"},
                            "headers": {"Location": {"type": "string", "description": "The job's status URL"},
                                        "Retry-After": {"type": "integer", "description": "Seconds to wait"}}}
    if op.extra.get("trigger"):
        poll_headers = {
            "Location": {"type": "string", "description": "The URL of the next poll, with the trigger's new state"},
            "Retry-After": {"type": "integer", "description": "Seconds to wait before the next poll"},
        }
        success["headers"] = poll_headers
        responses["202"] = {"description": "Nothing new yet: poll the Location after Retry-After seconds",
                            "headers": poll_headers}
    if op.extra.get("handshake"):
        responses["200"] = {"description": "The validation token, as text/plain", "schema": {"type": "string"}}
    for status in op.errors:
        response: dict[str, Any] = {"description": STATUS_TEXT.get(status, "Error")}
        if status != 401:
            response["schema"] = {"$ref": "#/definitions/Problem"}
        if status in (429, 503, 409):
            response["headers"] = {"Retry-After": {"type": "integer", "description": "Seconds to wait"}}
        responses[str(status)] = response
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": op.description,
        "tags": [op.tag],
        "produces": ["application/json", "application/problem+json"] + (
            ["text/plain"] if op.extra.get("handshake") else []),
        "parameters": parameters,
        "responses": responses,
    }
    if op.body:
        out["consumes"] = ["application/json"]
    if op.visibility:
        out["x-ms-visibility"] = op.visibility
    if op.extra.get("pageable"):
        out["x-ms-pageable"] = {"nextLinkName": "nextLink"}  # Logic Apps' Pagination setting follows it
    if op.extra.get("trigger"):
        out["x-ms-trigger"] = "batch"  # the answer holds a list; Split On starts a run per item
        out["x-ms-trigger-hint"] = op.extra["trigger"]
    return out


def swagger_path(route: str) -> str:
    """A Functions route template as an OpenAPI path: `{name:constraint}` and `{name?}` become `{name}`."""
    segments = []
    for segment in route.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1].lstrip("*").split(":")[0].split("=")[0].rstrip("?")
            segment = "{" + name + "}"
        segments.append(segment)
    return "/" + "/".join(segments)


@lru_cache(maxsize=16)
def _cached_document(host: str | None, scheme: str, base_path: str, max_bulk_ids: int,
                     tenant_ids: tuple[str, ...]) -> dict[str, Any]:
    return build_document(host=host, scheme=scheme, base_path=base_path, max_bulk_ids=max_bulk_ids,
                          tenant_ids=tenant_ids)


def served_document(*, host: str | None, scheme: str, base_path: str, max_bulk_ids: int,
                    tenant_ids: tuple[str, ...]) -> dict[str, Any]:
    """The document as served: built once per host and settings (callers must not modify it)."""
    return _cached_document(host, scheme, base_path, max_bulk_ids, tenant_ids)


def build_document(*, host: str | None = None, scheme: str = "https", base_path: str = "/api",
                   max_bulk_ids: int = 500, tenant_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(swagger_path(op.route), {})[op.method.lower()] = _operation(op, tenant_ids)
    document: dict[str, Any] = {
        "swagger": "2.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Triage Microsoft Defender alerts and incidents and respond to risky users and service "
            "principals through Microsoft Graph, from Logic Apps, SOAR playbooks or curl. Errors are "
            "application/problem+json. Every change is written to an audit trail in Blob Storage.",
        },
        "schemes": [scheme],
        "basePath": base_path,
        "consumes": ["application/json"],
        "produces": ["application/json", "application/problem+json"],
        "securityDefinitions": {
            "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                            "description": "A function key of the app (or pass ?code= in the URL)."},
        },
        "security": [{"functionKey": []}],
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPERATIONS)],
        "paths": paths,
        "definitions": _definitions(max_bulk_ids),
    }
    if host:
        document["host"] = host
    return document
