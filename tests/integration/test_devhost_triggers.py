"""The dev host's non-HTTP triggers against the real Azurite: HTTP -> queue output binding -> queue trigger, batches
in parallel, retries and the poison queue as the Functions host does them, drain(), timers and the admin API."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
import uuid

import azure.functions as func
import pytest
import requests
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient

from local.devhost import HOST_JSON, DevHost, QueueSettings, queue_settings, timespan_seconds

# --- a small app: an HTTP function that enqueues, a queue function that records (and fails on demand) and forwards
# to a second, async, queue function, and a timer

trig = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

_lock = threading.Lock()
RECEIVED: list[dict] = []  # {"function", "message", "payload"} per run of a queue function
TIMER_RUNS: list[func.TimerRequest] = []
STATE: dict = {}


@pytest.fixture(autouse=True)
def fresh_state():
    RECEIVED.clear()
    TIMER_RUNS.clear()
    STATE.clear()
    STATE.update(running=0, peak=0, barrier=None, timer_error=None)


@trig.route(route="send", methods=["POST"])
@trig.queue_output(arg_name="msg", queue_name="%TEST_QUEUE%", connection="TEST_STORAGE")
def send(req: func.HttpRequest, msg: func.Out[list[str]]) -> func.HttpResponse:
    items = req.get_json()
    msg.set([json.dumps(item) for item in items] if isinstance(items, list) else json.dumps(items))
    return func.HttpResponse(status_code=202)


@trig.queue_trigger(arg_name="message", queue_name="%TEST_QUEUE%", connection="TEST_STORAGE")
@trig.queue_output(arg_name="forward", queue_name="%TEST_CHAIN%", connection="TEST_STORAGE")
def work(message: func.QueueMessage, forward: func.Out[str], context: func.Context) -> None:
    """The payload says what to do: {"fail": n} fails the first n attempts, "barrier", "sleep", "forward"."""
    payload = json.loads(message.get_body())
    with _lock:
        RECEIVED.append({"function": context.function_name, "message": message, "payload": payload})
        STATE["running"] += 1
        STATE["peak"] = max(STATE["peak"], STATE["running"])
    try:
        if payload.get("barrier"):
            STATE["barrier"].wait(timeout=5)
        time.sleep(payload.get("sleep", 0))
        if message.dequeue_count <= payload.get("fail", -1):
            raise RuntimeError(f"failing {payload['id']} on attempt {message.dequeue_count}")
        if "forward" in payload:
            forward.set(payload["forward"])
    finally:
        with _lock:
            STATE["running"] -= 1


@trig.queue_trigger(arg_name="message", queue_name="%TEST_CHAIN%", connection="TEST_STORAGE")
async def chained(message: func.QueueMessage) -> None:
    await asyncio.sleep(0)
    with _lock:
        RECEIVED.append({"function": "chained", "message": message, "payload": message.get_body().decode()})


@trig.timer_trigger(arg_name="timer", schedule="0 0 3 * * *", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    TIMER_RUNS.append(timer)
    if STATE["timer_error"] is not None:
        raise STATE["timer_error"]


@trig.timer_trigger(arg_name="timer", schedule="0 0 4 * * *")
@trig.queue_output(arg_name="$return", queue_name="%TEST_CHAIN%", connection="TEST_STORAGE")
def tock(timer: func.TimerRequest) -> str:
    return f"from tock, past due {timer.past_due}"


def runs(function: str = "work") -> list[dict]:
    return [r for r in RECEIVED if r["function"] == function]


# --- hosts on queues of their own


@pytest.fixture
def make_host(azurite):
    """DevHost factories (not started) on fresh queues, failed messages visible again at once unless told; stopped
    and their queues deleted at the end."""
    hosts: list[DevHost] = []

    def make(**kwargs) -> DevHost:
        tag = uuid.uuid4().hex[:12]
        env = {"TEST_QUEUE": f"t-{tag}", "TEST_CHAIN": f"t-{tag}-chain", "TEST_STORAGE": azurite.connection_string}
        kwargs.setdefault("visibility_timeout_override", 0)
        host = DevHost(trig, env, {"default": "fk"}, master_key="mk", **kwargs)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.stop()
        for name in (host.env["TEST_QUEUE"], host.env["TEST_CHAIN"]):
            for queue in (name, f"{name}-poison"):
                with contextlib.suppress(ResourceNotFoundError):
                    QueueClient.from_connection_string(azurite.connection_string, queue).delete_queue()


def queue(host: DevHost, suffix: str = "", setting: str = "TEST_QUEUE") -> QueueClient:
    return QueueClient.from_connection_string(host.env["TEST_STORAGE"], host.env[setting] + suffix)


def messages_in(client: QueueClient) -> int:
    try:
        return client.get_queue_properties().approximate_message_count
    except ResourceNotFoundError:
        return 0


def enqueue(client: QueueClient, payloads: list[dict]) -> None:
    """Messages as the host's default base64 encoding has them, put there before a host polls."""
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    for payload in payloads:
        client.send_message(base64.b64encode(json.dumps(payload).encode()).decode())


