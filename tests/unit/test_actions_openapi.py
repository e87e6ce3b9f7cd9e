"""The OpenAPI document against the app's registered HTTP functions (both ways), the Swagger 2.0 meta-schema, the
vocabulary, and what a Logic Apps custom connector needs."""

import json
import re

import jsonschema
import pytest
from schemathesis.specs.openapi.definitions import SWAGGER_20

import function_app
from local.devhost import http_routes
from shared.actions import vocabulary as v
from shared.actions.openapi import build_document, swagger_path
from shared.actions.operations import OPERATIONS, SERVED_HERE

TENANT = "11111111-1111-4111-8111-111111111111"


@pytest.fixture(scope="module")
def document():
    return build_document(host="example.azurewebsites.net", max_bulk_ids=500, tenant_ids=(TENANT,))


def registered_routes() -> set[tuple[str, str]]:
    routes = set()
    for route in http_routes(function_app.app):
        assert route.methods, f"{route.function_name} accepts every method: list them so the document can"
        for method in route.methods:
            routes.add((method.lower(), swagger_path(route.template.template)))
    return routes


def documented_routes(document) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


def test_every_registered_http_route_is_documented(document):
    missing = registered_routes() - documented_routes(document)
    assert not missing, f"HTTP functions without an entry in shared/actions/operations.py: {sorted(missing)}"


def test_every_documented_route_is_registered(document):
    extra = documented_routes(document) - registered_routes()
    assert not extra, f"documented operations that no function serves: {sorted(extra)}"


def test_the_table_names_the_functions_that_serve_it():
    by_name = {r.function_name: r for r in http_routes(function_app.app)}
    for op in OPERATIONS:
        route = by_name.get(op.function_name)
        assert route is not None, op.function_name
        assert route.template.template == op.route and route.methods == {op.method}
        assert route.auth_level == "function"


def test_the_document_is_valid_swagger_2(document):
    jsonschema.Draft4Validator(SWAGGER_20).validate(json.loads(json.dumps(document)))


def test_operation_ids_unique_and_connector_friendly(document):
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]+", i) for i in ids)
    for item in document["paths"].values():
        for op in item.values():
            assert op["summary"] and op["description"]
            for param in op["parameters"]:
                if param["in"] != "body":
                    assert param["x-ms-summary"], param
                if param["in"] == "path":
                    assert param["required"] is True
            assert all(status.isdigit() for status in op["responses"])


def test_path_parameters_match_the_path(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for op in item.values():
            assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == names


def test_enums_are_the_vocabulary(document):
    definitions = document["definitions"]
    alert = definitions["AlertUpdate"]["properties"]
    incident = definitions["IncidentUpdate"]["properties"]
    assert alert["status"]["enum"] == list(v.ALERT_STATUSES)
    assert incident["status"]["enum"] == list(v.INCIDENT_STATUSES)
    assert alert["classification"]["enum"] == list(v.CLASSIFICATIONS)
    assert alert["determination"]["enum"] == list(v.DETERMINATIONS)
    for classification, determinations in v.DETERMINATIONS_BY_CLASSIFICATION.items():
        assert f"{classification}: {', '.join(determinations)}" in alert["determination"]["description"]
    assert definitions["BulkUpdateRequest"]["properties"]["ids"]["maxItems"] == 500
    assert definitions["CommentRequest"]["properties"]["comment"]["maxLength"] == v.MAX_COMMENT_CHARS


def test_function_key_security_and_tenant_choice(document):
    assert document["securityDefinitions"]["functionKey"] == {
        "type": "apiKey", "in": "header", "name": "x-functions-key",
        "description": "A function key of the app (or pass ?code= in the URL).",
    }
    assert document["security"] == [{"functionKey": []}]
    get_alert = document["paths"]["/alerts/{alertId}"]["get"]
    tenant = next(p for p in get_alert["parameters"] if p["name"] == "tenant")
    assert tenant["enum"] == [TENANT] and tenant["x-ms-visibility"] == "advanced"
    assert document["host"] == "example.azurewebsites.net" and document["basePath"] == "/api"


def test_errors_are_documented_as_problem_json(document):
    update = document["paths"]["/alerts/{alertId}"]["patch"]
    for status in ("400", "403", "404", "413", "415", "429", "502"):
        assert update["responses"][status]["schema"] == {"$ref": "#/definitions/Problem"}
    assert "Retry-After" in update["responses"]["429"]["headers"]
    assert "application/problem+json" in update["produces"]


def test_swagger_path_drops_route_constraints():
    assert swagger_path("alerts/{alertId}") == "/alerts/{alertId}"
    assert swagger_path("items/{id:int}/{rest?}") == "/items/{id}/{rest}"
    assert swagger_path("files/{*path}") == "/files/{path}"


def test_served_here_are_the_actions_blueprint():
    from functions.actions import bp

    assert len(bp._function_builders) == len(SERVED_HERE)


def test_export_now_is_an_asynchronous_action_in_the_connector(document):
    run = document["paths"]["/export/{stream}"]["post"]
    accepted = run["responses"]["202"]
    assert accepted["schema"] == {"$ref": "#/definitions/JobProgress"}
    assert set(accepted["headers"]) == {"Location", "Retry-After"}
    assert run["responses"]["200"]["schema"] == {"$ref": "#/definitions/ExportRuns"}
    # The connector sends an internal, required parameter with its default without showing it: every "export
    # now" from a workflow asks for the asynchronous answer.
    prefer = next(p for p in run["parameters"] if p["name"] == "Prefer")
    assert prefer == {**prefer, "in": "header", "required": True, "default": "respond-async",
                      "enum": ["respond-async"], "x-ms-visibility": "internal"}
    key = next(p for p in run["parameters"] if p["name"] == "Idempotency-Key")
    assert key["in"] == "header" and not key["required"]
    job = document["paths"]["/jobs/{jobId}"]["get"]
    assert set(job["responses"]["202"]["headers"]) == {"Location", "Retry-After"}
