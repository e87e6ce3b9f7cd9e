"""The OCSF rendition, checked against the official OCSF JSON Schema (the `ocsf-json-schema` package: OCSF's own
compiled schemas, offline) with jsonschema's Draft 2020-12 validator. The objects come from the Graph simulator's
generator, so they have Graph's shape; every member of every Graph enumeration the tables read is tried, the unknown
ones included."""

from __future__ import annotations

import copy
import json

import pytest

from local.graphsim import GraphSimulator, SimConfig
from local.graphsim import enums as graph_enums
from local.ocsf_check import schema_errors
from shared.ocsf.render import MAPPINGS, SUPPORTED_VERSIONS, render, render_page
from shared.ocsf.table import epoch_ms

TENANT = "11111111-1111-4111-8111-111111111111"
UNKNOWN_TO_THIS_CODE = ("aMemberAddedIn2030", "", None)


@pytest.fixture(scope="module")
def graph_objects():
    sim = GraphSimulator(SimConfig(seed=21, alerts=400, risk_detections=60, risky_users=40))
    tenant = sim.tenants[0]
    return {stream: sim.items(tenant, stream) for stream in MAPPINGS}


def assert_valid(stream: str, item: dict, version: str = "1.8.0") -> dict:
    event = render(stream, item, version=version, tenant=TENANT)
    errors = schema_errors(event)
    assert errors == [], f"{stream} {item.get('id')}: {errors[:5]}"
    return event


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_every_simulated_object_validates_in_every_supported_version(graph_objects, version):
    checked = 0
    for stream, items in graph_objects.items():
        assert items, stream
        for item in items:
            event = assert_valid(stream, item, version)
            assert event["metadata"]["version"] == version
            assert json.loads(event["raw_data"]) == item  # the Graph object, whole
            checked += 1
    assert checked > 500


# (stream, Graph field, the simulator's enumeration of that field)
ENUM_FIELDS = [
    ("alerts", "status", graph_enums.ALERT_STATUS),
    ("alerts", "severity", graph_enums.ALERT_SEVERITY),
    ("alerts", "classification", graph_enums.ALERT_CLASSIFICATION),
    ("alerts", "determination", graph_enums.ALERT_DETERMINATION),
    ("alerts", "serviceSource", graph_enums.SERVICE_SOURCE),
    ("alerts", "detectionSource", graph_enums.DETECTION_SOURCE),
    ("incidents", "status", graph_enums.INCIDENT_STATUS),
    ("incidents", "severity", graph_enums.ALERT_SEVERITY),
    ("incidents", "classification", graph_enums.ALERT_CLASSIFICATION),
    ("riskDetections", "riskLevel", graph_enums.RISK_LEVEL),
    ("riskDetections", "riskState", graph_enums.RISK_STATE),
    ("riskDetections", "riskDetail", graph_enums.RISK_DETAIL),
    ("riskDetections", "detectionTimingType", graph_enums.RISK_DETECTION_TIMING),
    ("riskyUsers", "riskLevel", graph_enums.RISK_LEVEL),
    ("riskyUsers", "riskState", graph_enums.RISK_STATE),
]


@pytest.mark.parametrize(("stream", "field", "enum"), ENUM_FIELDS, ids=[f"{s}.{f}" for s, f, _ in ENUM_FIELDS])
def test_every_enum_member_validates_unknown_ones_included(graph_objects, stream, field, enum):
    template = graph_objects[stream][0]
    for member in (*enum.members, *UNKNOWN_TO_THIS_CODE):
        assert_valid(stream, {**template, field: member})


def test_every_evidence_verdict_validates(graph_objects):
    alert = next(a for a in graph_objects["alerts"] if a["evidence"])
    for member in (*graph_enums.EVIDENCE_VERDICT.members, *UNKNOWN_TO_THIS_CODE):
        changed = copy.deepcopy(alert)
        for ev in changed["evidence"]:
            ev["verdict"] = member
        assert_valid("alerts", changed)


def test_enum_mapping_rule_known_unknown_and_other(graph_objects):
    alert = graph_objects["alerts"][0]
    assert render("alerts", {**alert, "severity": "high"}, version="1.8.0", tenant=TENANT)["severity_id"] == 4
    for unknown in ("unknown", "unknownFutureValue", None):
        event = render("alerts", {**alert, "severity": unknown}, version="1.8.0", tenant=TENANT)
        assert (event["severity_id"], event["severity"]) == (0, "Unknown")
    event = render("alerts", {**alert, "severity": "catastrophic"}, version="1.8.0", tenant=TENANT)
    assert (event["severity_id"], event["severity"]) == (99, "catastrophic")  # Other carries Graph's value


