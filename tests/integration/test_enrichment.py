"""Inline enrichment (EXPORT_ENRICH=true), against the simulator's directory over loopback: each exported alert
carries the users and devices its evidence names, looked up up to 15 per request in low-priority $batch calls of at
most 20, each entity once; a directory that refuses leaves the alert export whole and is reported."""

from __future__ import annotations

import math
import re
from urllib.parse import parse_qsl

import pytest

from local.export_check import read_export
from local.graphsim.directory import directory_of
from shared.context.bulk_lookups import FILTER_MAX_VALUES
from shared.context.enrichment import BATCH_SIZE, entity_keys
from shared.export.engine import ExportEngine
from shared.process_cache import clear_all
from tests.integration.test_export import assert_exactly_once

ENRICH = {"EXPORT_ENRICH": "true", "EXPORT_INITIAL_LOOKBACK_DAYS": 30}


@pytest.fixture(autouse=True)
def _empty_cache():
    clear_all()
    yield
    clear_all()


def directory_lookups(sim) -> list:
    return [r for r in sim.request_log if r.in_batch and r.path.split("/")[2] in ("users", "devices")]


def named_entities(request) -> list[tuple[str, str]]:
    """The (kind, key) a logged directory request asks for: the values of its filter, or the user of its path."""
    kind = "user" if request.path.split("/")[2] == "users" else "device"
    if request.path.count("/") > 2:  # GET /users/{id}
        return [(kind, request.path.split("/")[3])]
    expression = dict(parse_qsl(request.query))["$filter"]
    return [(kind, value[1:-1].replace("''", "'")) for value in re.findall(r"'(?:[^']|'')*'", expression)]


def test_each_alert_carries_its_evidence_context_and_each_entity_is_looked_up_once(make_sim, app_settings):
    sim = make_sim(alerts=1500, seed=17)
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, **ENRICH))
    summary = engine.run("alerts", tenant)
    assert summary.status == "ok" and summary.items == 1500, summary.error
    assert_exactly_once(engine, sim, "alerts", tenant)

    directory = directory_of(sim._tenant(tenant))
    exported = read_export(engine.exports, "alerts", tenant).records
    entities: set[tuple[str, str]] = set()
    for alert in exported:
        users, devices = entity_keys(alert)
        entities |= {("user", u) for u in users} | {("device", d) for d in devices}
        context = alert["bridgeContext"]
        missing = context.get("missing", {"users": [], "devices": []})
        assert [u["id"] for u in context["users"]] + missing["users"] == [k for k in users if k in directory.users] \
            + [k for k in users if k not in directory.users]
        for user in context["users"]:
            truth = directory.users[user["id"]]
            assert (user["department"], user["accountEnabled"]) == (truth["department"], truth["accountEnabled"])
        for device in context["devices"]:
            assert device["trustType"] == directory.devices[device["deviceId"]]["trustType"]
        assert set(missing["devices"]) == {d for d in devices if d not in directory.devices}
    assert any(a["bridgeContext"]["users"] for a in exported) and any(a["bridgeContext"]["devices"] for a in exported)

    stats = summary.enrichment
    lookups = directory_lookups(sim)
    assert stats["entities"] == len(entities) > 20 and stats["lookups"] == len(lookups)
    named = [entity for request in lookups for entity in named_entities(request)]
    assert sorted(named) == sorted(entities), "each entity is asked for exactly once"
    assert all(len(named_entities(request)) <= FILTER_MAX_VALUES for request in lookups)
    # Up to 15 per request: per kind, one partial request per page at most; 20 requests per $batch.
    users, devices = (len([e for e in entities if e[0] == kind]) for kind in ("user", "device"))
    assert stats["lookups"] <= math.ceil(users / FILTER_MAX_VALUES) + math.ceil(devices / FILTER_MAX_VALUES) \
        + 2 * summary.pages
    assert stats["lookups"] < len(entities) / 5
    assert stats["batches"] <= math.ceil(stats["lookups"] / BATCH_SIZE) + summary.pages
    assert stats["failed"] == stats["one_by_one"] == 0
    assert stats["not_found"] == len([e for e in entities if e[1] not in (
        directory.users if e[0] == "user" else directory.devices)]) > 0
    assert all(r.headers.get("x-ms-throttle-priority") == "low" and r.status == 200 for r in lookups)

    # The next run asks the directory nothing it already knows (TTL cache).
    sim.update_alerts(tenant, count=40)
    again = engine.run("alerts", tenant)
    assert again.status == "ok" and again.items >= 40
    assert again.enrichment["cache_hits"] == again.enrichment["entities"] and again.enrichment["lookups"] == 0
    assert len(directory_lookups(sim)) == len(lookups)


def test_a_directory_that_refuses_leaves_the_alert_export_whole_and_is_reported(make_sim, app_settings):
    sim = make_sim(alerts=600, seed=19)
    tenant = sim.tenants[0]
    sim.set_faults(path="$batch", error_rate={403: 1.0})  # no User.Read.All / Device.Read.All
    engine = ExportEngine(app_settings(sim, **ENRICH))
    summary = engine.run("alerts", tenant)
    assert summary.status == "ok" and summary.items == 600
    assert_exactly_once(engine, sim, "alerts", tenant)
    assert summary.enrichment["failed"] == summary.enrichment["entities"] > summary.enrichment["lookups"] > 0
    assert any("403" in error for error in summary.enrichment["errors"])
    for alert in read_export(engine.exports, "alerts", tenant).records:
        users, devices = entity_keys(alert)
        assert alert["bridgeContext"]["users"] == [] and alert["bridgeContext"]["devices"] == []
        if users or devices:
            assert alert["bridgeContext"]["missing"] == {"users": users, "devices": devices}


def test_enrichment_is_off_by_default_and_touches_only_alerts(make_sim, app_settings):
    sim = make_sim(alerts=200, seed=23)
    tenant = sim.tenants[0]
    plain = ExportEngine(app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30))
    assert plain.run("alerts", tenant).enrichment == {}
    assert all("bridgeContext" not in a for a in read_export(plain.exports, "alerts", tenant).records)
    enriched = ExportEngine(app_settings(sim, **ENRICH))
    assert enriched.run("incidents", tenant).enrichment == {}
    assert directory_lookups(sim) == []
