""""Export now" as an asynchronous request (`Prefer: respond-async`) end to end: the dev host serves the app and runs
its queue-triggered job worker on the real Azurite queue, against the Graph simulator. A Logic App's HTTP action is
imitated: send, get 202, follow Location (after Retry-After; the test polls faster) until the answer comes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

import function_app
from local.devhost import DevHost
from local.export_check import missing_latest, read_export
from local.graphsim import SimConfig
from local.stack import LocalStack
from shared.actions import jobs
from shared.actions.operations import JOB_QUEUE
from shared.storage.leases import LEASE_SECONDS, RunLease
from tests.integration.conftest import follow_async, serving

ASYNC = {"Prefer": "respond-async"}
EXPORT = "exp-jobs-it"
STATE = "state-jobs-it"
ALERTS = 3000  # three pages of 1,000
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class Running:
    stack: LocalStack
    env: dict[str, str]
    host: DevHost
    tenant: str

    def post(self, path: str, body=None, headers=None, host: DevHost | None = None) -> requests.Response:
        host = host or self.host
        return requests.post(host.url(path), json=body, timeout=120,
                             headers={"x-functions-key": host.key, **(headers or {})})

    def follow(self, response: requests.Response, timeout: float = 120) -> requests.Response:
        return follow_async(response, self.host.key, timeout=timeout, retry_after=jobs.POLL_SECONDS)

    def job(self, accepted: requests.Response) -> requests.Response:
        """GET the job that `accepted` started, on the running host (the Location names the host that answered)."""
        job_id = accepted.headers["Location"].rsplit("/", 1)[1]
        return requests.get(self.host.url(f"jobs/{job_id}"), headers={"x-functions-key": self.host.key}, timeout=60)

    def graph_pages(self, since: int) -> int:
        return sum(1 for r in self.stack.sim.request_log[since:] if r.path.endswith("/security/alerts_v2"))

    def blobs(self, container: str) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.stack.azurite.connection_string).get_container_client(
            container)

    def queued_jobs(self) -> int:
        queue = QueueClient.from_connection_string(self.stack.azurite.connection_string, JOB_QUEUE)
        try:
            return queue.get_queue_properties().approximate_message_count  # Azurite's count is exact
        except ResourceNotFoundError:
            return 0

    def job_records(self) -> int:
        try:
            return sum(1 for b in self.blobs(STATE).list_blobs(name_starts_with="jobs/") if "/series/" not in b.name)
        except ResourceNotFoundError:
            return 0

    def quiet_host(self) -> DevHost:
        """The app without its queue triggers: a job's message waits in the queue (no worker is running)."""
        self.host.stop()
        return DevHost(function_app.app, self.env, run_queue_triggers=False).start()

    def restart(self) -> None:
        self.host = DevHost(function_app.app, self.env).start()


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    with LocalStack(SimConfig(alerts=ALERTS, throttle=False, seed=43, evidence_kb=0.2, history_days=5)) as stack:
        assert stack.sim is not None
        env = stack.env(EXPORT_CONTAINER=EXPORT, STATE_CONTAINER=STATE, EXPORT_INITIAL_LOOKBACK_DAYS="30",
                        EXPORT_STREAMS="alerts,incidents", GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000")
        with serving(function_app.app, env) as host:
            yield Running(stack, env, host, stack.sim.tenants[0])


def test_bad_requests_are_refused_before_any_job(running: Running):
    quiet = running.quiet_host()
    try:
        records = running.job_records()
        for path, body, headers, status in (
            ("export/nope", None, {}, 404),
            ("export/alerts", {"from": "yesterday", "to": "2026-01-01T00:00:00Z"}, {}, 400),
            ("export/alerts", {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, {}, 400),
            ("export/alerts", {"window": 1}, {}, 400),
            ("export/alerts?tenant=00000000-0000-4000-8000-000000000000", None, {}, 400),
            ("export/alerts", None, {"Idempotency-Key": "two words"}, 400),
            ("export/riskyUsers", None, {}, 409),  # not in EXPORT_STREAMS
        ):
            refused = running.post(path, body, {**ASYNC, **headers}, host=quiet)
            assert refused.status_code == status, (path, refused.text)
            assert refused.headers["Content-Type"] == "application/problem+json"
            assert refused.json()["status"] == status and refused.json()["detail"]
        raw = requests.post(quiet.url("export/alerts"), data=b"{not json", timeout=30,
                            headers={"x-functions-key": quiet.key, **ASYNC})
        assert raw.status_code == 400 and raw.json()["title"] == "Malformed JSON"
        assert running.queued_jobs() == 0 and running.job_records() == records
    finally:
        quiet.stop()
        running.restart()


def test_export_now_answers_at_once_and_its_location_gives_the_summaries(running: Running):
    since = len(running.stack.sim.request_log)
    accepted = running.post("export/alerts", headers=ASYNC)
    assert accepted.status_code == 202, accepted.text
    assert accepted.elapsed.total_seconds() < 5
    assert accepted.headers["Location"].startswith(running.host.url("jobs/"))
    assert int(accepted.headers["Retry-After"]) == jobs.POLL_SECONDS
    assert accepted.json()["status"] == "running" and accepted.json()["requested"] == 1  # one tenant
    final = running.follow(accepted)
    assert final.status_code == 200, final.text
    (run,) = final.json()["runs"]
    assert run["status"] == "ok" and run["tenant"] == running.tenant and run["stream"] == "alerts"
    assert run["items"] == ALERTS and run["pages"] == running.graph_pages(since)
    exported = read_export(running.blobs(EXPORT), "alerts", running.tenant)
    assert exported.duplicates == []
    assert missing_latest(exported, running.stack.sim.alerts(running.tenant), "alerts") == []

    # Sent again without a key once it is done: "export now" again, a new job that finds nothing new.
    running.stack.sim.update_alerts(running.tenant, count=5)
    again = running.post("export/alerts", headers=ASYNC)
    assert again.status_code == 202 and again.headers["Location"] != accepted.headers["Location"]
    (second,) = running.follow(again).json()["runs"]
    assert second["status"] == "ok" and second["items"] == 5
    assert read_export(running.blobs(EXPORT), "alerts", running.tenant).duplicates == []


def test_a_backfill_goes_the_same_way(running: Running):
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(days=2), now - timedelta(days=1)
    window = {"from": start.isoformat().replace("+00:00", "Z"), "to": end.isoformat().replace("+00:00", "Z")}
    expected = {a["id"] for a in running.stack.sim.alerts(running.tenant)
                if window["from"] <= a["lastUpdateDateTime"][:19] + "Z" < window["to"]}
    assert expected
    final = running.follow(running.post("export/alerts", window, ASYNC))
    assert final.status_code == 200, final.text
    (run,) = final.json()["runs"]
    assert run["status"] == "ok" and run["backfill"] and run["items"] == len(expected)


def test_the_same_request_twice_runs_once(running: Running):
    incidents = running.stack.sim.items(running.tenant, "incidents")
    quiet = running.quiet_host()
    try:
        first = running.post("export/incidents", headers=ASYNC, host=quiet)
        retry = running.post("export/incidents", headers=ASYNC, host=quiet)  # a Logic Apps retry, no key
        assert first.status_code == retry.status_code == 202
        assert retry.headers["Location"] == first.headers["Location"]
        assert running.queued_jobs() == 2  # a message per request, in case one was lost; the job runs once
    finally:
        quiet.stop()
    since = len(running.stack.sim.request_log)
    running.restart()
    done = running.follow(running.job(first))
    (run,) = done.json()["runs"]
    assert done.status_code == 200 and run["status"] == "ok" and run["items"] == len(incidents)
    assert running.host.drain()
    calls = [r for r in running.stack.sim.request_log[since:] if r.path.endswith("/security/incidents")]
    assert len(calls) == run["requests"] and run["engine_runs"] == 1

    # With an Idempotency-Key, any repeat joins the job, also once it is done: the stored answer, no Graph call.
    keyed = running.post("export/incidents", headers={**ASYNC, "Idempotency-Key": "run-7"})
    assert keyed.status_code == 202 and keyed.headers["Location"] != first.headers["Location"]
    answer = running.follow(keyed)
    assert answer.status_code == 200 and answer.json()["runs"][0]["status"] == "ok"
    since = len(running.stack.sim.request_log)
    repeat = running.post("export/incidents", headers={**ASYNC, "Idempotency-Key": "run-7"})
    assert repeat.status_code == 202 and repeat.headers["Location"] == keyed.headers["Location"]
    assert running.follow(repeat).json() == answer.json()
    assert running.host.drain()
    assert len(running.stack.sim.request_log) == since
    assert read_export(running.blobs(EXPORT), "incidents", running.tenant).duplicates == []


def test_a_stalled_job_is_not_joined(running: Running):
    """A job whose worker gave up (its message in the poison queue) stays unfinished; a later identical request
    without a key must not join it for ever."""
    quiet = running.quiet_host()
    try:
        first = running.post("export/incidents?tenant=" + running.tenant, headers=ASYNC, host=quiet)
        assert first.status_code == 202
        job_id = first.headers["Location"].rsplit("/", 1)[1]
        record = running.blobs(STATE).get_blob_client(f"jobs/{job_id}.json")
        job = json.loads(record.download_blob().readall())
        stalled_at = datetime.now(UTC) - timedelta(seconds=jobs.SERIES_STALL_SECONDS + 60)
        job.update(updated=stalled_at.strftime("%Y-%m-%dT%H:%M:%SZ"), last_error="RuntimeError: gave up")
        record.upload_blob(json.dumps(job), overwrite=True)  # as the worker's last save left it, long ago
        QueueClient.from_connection_string(running.stack.azurite.connection_string, JOB_QUEUE).clear_messages()
        assert running.queued_jobs() == 0  # its message is gone (to the poison queue, after 5 failed deliveries)
        again = running.post("export/incidents?tenant=" + running.tenant, headers=ASYNC, host=quiet)
        assert again.status_code == 202 and again.headers["Location"] != first.headers["Location"]
        retry = running.post("export/incidents?tenant=" + running.tenant, headers=ASYNC, host=quiet)
        assert retry.headers["Location"] == again.headers["Location"]  # the new job is joined as usual
    finally:
        quiet.stop()
        running.restart()
    assert running.follow(running.job(again)).status_code == 200


def test_a_job_survives_a_restart_of_the_host_mid_run(running: Running):
    tenant = running.tenant
    running.stack.sim.update_alerts(tenant, count=ALERTS)  # three pages of new versions
    quiet = running.quiet_host()
    try:
        accepted = running.post(f"export/alerts?tenant={tenant}", headers=ASYNC, host=quiet)
        assert accepted.status_code == 202
        job_id = accepted.headers["Location"].rsplit("/", 1)[1]
        # A worker gets through part of the run and stops (its invocation ends before the job does): Graph answers
        # slowly, so one second of work is one or two pages.
        running.stack.sim.set_faults(latency_ms=700, path="alerts_v2")
        settings = running.stack.settings(**running.env)
        since = len(running.stack.sim.request_log)
        assert jobs.work(settings, job_id, budget_seconds=1.0) is True
        before_restart = running.graph_pages(since)
        assert 1 <= before_restart < 3
        progress = requests.get(accepted.headers["Location"], headers={"x-functions-key": quiet.key}, timeout=60)
        assert progress.status_code == 202 and progress.json()["done"] == 0
    finally:
        running.stack.sim.clear_faults()
        quiet.stop()
    running.restart()  # the worker comes back and takes the job's message from the queue
    final = running.follow(running.job(accepted))
    assert final.status_code == 200, final.text
    (run,) = final.json()["runs"]
    assert run["status"] == "ok" and run["engine_runs"] >= 2
    print(f"\nrestart mid-run: {before_restart} of {run['pages']} pages before the restart, {run['engine_runs']} "
          "engine runs")
    assert run["items"] == ALERTS and run["pages"] == running.graph_pages(since)
    exported = read_export(running.blobs(EXPORT), "alerts", tenant)
    assert exported.duplicates == []
    assert missing_latest(exported, running.stack.sim.alerts(tenant), "alerts") == []


def test_a_job_survives_a_worker_killed_mid_run(running: Running, tmp_path):
    """A host process killed (SIGKILL) while its worker is inside an engine run: the job's message comes back when
    its in-flight visibility ends (the Functions host: minutes; here just past the 60 s leases the dead worker held),
    and the next worker finishes the export, every alert once."""
    tenant = running.tenant
    running.stack.sim.update_alerts(tenant, count=ALERTS)  # three pages of new versions
    running.host.stop()  # only the doomed host works on the job
    env = {**running.env, "REQUESTS_CA_BUNDLE": os.environ["REQUESTS_CA_BUNDLE"]}
    key = secrets.token_urlsafe(16)
    visibility = LEASE_SECONDS + 10
    since = len(running.stack.sim.request_log)
    running.stack.sim.set_faults(latency_ms=700, path="alerts_v2")  # slow pages: the kill lands mid-run
    with (tmp_path / "host.log").open("w") as log:
        doomed = subprocess.Popen([sys.executable, "-m", "tests.integration.job_host", json.dumps(env), key,
                                   str(visibility)], cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        base_url = doomed.stdout.readline().strip()
        assert base_url.startswith("http://"), (tmp_path / "host.log").read_text()[-2000:]
        accepted = requests.post(f"{base_url}/export/alerts?tenant={tenant}", timeout=60,
                                 headers={"x-functions-key": key, **ASYNC})
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + 60
        while running.graph_pages(since) < 2:  # the first page is written and checkpointed, the second on its way
            assert time.monotonic() < deadline, (tmp_path / "host.log").read_text()[-2000:]
            time.sleep(0.05)
    finally:
        doomed.kill()
        doomed.wait(30)
        running.stack.sim.clear_faults()
    cut_off_after = running.graph_pages(since)
    assert 2 <= cut_off_after < 4
    running.restart()
    final = running.follow(running.job(accepted), timeout=visibility + 120)
    assert final.status_code == 200, final.text
    (run,) = final.json()["runs"]
    assert run["status"] == "ok", run
    # The killed run's pages stay exported and are not read again: the summary (the runs whose results the job
    # saved) counts only the rest.
    assert ALERTS - 2000 <= run["items"] <= ALERTS - 1000
    exported = read_export(running.blobs(EXPORT), "alerts", tenant)
    assert exported.duplicates == []
    assert missing_latest(exported, running.stack.sim.alerts(tenant), "alerts") == []
    print(f"\nworker killed after {cut_off_after} page request(s); the job finished after the restart with "
          f"{run['items']} items in {run['engine_runs']} engine run(s)")


def test_a_busy_stream_is_reported_not_hidden(running: Running):
    tenant = running.tenant
    held = RunLease(running.blobs(STATE), f"locks/alerts/{tenant}").acquire()  # another run of the stream
    try:
        final = running.follow(running.post(f"export/alerts?tenant={tenant}", headers=ASYNC))
    finally:
        held.release()
    assert final.status_code == 409, final.text
    (run,) = final.json()["runs"]
    assert run["status"] == "skipped" and "lease" in run["error"] and run["items"] == 0