def test_every_evidence_kind_the_simulator_makes_renders_and_validates(graph_objects):
    kinds = {ev["@odata.type"] for a in graph_objects["alerts"] for ev in a["evidence"]}
    assert len(kinds) > 20
    typed = {"user", "device", "process", "file", "src_endpoint", "url", "email", "reg_key", "reg_value"}
    seen: set[str] = set()
    for alert in graph_objects["alerts"]:
        event = assert_valid("alerts", alert)
        for item in event.get("evidences", ()):
            seen |= typed & set(item)
    assert seen == typed, f"never rendered: {typed - seen}"


def test_alert_fields_land_where_the_table_says(graph_objects):
    alert = next(a for a in graph_objects["alerts"] if a["mitreTechniques"] and a["status"] == "resolved")
    event = assert_valid("alerts", alert)
    assert (event["class_uid"], event["category_uid"], event["activity_id"], event["type_uid"]) == (2004, 2, 3, 200403)
    assert event["finding_info"]["uid"] == alert["id"]
    assert event["finding_info"]["related_events"] == [{"uid": alert["incidentId"], "type": "Incident"}]
    assert event["time"] == epoch_ms(alert["lastUpdateDateTime"])
    assert event["metadata"]["tenant_uid"] == alert["tenantId"] and event["metadata"]["profiles"] == ["incident"]
    techniques = {a.get("sub_technique", a.get("technique"))["uid"] for a in event["finding_info"]["attacks"]}
    assert techniques == set(alert["mitreTechniques"])
    assert "investigationState" in event["unmapped"] and "title" not in event["unmapped"]


def test_epoch_ms_keeps_milliseconds_of_graph_seven_digit_times():
    assert epoch_ms("1970-01-01T00:00:01.2345678Z") == 1234
    assert epoch_ms("2026-11-20T08:15:32.1234567+01:00") == epoch_ms("2026-11-20T07:15:32.123Z")
    assert epoch_ms("not a time") is None and epoch_ms(None) is None


def test_risky_user_is_user_inventory_info(graph_objects):
    risky = graph_objects["riskyUsers"][0]
    event = assert_valid("riskyUsers", risky)
    assert (event["class_uid"], event["activity_id"], event["type_uid"]) == (5003, 2, 500302)
    assert event["user"]["uid"] == risky["id"] and event["user"]["account"]["type_id"] == 6
    assert event["unmapped"]["riskState"] == risky["riskState"]


def test_incident_without_and_with_expanded_alerts(graph_objects):
    incident = graph_objects["incidents"][0]
    assert assert_valid("incidents", {**incident, "alerts": []})["finding_info_list"] == []
    alerts = [a for a in graph_objects["alerts"] if a["incidentId"] == incident["id"]]
    event = assert_valid("incidents", {**incident, "alerts": alerts})
    assert [f["uid"] for f in event["finding_info_list"]] == [a["id"] for a in alerts]


# ---------------------------------------------------------------- the validator really rejects broken events


def broken_variants(event: dict) -> dict[str, dict]:
    no_uid = copy.deepcopy(event)
    del no_uid["finding_info"]["uid"]
    return {
        "finding_info.uid missing": no_uid,
        "time as text": {**event, "time": "2026-11-20T08:15:32Z"},
        "severity_id outside its enum": {**event, "severity_id": 7},
        "unknown top-level key": {**event, "graphField": 1},
        "type_uid not class x 100 + activity": {**event, "type_uid": 200499},
        "profile attribute without its profile": {**event, "metadata": {**event["metadata"], "profiles": []}},
    }


def test_a_deliberately_broken_event_fails(graph_objects):
    event = assert_valid("alerts", next(a for a in graph_objects["alerts"] if a.get("assignedTo")))
    for what, broken in broken_variants(event).items():
        assert schema_errors(broken), f"the validator accepted an event with {what}"


# ---------------------------------------------------------------- a malformed object never stops the export


def test_an_object_the_table_cannot_render_gets_a_valid_minimal_event(graph_objects):
    alert = {**graph_objects["alerts"][0], "mitreTechniques": 5}  # not a list: the attacks row raises
    good = graph_objects["alerts"][1]
    events, fallbacks = render_page("alerts", [alert, good], version="1.8.0", tenant=TENANT)
    assert fallbacks == 1 and len(events) == 2
    assert schema_errors(events[0]) == [] and schema_errors(events[1]) == []
    assert json.loads(events[0]["raw_data"]) == alert
    assert "bridgeRenderError" in events[0]["unmapped"]
    for stream, items in graph_objects.items():
        _, fallbacks = render_page(stream, items, version="1.8.0", tenant=TENANT)
        assert fallbacks == 0, stream
