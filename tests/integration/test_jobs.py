"""Asynchronous bulk requests end to end: the dev host serves the app and runs its queue-triggered job worker on the
real Azurite queue, against the Graph simulator. A Logic App's HTTP action is imitated: send, get 202, follow
Location until the answer comes.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from azure.storage.blob import BlobServiceClient

import function_app
from local.devhost import DevHost
from local.graphsim import SimConfig
from local.stack import LocalStack
from shared.actions import jobs
from shared.actions.caller import key_fingerprint
from shared.actions.jobs import SLICE_IDS
from tests.integration.conftest import follow_async

AUDIT = "audit-jobs-it"
ASYNC = {"Prefer": "respond-async"}


@dataclass
class Running:
    stack: LocalStack
    env: dict[str, str]
    host: DevHost
    tenant: str
    pool: list[str]

    def call(self, method: str, path: str, body=None, headers=None) -> requests.Response:
        return requests.request(method, self.host.url(path), json=body, timeout=120,
                                headers={"x-functions-key": self.host.key, **(headers or {})})

    def take(self, n: int) -> list[str]:
        chosen, self.pool[:] = self.pool[:n], self.pool[n:]
        assert len(chosen) == n
        return chosen

    def follow(self, response: requests.Response, timeout: float = 180) -> requests.Response:
        return follow_async(response, self.host.key, timeout=timeout, retry_after=jobs.POLL_SECONDS)

    def batch_calls(self, since: int) -> int:
        return sum(1 for r in self.stack.sim.request_log[since:] if r.path.endswith("/$batch") and not r.in_batch)

    def audit_lines(self, operation: str) -> list[dict]:
        service = BlobServiceClient.from_connection_string(self.stack.azurite.connection_string)
        container = service.get_container_client(AUDIT)
        lines = []
        for blob in container.list_blobs(name_starts_with="audit/"):
            data = container.download_blob(blob.name).readall().decode()
            lines += [json.loads(line) for line in data.splitlines() if line]
        return [line for line in lines if line.get("operation") == operation]


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    with LocalStack(SimConfig(alerts=3700, throttle=False, seed=41, evidence_kb=0.2)) as stack:
        assert stack.sim is not None
        env = stack.env(AUDIT_CONTAINER=AUDIT, GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000",
                        GRAPH_MAX_RETRY_WAIT_SECONDS="2")
        pool = sorted(a["id"] for a in stack.sim.alerts(stack.sim.tenants[0]))
        # Not `serving`: a test replaces the host (a worker that comes back), and the one running at the end is stopped.
        run = Running(stack, env, DevHost(function_app.app, env).start(), stack.sim.tenants[0], pool)
        try:
            yield run
        finally:
            run.host.stop()
        assert run.host.errors == [], [e.traceback for e in run.host.errors]


def test_a_bulk_resolve_of_3000_alerts_completes_through_the_async_pattern(running: Running):
    ids = running.take(3000)
    since = len(running.stack.sim.request_log)
    started = time.monotonic()
    body = {"ids": ids, "changes": {"status": "resolved"}}
    accepted = running.call("POST", "alerts/bulk-update", body, ASYNC)
    assert accepted.status_code == 202, accepted.text
    assert accepted.elapsed.total_seconds() < 5
    assert accepted.json()["requested"] == 3000 and accepted.json()["status"] == "running"
    location = accepted.headers["Location"]
    assert location.startswith(running.host.url("jobs/"))
    final = running.follow(accepted)
    seconds = time.monotonic() - started
    assert final.status_code == 200, final.text
    result = final.json()
    assert result["summary"] == {"requested": 3000, "updated": 3000, "notFound": 0, "failed": 0, "notAttempted": 0}
    assert Counter(r["id"] for r in result["results"]) == Counter(ids)
    statuses = {a["id"]: a["status"] for a in running.stack.sim.alerts(running.tenant)}
    assert {statuses[i] for i in ids} == {"resolved"}
    assert running.batch_calls(since) == 3000 // 20  # no retries were needed: exactly one $batch per 20 ids
    chosen = set(ids)
    audited = [line for line in running.audit_lines("BulkUpdateAlerts") if line["target"]["id"] in chosen]
    assert Counter(line["target"]["id"] for line in audited) == Counter(ids)  # one audit line per change
    assert {line["caller"]["functionKeySha256"] for line in audited} == {key_fingerprint(running.host.key)}
    print(f"\n3000 alerts resolved through the async pattern in {seconds:.1f} s")

    # The same request again (a retry) joins the finished job: same Location, stored answer, no Graph call.
    since = len(running.stack.sim.request_log)
    again = running.call("POST", "alerts/bulk-update", body, ASYNC)
    assert again.status_code == 202 and again.headers["Location"] == location
    assert running.follow(again).json() == result
    assert len(running.stack.sim.request_log) == since


def test_a_job_survives_a_worker_that_dies(running: Running):
    ids = running.take(3 * SLICE_IDS)
    running.host.stop()  # the queue message waits in Azurite while no worker runs
    quiet = DevHost(function_app.app, running.env, run_queue_triggers=False).start()
    try:
        def send() -> requests.Response:
            return requests.post(quiet.url("alerts/bulk-update"), timeout=60,
                                 json={"ids": ids, "changes": {"status": "inProgress"}},
                                 headers={"x-functions-key": quiet.key, **ASYNC})

        accepted = send()
        assert accepted.status_code == 202
        # A retry of the running request joins the job (and queues a second message, in case the first was lost).
        repeat = send()
        assert repeat.status_code == 202 and repeat.headers["Location"] == accepted.headers["Location"]
        job_id = accepted.headers["Location"].rsplit("/", 1)[1]
        # A worker that gets through one slice and dies: its progress is in the job blob.
        settings = running.stack.settings(AUDIT_CONTAINER=AUDIT, GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000")
        ticks = iter([0.0, 0.0, 0.0, 1e9, 1e9])
        assert jobs.work(settings, job_id, budget_seconds=10, clock=lambda: next(ticks)) is True
        progress = requests.get(accepted.headers["Location"], headers={"x-functions-key": quiet.key}, timeout=60)
        assert progress.status_code == 202 and progress.json()["done"] == SLICE_IDS
    finally:
        quiet.stop()
    since = len(running.stack.sim.request_log)
    running.host = DevHost(function_app.app, running.env).start()  # the worker comes back and takes the message
    location = running.host.url(f"jobs/{job_id}")
    final = running.follow(requests.get(location, headers={"x-functions-key": running.host.key}, timeout=60))
    assert final.status_code == 200 and final.json()["summary"]["updated"] == 3 * SLICE_IDS
    # Only the two slices left were sent to Graph after the restart, once, whatever the two messages did.
    assert running.batch_calls(since) == 2 * SLICE_IDS // 20
    assert running.host.drain()
    assert running.batch_calls(since) == 2 * SLICE_IDS // 20


def test_small_requests_answer_at_once_and_job_ids_are_checked(running: Running):
    ids = running.take(20)
    response = running.call("POST", "alerts/bulk-update", {"ids": ids, "changes": {"status": "resolved"}}, ASYNC)
    assert response.status_code == 200 and response.json()["summary"]["updated"] == 20
    too_many = running.call("POST", "alerts/bulk-update", {"ids": [f"a{i}" for i in range(jobs.MAX_ASYNC_IDS + 1)],
                                                           "changes": {"status": "resolved"}}, ASYNC)
    assert too_many.status_code == 400 and too_many.json()["title"] == "Too many ids"
    assert running.call("GET", "jobs/not-a-job").status_code == 400
    missing = running.call("GET", "jobs/" + "0" * 32)
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/problem+json"



def test_a_damaged_job_record_is_named_and_left_as_it_is(running: Running):
    from shared.settings import load_settings

    state = BlobServiceClient.from_connection_string(running.stack.azurite.connection_string).get_container_client(
        load_settings(running.env).state_container)
    job_id = "d" * 32
    state.upload_blob(f"jobs/{job_id}.json", b'{"id": "' + job_id.encode() + b'"}', overwrite=True)  # fields missing
    response = running.call("GET", f"jobs/{job_id}")
    assert response.status_code == 500 and response.json()["title"] == "Stored record damaged"
    assert f"jobs/{job_id}.json" in response.json()["detail"]
    assert state.download_blob(f"jobs/{job_id}.json").readall() == b'{"id": "' + job_id.encode() + b'"}'
