"""The export's contract, checked on what actually lands in Blob Storage (real Azurite, real simulator):
every latest version present, no (id, version) twice, whatever happens in between."""

from __future__ import annotations

import gzip
import itertools
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.blob import BlobServiceClient

from local.export_check import missing_latest, read_export
from local.graphsim.profiles import PROFILES
from shared.export import streams as stream_table
from shared.export.checkpoints import CheckpointStore
from shared.export.engine import ExportEngine, RunSummary, StepHook

STREAM_NAMES = stream_table.GRAPH_STREAMS  # the default EXPORT_STREAMS: the context streams are off


@pytest.fixture(params=tuple(PROFILES))
def profile(request) -> str:
    """The tests that page run against Graph as documented and as observed in the field (local/graphsim/profiles.py):
    the contract must hold whether or not Graph sends nextLinks."""
    return request.param


class SimulatedCrash(BaseException):
    """A worker killed between two steps: not an Exception, so nothing in the engine catches it."""


def settle(engine: ExportEngine, stream: str, tenant: str, limit: int = 10) -> list[RunSummary]:
    """Run until a whole pass from an unchanged cursor writes nothing new (the export has caught up). A run that
    only finishes a resumed pass can write nothing (a crashed run's blob was adopted) and still move the cursor: the
    versions that changed meanwhile come with the next pass."""
    runs = []
    cursor = engine.checkpoints.load(stream, tenant)[0].cursor
    for _ in range(limit):
        summary = engine.run(stream, tenant)
        runs.append(summary)
        assert summary.status in ("ok", "partial"), summary.error
        if summary.status == "ok" and summary.items == 0 and summary.cursor == cursor:
            return runs
        cursor = summary.cursor
    raise AssertionError(f"{stream} did not settle in {limit} runs: {runs}")


def assert_exactly_once(engine: ExportEngine, sim, stream: str, tenant: str) -> None:
    contents = read_export(engine.exports, stream, tenant)
    assert contents.duplicates == [], "a version was written twice"
    assert missing_latest(contents, sim.items(tenant, stream), stream) == [], "a latest version is missing"


def test_first_run_exports_every_stream_with_metadata_and_layout(profile, make_sim, app_settings):
    sim = make_sim(profile=profile, alerts=1200, seed=3)
    engine = ExportEngine(app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30))
    tenant = sim.tenants[0]
    summaries = engine.run_all()
    assert [s.status for s in summaries] == ["ok"] * len(STREAM_NAMES)
    for stream in STREAM_NAMES:
        assert_exactly_once(engine, sim, stream, tenant)
    alerts = next(s for s in summaries if s.stream == "alerts")
    assert alerts.items == 1200 and alerts.pages == 2 and alerts.blobs == 2
    blobs = list(engine.exports.list_blobs(name_starts_with=f"alerts/tenant={tenant}/", include=["metadata"]))
    assert len(blobs) == 2
    first = blobs[0]
    assert first.name.endswith("/alerts-000000000000.ndjson.gz")
    assert f"alerts/tenant={tenant}/date=" in first.name and "/hour=" in first.name
    assert first.metadata["stream"] == "alerts" and first.metadata["tenant"] == tenant
    assert int(first.metadata["record_count"]) + int(blobs[1].metadata["record_count"]) == 1200
    assert first.metadata["min_version"] <= first.metadata["max_version"]
    # Records are Graph's objects as returned: unknown enum members (after unknownFutureValue) pass through.
    raw = gzip.decompress(engine.exports.get_blob_client(first.name).download_blob().readall())
    records = [json.loads(line) for line in raw.splitlines()]
    assert all("evidence" in r and "lastUpdateDateTime" in r for r in records)
    assert {r["serviceSource"] for r in records} & {"microsoftSentinel", "microsoftDefenderForCloud"}


