"""Validation of the tenant-list document (shared/tenants.py): a wrong entry is reported, naming the entry, the tenant
and the field, and skipped; a document that cannot be used as a whole serves no tenant."""

from __future__ import annotations

import json

import pytest

from shared.settings import SettingsError, load_settings
from shared.tenants import MAX_DOCUMENT_BYTES, Tenant, parse_document

A = "11111111-1111-4111-8111-111111111111"
B = "22222222-2222-4222-8222-222222222222"
C = "33333333-3333-4333-8333-333333333333"


def parse(document: object, auth_mode: str = "managed_identity_federation"):
    return parse_document(json.dumps(document).encode(), "blob graph-state/tenants.json", auth_mode=auth_mode)


def test_entries_are_read_with_their_fields():
    listed = parse({"tenants": [{"id": A.upper(), "displayName": " Contoso ", "streams": ["Alerts", "riskyUsers"],
                                 "everyMinutes": 60}, {"id": B}]})
    assert listed.problems == () and listed.error is None
    assert listed.tenants == (Tenant(A, "Contoso", ("alerts", "riskyUsers"), 60), Tenant(B))
    assert listed.get(A.upper()) == listed.tenants[0]


@pytest.mark.parametrize(("entry", "field", "says"), [
    ({"id": B, "streams": ["alertz"]}, "'streams'", "alertz"),
    ({"id": B, "streams": "alerts"}, "'streams'", "a list"),
    ({"id": B, "everyMinutes": 0}, "'everyMinutes'", "1 to"),
    ({"id": B, "everyMinutes": "60"}, "'everyMinutes'", "whole number"),
    ({"id": B, "everyMinutes": True}, "'everyMinutes'", "whole number"),
    ({"id": B, "displayName": 7}, "'displayName'", "string"),
    ({"id": B, "stream": ["alerts"]}, "'stream'", "unknown field"),
    ({"id": A}, "listed twice", "first entry"),
])
def test_a_wrong_entry_is_skipped_and_named(entry, field, says):
    listed = parse({"tenants": [{"id": A}, entry, {"id": C}]})
    assert listed.ids == (A, C)
    (problem,) = listed.problems
    assert problem.startswith(f"tenants[1] (tenant {entry['id']}):") and field in problem and says in problem
    assert listed.problem_of(entry["id"]) == problem


@pytest.mark.parametrize("entry", [{"id": "contoso.onmicrosoft.com"}, {"displayName": "no id"}, "just text"])
def test_an_entry_without_a_tenant_id_is_skipped_and_named(entry):
    listed = parse({"tenants": [entry, {"id": A}]})
    assert listed.ids == (A,)
    assert listed.problems[0].startswith("tenants[0]")


@pytest.mark.parametrize(("body", "says"), [
    (b"{", "is not JSON"),
    (b'["' + A.encode() + b'"]', '"tenants" list'),
    (b'{"tenants": {}}', '"tenants" list'),
    (b" " * (MAX_DOCUMENT_BYTES + 1), "bytes"),
])
def test_an_unusable_document_serves_no_tenant(body, says):
    listed = parse_document(body, "blob x/tenants.json", auth_mode="client_secret")
    assert listed.tenants == () and says in (listed.error or "")
    assert "blob x/tenants.json" in (listed.error or "")


def test_a_managed_identity_cannot_serve_several_tenants_from_the_list():
    # Its tokens are for its own tenant whatever tenant is asked: a second tenant would get the first one's data.
    listed = parse({"tenants": [{"id": A}, {"id": B}]}, auth_mode="managed_identity")
    assert listed.tenants == () and "managed_identity" in (listed.error or "")
    assert parse({"tenants": [{"id": A}]}, auth_mode="managed_identity").ids == (A,)


def test_streams_narrow_within_export_streams_and_an_empty_list_exports_nothing():
    settings = load_settings({"GRAPH_TENANT_LIST_BLOB": "tenants.json", "BRIDGE_STORAGE": "x",
                              "EXPORT_STREAMS": "alerts,riskyUsers,incidents"})
    assert Tenant(A).export_streams(settings) == ("alerts", "riskyUsers", "incidents")
    assert Tenant(A, streams=("incidents", "riskDetections", "alerts")).export_streams(settings) == (
        "alerts", "incidents")
    assert Tenant(A, streams=()).export_streams(settings) == ()


@pytest.mark.parametrize(("env", "says"), [
    ({}, "GRAPH_TENANT_IDS is missing"),
    ({"GRAPH_TENANT_IDS": A, "GRAPH_TENANT_LIST_BLOB": "tenants.json"}, "both set"),
    ({"GRAPH_TENANT_LIST_BLOB": "../tenants.json"}, "GRAPH_TENANT_LIST_BLOB='../tenants.json' is invalid"),
])
def test_settings_name_one_tenant_source(env, says):
    with pytest.raises(SettingsError) as raised:
        load_settings({"BRIDGE_STORAGE": "x", **env})
    assert any(says in problem for problem in raised.value.problems)