def post_send(host: DevHost, payload: object) -> None:
    response = requests.post(f"{host.base_url}/send", json=payload, headers={"x-functions-key": "fk"}, timeout=10)
    assert response.status_code == 202


# --- queue triggers


def test_http_to_queue_to_trigger_end_to_end(make_host):
    host = make_host().start()
    assert host.queue_triggers == {"work": host.env["TEST_QUEUE"], "chained": host.env["TEST_CHAIN"]}
    payload = {"id": "a", "text": "héllo", "forward": "next step"}
    post_send(host, payload)
    assert host.drain(10)

    [run] = runs()
    message = run["message"]
    assert isinstance(message, QueueMessage) and isinstance(message, func.QueueMessage)
    assert message.get_body() == json.dumps(payload).encode() and run["payload"] == payload
    assert message.dequeue_count == 1 and message.id and message.pop_receipt
    assert message.insertion_time <= message.time_next_visible and message.insertion_time < message.expiration_time
    # The queue function's output binding reached the async queue function.
    [forwarded] = runs("chained")
    assert forwarded["payload"] == "next step" and forwarded["message"].dequeue_count == 1

    records = [(i.function_name, i.trigger, i.ok, i.dequeue_count) for i in host.invocations]
    assert sorted(records, key=str) == sorted([("send", "http", True, None), ("work", "queue", True, 1),
                                               ("chained", "queue", True, 1)], key=str)
    assert all(i.duration_s >= 0 for i in host.invocations)
    assert messages_in(queue(host)) == 0 and messages_in(queue(host, setting="TEST_CHAIN")) == 0
    assert not host.errors


def test_a_batch_runs_in_parallel(make_host):
    host = make_host()  # repo host.json: batchSize 8, so newBatchThreshold 4
    STATE["barrier"] = threading.Barrier(8)  # passes only if all 8 run at once
    enqueue(queue(host), [{"id": i, "barrier": True} for i in range(8)])
    host.start()
    assert host.drain(15)
    assert STATE["peak"] == 8 and len(runs()) == 8
    assert all(i.ok for i in host.invocations) and not host.errors


def test_no_more_than_a_batch_and_the_threshold_run_at_once(make_host):
    host = make_host()
    enqueue(queue(host), [{"id": i, "sleep": 0.1} for i in range(30)])
    host.start()
    assert host.drain(15)
    assert sorted(r["payload"]["id"] for r in runs()) == list(range(30))
    assert 8 <= STATE["peak"] <= 8 + 4


def test_a_failure_is_retried_and_succeeds_on_the_second_attempt(make_host):
    host = make_host().start()
    post_send(host, {"id": "r", "fail": 1})
    assert host.drain(10)
    assert [r["message"].dequeue_count for r in runs()] == [1, 2]
    assert [(i.ok, i.dequeue_count, i.error) for i in host.invocations if i.function_name == "work"] == [
        (False, 1, "RuntimeError: failing r on attempt 1"), (True, 2, None)]
    [error] = host.errors
    assert error.function_name == "work" and "failing r on attempt 1" in error.traceback
    assert messages_in(queue(host, "-poison")) == 0
    host.errors.clear()