def test_exactly_once_while_graph_changes_under_the_export(profile, make_sim, app_settings):
    sim = make_sim(profile=profile, alerts=5200, seed=11)
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30))
    changes = itertools.count()

    def change_graph(summary: RunSummary) -> None:
        # Between pages: new alerts that share one timestamp, and updates of existing ones.
        if next(changes) < 6:
            sim.add_alerts(tenant, 40, same_timestamp=True)
            sim.update_alerts(tenant, count=60)
            sim.update_alerts(tenant, count=20, same_timestamp=True)

    first = engine.run("alerts", tenant, progress=change_graph)
    assert first.status == "ok" and first.pages >= 6
    runs = settle(engine, "alerts", tenant)
    assert sum(r.duplicates for r in runs) > 0  # the overlap really re-read versions, and they were dropped
    assert_exactly_once(engine, sim, "alerts", tenant)
    assert len(sim.alerts(tenant)) == 5200 + 6 * 40


@pytest.mark.parametrize(("step", "page"), list(itertools.product(StepHook.STEPS, (1, 3))))
def test_a_crash_at_any_step_loses_and_duplicates_nothing(profile, make_sim, app_settings, step, page):
    sim = make_sim(profile=profile, alerts=2500, seed=5)
    tenant = sim.tenants[0]
    settings = app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30)

    class CrashAt(StepHook):
        def __call__(self, at: str, summary: RunSummary) -> None:
            if at == step and summary.pages == page:
                sim.update_alerts(tenant, count=30)  # the world moves on while the worker is dead
                raise SimulatedCrash(f"{at} on page {page}")

    with pytest.raises(SimulatedCrash):
        ExportEngine(settings, hook=CrashAt()).run("alerts", tenant)
    sim.add_alerts(tenant, 10, same_timestamp=True)
    engine = ExportEngine(settings)
    settle(engine, "alerts", tenant)
    assert_exactly_once(engine, sim, "alerts", tenant)


def test_storage_outage_mid_run_then_recovery(profile, make_sim, app_settings, azurite):
    sim = make_sim(profile=profile, alerts=2500, seed=8)
    tenant = sim.tenants[0]
    settings = app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30)
    # The real client with a short retry policy, so the outage surfaces quickly instead of after minutes.
    impatient = BlobServiceClient.from_connection_string(azurite.connection_string, retry_total=1,
                                                         retry_backoff_factor=0.1)

    class StopStorage(StepHook):
        def __call__(self, at: str, summary: RunSummary) -> None:
            if at == "after_fetch" and summary.pages == 2:
                azurite.stop()

    try:
        failed = ExportEngine(settings, blob_service=impatient, hook=StopStorage()).run("alerts", tenant)
    finally:
        azurite.start()
    assert failed.status == "failed" and failed.error
    engine = ExportEngine(settings)
    settle(engine, "alerts", tenant)
    assert_exactly_once(engine, sim, "alerts", tenant)


def test_throttled_export_finishes_with_nothing_lost(profile, make_sim, app_settings):
    # The simulator enforces Graph's own limits (Identity Protection: one request per second per tenant); the client's
    # budget is set far above that so that the export really hits 429s, which Identity Protection sends without
    # Retry-After. At Graph's pace the burst is throttled however slow a loaded machine makes each page (a 5x faster
    # limit let pages slower than 0.2 s through unthrottled).
    sim = make_sim(profile=profile, alerts=3000, risk_detections=2000, seed=9, throttle=True)
    tenant = sim.tenants[0]
    settings = app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30)
    engine = ExportEngine(settings)
    alerts = engine.run("alerts", tenant)
    detections = engine.run("riskDetections", tenant)
    assert alerts.status == "ok" and detections.status == "ok"
    assert detections.throttled > 0, "Identity Protection should have throttled the burst"
    assert sim.throttled_count["identityProtection"] > 0
    for stream in ("alerts", "riskDetections"):
        assert_exactly_once(engine, sim, stream, tenant)


def test_two_concurrent_runs_one_runs_one_skips(make_sim, app_settings):
    sim = make_sim(alerts=1500, seed=4)  # leases: paging plays no part
    tenant = sim.tenants[0]
    settings = app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30)
    first_is_running = threading.Event()
    second_is_done = threading.Event()

    class Pause(StepHook):
        def __call__(self, at: str, summary: RunSummary) -> None:
            if at == "after_fetch" and summary.pages == 1:
                first_is_running.set()
                assert second_is_done.wait(30)

    results: dict[str, RunSummary] = {}
    worker = threading.Thread(target=lambda: results.setdefault(
        "first", ExportEngine(settings, hook=Pause()).run("alerts", tenant)))
    worker.start()
    assert first_is_running.wait(30)
    results["second"] = ExportEngine(settings).run("alerts", tenant)
    second_is_done.set()
    worker.join(60)
    assert results["second"].status == "skipped" and "lease" in (results["second"].error or "")
    assert results["first"].status == "ok" and results["first"].items == 1500
    assert_exactly_once(ExportEngine(settings), sim, "alerts", tenant)


