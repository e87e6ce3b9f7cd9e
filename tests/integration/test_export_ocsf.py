"""The OCSF output of the export (EXPORT_FORMATS=graph,ocsf), checked on what lands in Blob Storage (real Azurite,
real simulator): every event valid against the official OCSF JSON Schema, every graph blob with its OCSF twin holding
the same versions, exactly once, whatever step a run dies at."""

from __future__ import annotations

import itertools

import pytest

from local.export_check import read_export
from local.ocsf_check import ocsf_problems, read_ocsf
from shared.export.engine import ExportEngine, RunSummary, StepHook
from shared.export.streams import GRAPH_STREAMS
from shared.ocsf.output import OCSF_PREFIX
from shared.ocsf.render import MAPPINGS
from tests.integration.test_export import SimulatedCrash, assert_exactly_once, settle

OCSF_ON = {"EXPORT_FORMATS": "graph,ocsf", "EXPORT_INITIAL_LOOKBACK_DAYS": 30}


def assert_ocsf_exactly_once(engine: ExportEngine, stream: str, tenant: str, *, validate: bool = False) -> list:
    """Every graph blob with its OCSF twin, every exported version rendered once; the events."""
    ocsf, problems = ocsf_problems(engine.exports, stream, tenant, read_export(engine.exports, stream, tenant),
                                   validate=validate)
    assert problems == [], problems[:10]
    return ocsf.events


def test_full_export_every_ocsf_event_validates_beside_an_unchanged_graph_layout(make_sim, app_settings):
    sim = make_sim(alerts=1200, seed=13)
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, **OCSF_ON))
    summaries = {s.stream: s for s in engine.run_all()}
    assert all(s.status == "ok" for s in summaries.values()), summaries
    validated = 0
    for stream in GRAPH_STREAMS:
        assert_exactly_once(engine, sim, stream, tenant)  # the graph output keeps its contract
        if stream not in MAPPINGS:
            assert read_ocsf(engine.exports, stream, tenant).blobs == 0 and summaries[stream].ocsf == {}
            continue
        events = assert_ocsf_exactly_once(engine, stream, tenant, validate=True)  # 0 schema errors
        assert len(events) == summaries[stream].items == summaries[stream].ocsf["items"] > 0
        assert summaries[stream].ocsf["fallbacks"] == 0
        assert {(e["class_uid"], e["metadata"]["version"]) for e in events} == {(MAPPINGS[stream].class_uid, "1.8.0")}
        validated += len(events)
    assert validated >= 1200 + 100 + 40
    # The graph layout is byte-for-byte what it was: the OCSF output lives only under ocsf/.
    names = [b.name for b in engine.exports.list_blobs()]
    assert {n.split("/")[0] for n in names} == set(GRAPH_STREAMS) | {OCSF_PREFIX.rstrip("/")}
    twin = next(engine.exports.list_blobs(name_starts_with=f"{OCSF_PREFIX}alerts/", include=["metadata"]))
    assert twin.metadata["format"] == "ocsf" and twin.metadata["class_uid"] == "2004"
    assert twin.metadata["graph_blob"] == twin.name.removeprefix(OCSF_PREFIX)


def test_graph_alone_writes_no_ocsf(make_sim, app_settings):
    sim = make_sim(alerts=300, seed=2)
    engine = ExportEngine(app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30))
    summary = engine.run("alerts", sim.tenants[0])
    assert summary.status == "ok" and summary.items == 300 and summary.ocsf == {}
    assert list(engine.exports.list_blobs(name_starts_with=OCSF_PREFIX)) == []


@pytest.mark.parametrize(("step", "page"), list(itertools.product(StepHook.STEPS, (1, 3))))
def test_a_crash_at_any_step_leaves_every_graph_blob_with_its_ocsf_twin(make_sim, app_settings, step, page):
    sim = make_sim(alerts=2500, seed=5)
    tenant = sim.tenants[0]
    settings = app_settings(sim, **OCSF_ON)

    class CrashAt(StepHook):
        def __call__(self, at: str, summary: RunSummary) -> None:
            if at == step and summary.pages == page:
                sim.update_alerts(tenant, count=30)
                raise SimulatedCrash(f"{at} on page {page}")

    with pytest.raises(SimulatedCrash):
        ExportEngine(settings, hook=CrashAt()).run("alerts", tenant)
    sim.add_alerts(tenant, 10, same_timestamp=True)
    engine = ExportEngine(settings)
    settle(engine, "alerts", tenant)
    assert_exactly_once(engine, sim, "alerts", tenant)
    assert len(assert_ocsf_exactly_once(engine, "alerts", tenant)) > 2500


def test_an_interrupted_pair_is_adopted_whole_even_after_ocsf_is_turned_off(make_sim, app_settings):
    """A run with ocsf on dies after writing both blobs of a page; the next run has ocsf off. It adopts the graph
    blob (nothing is deleted: docs/exactly-once.md), so the twin beside it stays right: both hold the same
    versions, and no version is exported twice."""
    sim = make_sim(alerts=2500, seed=9)
    tenant = sim.tenants[0]

    class CrashAfterOcsf(StepHook):
        def __call__(self, at: str, summary: RunSummary) -> None:
            if at == "after_ocsf_write" and summary.pages == 2:
                raise SimulatedCrash(at)

    with pytest.raises(SimulatedCrash):
        ExportEngine(app_settings(sim, **OCSF_ON), hook=CrashAfterOcsf()).run("alerts", tenant)
    assert read_ocsf(ExportEngine(app_settings(sim, **OCSF_ON)).exports, "alerts", tenant).blobs == 2
    engine = ExportEngine(app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30))
    settle(engine, "alerts", tenant)
    assert_exactly_once(engine, sim, "alerts", tenant)
    ocsf = read_ocsf(engine.exports, "alerts", tenant)
    graph = {b.name: int(b.metadata["record_count"])
             for b in engine.exports.list_blobs(name_starts_with=f"alerts/tenant={tenant}/", include=["metadata"])}
    first, orphan = sorted(graph)[:2]
    # The committed first page and the adopted second one have their twins (written while ocsf was on).
    assert ocsf.by_blob == {first: graph[first], orphan: graph[orphan]} and graph[orphan] > 0