def test_a_message_failing_max_dequeue_count_times_goes_to_the_poison_queue(make_host):
    host = make_host().start()
    payload = {"id": "p", "fail": 99}
    post_send(host, [payload, {"id": "fine"}])
    assert host.drain(15)
    assert [r["message"].dequeue_count for r in runs() if r["payload"]["id"] == "p"] == [1, 2, 3, 4, 5]
    assert [r["message"].dequeue_count for r in runs() if r["payload"]["id"] == "fine"] == [1]
    [poisoned] = queue(host, "-poison").receive_messages()
    assert poisoned.content == base64.b64encode(json.dumps(payload).encode()).decode()  # unchanged
    assert messages_in(queue(host)) == 0
    assert len(host.errors) == 5
    host.errors.clear()


def test_an_undecodable_message_goes_to_the_poison_queue_unrun(make_host):
    host = make_host()
    client = queue(host)
    client.create_queue()
    client.send_message("not base64!")
    host.start()
    assert host.drain(10)
    assert runs() == [] and [m.content for m in queue(host, "-poison").receive_messages()] == ["not base64!"]
    assert len(host.errors) == 1
    host.errors.clear()


def test_drain_waits_for_running_and_invisible_messages(make_host):
    host = make_host(visibility_timeout_override=1).start()
    started = time.monotonic()
    assert host.drain(5) and time.monotonic() - started < 1  # idle: at once

    post_send(host, {"id": "slow", "sleep": 0.6})
    assert not host.drain(timeout=0.2)
    assert host.drain(10) and len(runs()) == 1

    # The failed message is invisible for a second while nothing runs: drain still waits for its retry.
    post_send(host, {"id": "again", "fail": 1})
    started = time.monotonic()
    assert host.drain(10)
    assert time.monotonic() - started >= 0.9
    assert [r["message"].dequeue_count for r in runs() if r["payload"]["id"] == "again"] == [1, 2]
    host.errors.clear()


def test_host_json_queue_settings(make_host, tmp_path):
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"queues": {
        "maxDequeueCount": 2, "visibilityTimeout": "00:00:01", "messageEncoding": "none", "batchSize": 2}}}))
    host = make_host(host_json=tmp_path / "host.json", visibility_timeout_override=None)
    assert host.queue_settings == QueueSettings(batch_size=2, new_batch_threshold=1, max_dequeue_count=2,
                                                visibility_timeout=1.0, message_encoding="none")
    host.start()
    payload = {"id": "h", "fail": 99}
    post_send(host, payload)
    assert host.drain(10)
    attempts = [i for i in host.invocations if i.function_name == "work"]
    assert [i.dequeue_count for i in attempts] == [1, 2]
    assert (attempts[1].started - attempts[0].started).total_seconds() >= 0.9  # visibilityTimeout
    [poisoned] = queue(host, "-poison").receive_messages()
    assert poisoned.content == json.dumps(payload)  # messageEncoding none: plain text, both ways
    host.errors.clear()


def test_queue_settings_defaults_and_timespans(tmp_path):
    assert queue_settings(tmp_path / "missing.json") == QueueSettings()
    assert queue_settings(HOST_JSON) == QueueSettings(batch_size=8, new_batch_threshold=4, max_dequeue_count=5,
                                                      visibility_timeout=30.0)
    assert timespan_seconds("00:00:30") == 30 and timespan_seconds("1.02:03:04.5") == 93784.5
    with pytest.raises(ValueError):
        timespan_seconds("30s")


def test_queue_triggers_can_be_left_off(make_host):
    host = make_host(run_queue_triggers=False).start()
    post_send(host, {"id": "stays"})
    time.sleep(0.3)
    assert host.queue_triggers == {} and runs() == [] and messages_in(queue(host)) == 1
    assert host.drain(2)  # nothing running; the queues are not the dev host's to empty