def test_time_budget_stops_early_and_the_next_run_finishes(profile, make_sim, app_settings):
    sim = make_sim(profile=profile, alerts=3500, seed=6)
    tenant = sim.tenants[0]
    settings = app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30, EXPORT_TIME_BUDGET_SECONDS=10)
    ticks = itertools.count()
    engine = ExportEngine(settings, monotonic=lambda: float(next(ticks)) * 3.0)  # each look at the clock: +3 s
    first = engine.run("alerts", tenant)
    assert first.status == "partial" and 0 < first.items < 3500
    checkpoint, _ = engine.checkpoints.load("alerts", tenant)
    assert checkpoint.pass_state is not None and checkpoint.pass_state.pages > 0  # resumes where it stopped
    assert checkpoint.cursor is None  # the cursor waits for the pass to finish
    engine = ExportEngine(settings)
    settle(engine, "alerts", tenant)
    assert_exactly_once(engine, sim, "alerts", tenant)


def test_a_failing_stream_does_not_stall_the_others_or_move_its_cursor(make_sim, app_settings, monkeypatch):
    sim = make_sim(alerts=300, seed=12)  # stream isolation: paging plays no part
    tenant = sim.tenants[0]
    settings = app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30)
    engine = ExportEngine(settings)
    assert all(s.status == "ok" for s in engine.run_all())
    cursor_before = engine.checkpoints.load("riskDetections", tenant)[0].cursor

    sim.set_faults(fail_next=[500] * 1000, path="riskDetections")  # a permanent 500
    # and a stream configured with a field Graph cannot filter on: Graph's own 400
    monkeypatch.setitem(stream_table.STREAMS, "riskyUsers",
                        replace(stream_table.STREAMS["riskyUsers"], cursor_field="createdDateTime"))
    sim.add_alerts(tenant, 5)
    summaries = {s.stream: s for s in ExportEngine(settings).run_all()}
    assert summaries["riskDetections"].status == "failed" and "500" in summaries["riskDetections"].error
    assert summaries["riskyUsers"].status == "failed" and "createdDateTime" in summaries["riskyUsers"].error
    assert summaries["alerts"].status == "ok" and summaries["alerts"].items == 5
    assert summaries["incidents"].status == "ok"
    after = engine.checkpoints.load("riskDetections", tenant)[0]
    assert after.cursor == cursor_before
    assert after.last_error and "500" in after.last_error["message"]


def test_a_run_with_nothing_to_write_saves_once_and_a_writing_run_claims_first(make_sim, app_settings, monkeypatch):
    """The claim waits for the first blob: a quiet incremental run costs one checkpoint save (its outcome), while a
    run that writes makes itself the `writer` before its blob, so a run after a crash knows to settle the name."""
    sim = make_sim(alerts=300, seed=14)
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30))
    assert engine.run("alerts", tenant).status == "ok"
    saved: list[tuple[str | None, int]] = []
    real_save = CheckpointStore.save

    def recording_save(store, checkpoint, etag):
        saved.append((checkpoint.writer, checkpoint.seq))
        return real_save(store, checkpoint, etag)

    monkeypatch.setattr(CheckpointStore, "save", recording_save)
    quiet = engine.run("alerts", tenant)
    assert quiet.status == "ok" and quiet.items == 0
    assert saved == [(None, 1)]
    stored = engine.checkpoints.load("alerts", tenant)[0]
    assert stored.writer is None and stored.last_run and stored.last_run["items"] == 0

    saved.clear()
    sim.update_alerts(tenant, count=3)
    busy = engine.run("alerts", tenant)
    assert busy.status == "ok" and busy.items == 3
    run_id = saved[0][0]
    assert run_id and saved == [(run_id, 1), (None, 2)]  # the claim before blob 1, then the outcome after it
    assert_exactly_once(engine, sim, "alerts", tenant)