def test_a_listener_that_cannot_start_is_an_error(make_host, monkeypatch):
    monkeypatch.delenv("NOT_A_SETTING", raising=False)
    broken = func.FunctionApp()

    @broken.queue_trigger(arg_name="message", queue_name="q", connection="NOT_A_SETTING")
    def orphan(message: func.QueueMessage) -> None:
        raise AssertionError("never runs")

    with DevHost(broken, {}) as host:
        assert host.queue_triggers == {}
        [error] = host.errors
        assert error.function_name == "orphan" and "NOT_A_SETTING" in str(error.exception)


# --- timers


def test_run_timer(make_host):
    host = make_host()
    with pytest.raises(RuntimeError):
        host.run_timer("tick")  # not started
    host.start()
    host.run_timer("tick", past_due=True)
    host.run_timer("tick")
    assert [type(t) for t in TIMER_RUNS] == [TimerRequest, TimerRequest]
    assert [t.past_due for t in TIMER_RUNS] == [True, False] and isinstance(TIMER_RUNS[0], func.TimerRequest)

    STATE["timer_error"] = RuntimeError("tock")
    with pytest.raises(RuntimeError, match="tock"):
        host.run_timer("tick")
    assert [(i.function_name, i.trigger, i.ok, i.error) for i in host.invocations] == [
        ("tick", "timer", True, None), ("tick", "timer", True, None), ("tick", "timer", False, "RuntimeError: tock")]
    assert not host.errors  # raised to the caller, not kept

    # Output bindings work for timers too, $return included: the message reaches the chained queue function.
    host.run_timer("tock", past_due=True)
    assert host.drain(10)
    assert [r["payload"] for r in runs("chained")] == ["from tock, past due True"]
    with pytest.raises(ValueError):
        host.run_timer("work")
    with pytest.raises(KeyError):
        host.run_timer("nope")


# --- the admin API


def test_admin_api_invokes_timer_and_queue_functions(make_host):
    host = make_host().start()

    def admin(name: str, key: str | None = "mk", **kwargs) -> requests.Response:
        kwargs.setdefault("json", {"input": ""})
        headers = {"x-functions-key": key} if key else {}
        return requests.post(f"{host.root_url}/admin/functions/{name}", headers=headers, timeout=10, **kwargs)

    response = admin("tick")
    assert response.status_code == 202 and response.content == b""
    assert host.drain(10)
    assert [t.past_due for t in TIMER_RUNS] == [False]

    # A queue function gets the input as the message body, directly (not through the queue), as on the host.
    body = json.dumps({"id": "adm"})
    assert admin("work", json={"input": body}).status_code == 202
    assert host.drain(10)
    [run] = runs()
    assert run["message"].get_body() == body.encode() and run["message"].dequeue_count == 0
    assert [(i.function_name, i.trigger, i.ok) for i in host.invocations] == [
        ("tick", "admin", True), ("work", "admin", True)]

    # A failure in the background is logged and kept.
    STATE["timer_error"] = RuntimeError("admin tock")
    assert admin("tick").status_code == 202
    assert host.drain(10)
    assert [e.function_name for e in host.errors] == ["tick"] and not host.invocations[-1].ok
    host.errors.clear()

    for key in ("fk", None, "wrong"):
        response = admin("tick", key=key)
        assert response.status_code == 401 and response.content == b""
    assert admin("nope", key="fk").status_code == 401  # the key is checked first
    response = admin("nope")
    assert response.status_code == 404 and response.content == b""
    assert admin("TICK").status_code == 202  # function names are case-insensitive
    assert admin("tick", json=None, data=b"not json").status_code == 400
    assert admin("send").status_code == 400  # HTTP functions are called through their route
    assert requests.post(f"{host.root_url}/admin/functions/tick?code=mk", json={}, timeout=10).status_code == 202
    assert requests.get(f"{host.root_url}/admin/functions/tick?code=mk", timeout=10).status_code == 404
    assert host.drain(10) and len(TIMER_RUNS) == 4
    host.errors.clear()