def test_backfill_has_its_own_checkpoint_and_folder(profile, make_sim, app_settings):
    sim = make_sim(profile=profile, alerts=800, seed=13)
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=1))
    live = engine.run("alerts", tenant)
    live_cursor = engine.checkpoints.load("alerts", tenant)[0].cursor
    end = datetime.now(UTC)
    start = end - timedelta(days=30)
    backfill = engine.run("alerts", tenant, backfill=(start, end))
    assert backfill.status == "ok" and backfill.items == 800
    assert live.items < 800
    assert engine.checkpoints.load("alerts", tenant)[0].cursor == live_cursor
    names = [b.name for b in engine.exports.list_blobs(name_starts_with=f"alerts/tenant={tenant}/backfill=")]
    assert names and all("/backfill=" in n for n in names)
    again = engine.run("alerts", tenant, backfill=(start, end))
    assert again.items == 0  # a finished backfill is not written twice
    assert CheckpointStore(engine.state, "backfills").list_all()[0].complete


def test_snapshot_streams_emit_only_new_versions(profile, make_sim, app_settings):
    sim = make_sim(profile=profile, risky_service_principals=120, seed=14)
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30))
    first = engine.run("riskyServicePrincipals", tenant)
    second = engine.run("riskyServicePrincipals", tenant)
    assert first.items == 120 and second.items == 0
    assert_exactly_once(engine, sim, "riskyServicePrincipals", tenant)


class WriteOnceContainer:
    """The real Azurite container, refusing what a container with a time-based immutability policy refuses.

    Azurite does not implement immutability policies; Azure answers a delete or an overwrite of a protected blob with
    409 and the error code BlobImmutableDueToPolicy (Blob Storage error codes). Creating new blobs still works."""

    def __init__(self, container) -> None:
        self._container = container
        self.refused: list[str] = []

    def __getattr__(self, name: str):
        return getattr(self._container, name)

    def _refuse(self, name: str) -> None:
        from azure.core.exceptions import HttpResponseError

        self.refused.append(name)
        error = HttpResponseError(message="This operation is not permitted as the blob is immutable due to a policy.")
        error.status_code = 409
        error.error_code = "BlobImmutableDueToPolicy"
        raise error

    def _exists(self, name: str) -> bool:
        return self._container.get_blob_client(name).exists()

    def delete_blob(self, name: str, *args, **kwargs):
        if self._exists(name):
            self._refuse(name)
        return self._container.delete_blob(name, *args, **kwargs)

    def upload_blob(self, name: str, data, *args, **kwargs):
        if self._exists(name):
            self._refuse(name)
        return self._container.upload_blob(name, data, *args, **kwargs)


def test_a_crash_with_a_write_once_export_container_stays_exactly_once(make_sim, app_settings):
    # With exportImmutabilityDays (infra) no blob may be deleted or overwritten. The engine never asks to: it adopts
    # the blob a crashed run left unrecorded (docs/exactly-once.md), so the export stays exactly-once.
    sim = make_sim(alerts=2500, seed=5)
    tenant = sim.tenants[0]
    settings = app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30)

    class CrashAfterWrite(StepHook):
        def __call__(self, at: str, summary: RunSummary) -> None:
            if at == "after_blob_write" and summary.pages == 2:
                raise SimulatedCrash("after the second blob")

    crashed = ExportEngine(settings, hook=CrashAfterWrite())
    crashed.exports = WriteOnceContainer(crashed.exports)
    with pytest.raises(SimulatedCrash):
        crashed.run("alerts", tenant)
    orphans = [b.name for b in crashed.exports.list_blobs(name_starts_with=f"alerts/tenant={tenant}/")]
    assert len(orphans) == 2
    orphan = orphans[1]
    before = crashed.exports.get_blob_client(orphan).download_blob().readall()

    engine = ExportEngine(settings)
    engine.exports = worm = WriteOnceContainer(engine.exports)
    runs = settle(engine, "alerts", tenant)
    assert worm.refused == []  # never asked to delete or overwrite anything
    assert engine.exports.get_blob_client(orphan).download_blob().readall() == before
    contents = read_export(engine.exports, "alerts", tenant)
    assert missing_latest(contents, sim.items(tenant, "alerts"), "alerts") == []
    assert contents.duplicates == [] and gzip.decompress(before).count(b"\n") > 0
    assert runs[0].status == "ok"


def test_acceptance_big_windows_and_one_crowded_timestamp_through_crashes(profile, make_sim, app_settings):
    """Issue 12's acceptance: 2,500+ alerts and incidents in the initial window, then a window of 3,000 updates,
    then 1,200 alerts sharing one timestamp; every run dies at some step until one gets through."""
    sim = make_sim(profile=profile, alerts=3000, alerts_per_incident=1.0, seed=21)
    tenant = sim.tenants[0]
    settings = app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30)
    crash_points = itertools.cycle(itertools.product(StepHook.STEPS, (1, 2, 3)))

    class CrashOnce(StepHook):
        def __init__(self) -> None:
            self.step, self.page = next(crash_points)

        def __call__(self, at: str, summary: RunSummary) -> None:
            if at == self.step and summary.pages == self.page:
                raise SimulatedCrash(f"{at} on page {self.page}")

    def export_through_crashes(stream: str) -> None:
        for _ in range(40):
            try:
                summary = ExportEngine(settings, hook=CrashOnce()).run(stream, tenant)
            except SimulatedCrash:
                continue
            assert summary.status == "ok", summary.error
            assert summary.crowded_timestamps == []
            if summary.items == 0:
                return
        raise AssertionError(f"{stream} did not settle")

    assert len(sim.items(tenant, "incidents")) >= 2500
    changes = (
        lambda: None,
        lambda: sim.update_alerts(tenant, count=3000),
        lambda: sim.add_alerts(tenant, 1200, same_timestamp=True),
    )
    for change in changes:
        change()
        for stream in ("alerts", "incidents"):
            export_through_crashes(stream)
            assert_exactly_once(ExportEngine(settings), sim, stream, tenant)


def test_query_options_graph_refuses_are_dropped_remembered_and_reported_once(profile, make_sim, app_settings):
    sim = make_sim(profile=profile, alerts=2300, service_principal_risk_detections=30, seed=22,
                   refused_options={"alerts": ("$orderby",), "servicePrincipalRiskDetections": ("$top",)})
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30))
    first = {s.stream: s for s in engine.run_all(streams=("alerts", "servicePrincipalRiskDetections"))}
    assert all(s.status == "ok" for s in first.values()), first
    spd = first["servicePrincipalRiskDetections"]
    assert len(spd.notes) == 1 and "$top" in spd.notes[0]
    kept = engine.checkpoints.load("servicePrincipalRiskDetections", tenant)[0].refused_options
    assert list(kept) == ["$top"] and kept["$top"]["error"]  # remembered where every run reads anyway
    # $orderby is sent only once a nextLink is missing, which the documented Graph never does.
    assert len(first["alerts"].notes) == (1 if profile == "observed" else 0)
    sim.add_alerts(tenant, 1100)
    again = {s.stream: s for s in engine.run_all(streams=("alerts", "servicePrincipalRiskDetections"))}
    assert all(s.status == "ok" and s.notes == [] for s in again.values()), again
    sent = [r.query for r in sim.request_log if "servicePrincipalRiskDetections" in r.path and r.status == 200]
    assert sent and all("top" not in q for q in sent[1:])
    for stream in ("alerts", "servicePrincipalRiskDetections"):
        assert_exactly_once(engine, sim, stream, tenant)


def test_more_versions_on_one_timestamp_than_graph_lets_one_read_are_reported(make_sim, app_settings):
    # Only a Graph without nextLinks forces $skip: 500 + one page of 1,000 is all it lets one read of one timestamp.
    sim = make_sim(profile="observed", alerts=200, seed=23)
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30))
    engine.run("alerts", tenant)
    sim.add_alerts(tenant, 1600, same_timestamp=True)
    crowded = engine.run("alerts", tenant)
    assert crowded.status == "ok" and crowded.items == 1500
    (stamp,) = crowded.crowded_timestamps
    assert stamp == max(a["lastUpdateDateTime"] for a in sim.alerts(tenant))
    contents = read_export(engine.exports, "alerts", tenant)
    assert contents.duplicates == [] and len(missing_latest(contents, sim.alerts(tenant), "alerts")) == 100
