"""The dev host: invocations of HTTP, queue and timer functions, as the Functions host runs them."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import re
import secrets
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from local.connections import QueueConnection, queue_connection
from local.devhost.app import HttpRoute, TriggerFunction, http_routes, overlapping_routes, trigger_functions
from local.devhost.bindings import Out, OutputHandler, QueueOutput, app_settings, decode_message, queue_name
from local.devhost.hostjson import HOST_JSON, queue_settings, route_prefix
from shared.runtime import Runtime, install

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
# How long a message being processed stays invisible to other pollers. The host uses 10 minutes and renews it; a
# dev host's functions are short, so a fixed 5 minutes without renewal is enough.
IN_FLIGHT_VISIBILITY_S = 300
# An empty queue is polled less and less often, as the host does (its queue trigger backs off exponentially up to
# maxPollingInterval, one minute by default, and wakes at once for messages the same host enqueued). The dev host
# stops at one second, so that tests stay quick. Polling every empty queue at a fixed 0.05-0.1 s cost Azurite, which
# serves every worker process alone, 20 calls a second per queue and process: 480 a second for eight processes of
# three queue functions, more than the export itself asks of it.
MAX_IDLE_POLL_S = 1.0




@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class InvocationError:
    function_name: str
    exception: BaseException
    traceback: str


@dataclass(frozen=True)
class Invocation:
    """One run of a function, whatever triggered it."""

    function_name: str
    trigger: str  # http | queue | timer | admin (the admin API)
    started: datetime  # UTC
    duration_s: float
    ok: bool
    error: str | None = None  # "Type: message" of the exception when not ok
    dequeue_count: int | None = None  # queue messages only


class _Context:
    """The `context` argument a function may declare."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_directory = function_directory
        self.trace_context = None
        self.retry_context = None
        self.thread_local_storage = threading.local()


@dataclass
class _QueueListener:
    """The poller of one queue-triggered function and the workers that run its messages."""

    function: TriggerFunction
    queue_name: str
    connection: QueueConnection
    client: Any  # azure.storage.queue.QueueClient
    pool: ThreadPoolExecutor
    thread: threading.Thread | None = None
    in_flight: int = 0  # messages received and not settled yet (guarded by DevHost._state)
    poison: Any = None  # the QueueClient of <queue>-poison, made when first needed
    poison_lock: threading.Lock = field(default_factory=threading.Lock)


class DevHost:
    def __init__(
        self,
        app: func.FunctionApp,
        env: Mapping[str, str] | None = None,
        function_keys: Mapping[str, str] | None = None,
        *,
        master_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        host_json: Path = HOST_JSON,
        output_handlers: Mapping[str, OutputHandler] | None = None,
        run_queue_triggers: bool = True,
        queue_poll_interval: float = 0.1,
        visibility_timeout_override: float | None = None,
        in_flight_visibility: int = IN_FLIGHT_VISIBILITY_S,
    ) -> None:
        self.app = app
        self.env = dict(env or {})
        self.function_keys = dict(function_keys) if function_keys is not None else {
            "default": secrets.token_urlsafe(32)
        }
        self.master_key = master_key or secrets.token_urlsafe(32)
        self.host = host
        self.port = port
        self.prefix = route_prefix(host_json)
        self.queue_settings = queue_settings(host_json)
        self.output_handlers: dict[str, OutputHandler] = {"queue": QueueOutput(self.queue_settings.message_encoding)}
        self.output_handlers.update(output_handlers or {})
        self.run_queue_triggers = run_queue_triggers
        self.queue_poll_interval = queue_poll_interval
        self.visibility_timeout_override = visibility_timeout_override
        self.in_flight_visibility = in_flight_visibility  # how long a received message stays invisible
        self.routes: list[HttpRoute] = []
        self.trigger_functions: dict[str, TriggerFunction] = {}
        self.errors: list[InvocationError] = []
        self.invocations: list[Invocation] = []  # appended under _state; copy it (list(...)) to read while running
        self.root_url = ""
        self.base_url = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._previous_runtime: Runtime | None = None
        self._listeners: list[_QueueListener] = []
        self._background: ThreadPoolExecutor | None = None  # admin API invocations
        self._stopping = threading.Event()
        # Guards the counters below and `invocations`; notified whenever something starts or finishes, which is
        # what drain() and the pollers (waiting for room for the next batch) wait for.
        self._state = threading.Condition()
        self._in_flight = 0  # invocations running + queue messages received and not settled
        self._activity = 0  # bumped on every start and end: drain() sees whether anything happened while it looked

    @property
    def key(self) -> str:
        """A function key (the first one), for callers."""
        return next(iter(self.function_keys.values()), self.master_key)

    @property
    def queue_triggers(self) -> dict[str, str]:
        """Function name -> the queue its running poller listens on."""
        return {listener.function.function_name: listener.queue_name for listener in self._listeners}

    # --- lifecycle

    def start(self) -> DevHost:
        if self._server is not None:
            return self
        self.routes = http_routes(self.app)
        for first, second in overlapping_routes(self.routes):
            log.warning("Routes %r (%s) and %r (%s) may both match one request: the dev host serves the more "
                        "specific one, the Functions host may serve the one registered first",
                        first.template.template, first.function_name, second.template.template, second.function_name)
        self.trigger_functions = {f.function_name: f for f in trigger_functions(self.app)}
        for route in self.routes:
            self._warn_unsupported(route.function_name, route.inputs, route.outputs)
        for function in self.trigger_functions.values():
            returns = [function.return_binding] if function.return_binding else []
            self._warn_unsupported(function.function_name, function.inputs, function.outputs + returns)
        self._install_runtime()
        from local.devhost.server import RequestHandler  # (server.py imports this module)

        server = ThreadingHTTPServer((self.host, self.port), RequestHandler)
        server.daemon_threads = True
        server.devhost = self  # type: ignore[attr-defined]
        self._server = server
        shown_host = self.host if ":" not in self.host else f"[{self.host}]"
        self.root_url = f"http://{shown_host}:{server.server_port}"
        self.base_url = f"{self.root_url}/{self.prefix}" if self.prefix else self.root_url
        self._stopping.clear()
        self._background = ThreadPoolExecutor(max_workers=8, thread_name_prefix="devhost-admin")
        for function in self.trigger_functions.values():
            if function.trigger_type == "queueTrigger":
                if self.run_queue_triggers:
                    self._start_listener(function)
            elif function.trigger_type != "timerTrigger":
                log.warning("Dev host: %s triggers (%s) are not run by the dev host", function.trigger_type,
                            function.function_name)
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"devhost:{server.server_port}", daemon=True)
        self._thread.start()
        return self

    def _warn_unsupported(self, name: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for binding in inputs:
            log.warning("Dev host: input binding %s (%s) of %s is not supported", binding.get("name"),
                        binding.get("type"), name)
        for binding in outputs:
            if binding.get("type") not in self.output_handlers:
                log.warning("Dev host: no output handler for %s binding %s of %s", binding.get("type"),
                            binding.get("name"), name)

    def stop(self) -> None:
        """Stop serving and polling, let what is running finish (as the host does on shutdown), restore the env."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        self._stopping.set()
        with self._state:
            self._state.notify_all()
        for listener in self._listeners:
            if listener.thread is not None:
                listener.thread.join(timeout=10)
            listener.pool.shutdown(wait=True)
        self._listeners.clear()
        background, self._background = self._background, None
        if background is not None:
            background.shutdown(wait=True)
        self._restore_runtime()

    def __enter__(self) -> DevHost:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _install_runtime(self) -> None:
        # The app reads its settings from its runtime: the host's process environment overlaid by this host's own
        # settings, as Azure gives a function app its app settings as environment variables.
        self._previous_runtime = install(Runtime(app_settings(self.env)))

    def _restore_runtime(self) -> None:
        install(self._previous_runtime)
        self._previous_runtime = None

    # --- requests

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def dispatch(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        """Serve one request (also usable without sockets). `target` is the request target (path and query)."""
        parts = urlsplit(target)
        header_map: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            # The host hands a repeated header over as one value joined with "," (ASP.NET Core StringValues).
            header_map[key] = f"{header_map[key]},{value}" if key in header_map else value
        query: dict[str, str] = {}
        # The host drops query parameters whose value is empty (`?validationToken=` arrives without the key).
        for name, value in parse_qsl(parts.query, keep_blank_values=False):
            query[name] = f"{query[name]},{value}" if name in query else value
        segments = parts.path.split("/")[1:]
        # The host reserves admin/ ahead of the route prefix (which may be empty).
        if len(segments) == 3 and [s.lower() for s in segments[:2]] == ["admin", "functions"] and segments[2]:
            if method.upper() != "POST":
                return Answer(404, [], b"")
            return self._admin_invoke(unquote(segments[2]), header_map, query, body)
        if self.prefix:
            prefix = self.prefix.split("/")
            if [s.lower() for s in segments[: len(prefix)]] != [p.lower() for p in prefix]:
                return Answer(404, [], b"")
            segments = segments[len(prefix):]
        if segments and segments[-1] == "" and len(segments) > 1:
            segments = segments[:-1]  # one trailing slash
        if segments == [""]:
            segments = []
        # Percent-decode each segment, but keep an encoded slash encoded (ASP.NET Core does the same).
        segments = [unquote(re.sub("%2[fF]", "%252F", s)) for s in segments]

        matched = None
        for route in self.routes:
            values = route.template.match(segments)
            if values is not None and (route.methods is None or method.upper() in route.methods):
                matched = (route, values)
                break
        if matched is None:
            return Answer(404, [], b"")
        route, values = matched
        if not self._authorized(route.auth_level, header_map, query):
            return Answer(401, [], b"")
        url = f"{self.root_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        request = func.HttpRequest(method=method.upper(), url=url, headers=header_map, params=query,
                                   route_params=values, body=body)
        return self._invoke(route, request)

    def _authorized(self, level: str, headers: dict[str, str], query: dict[str, str]) -> bool:
        if level == "anonymous":
            return True
        given = headers.get("x-functions-key") or query.get("code")
        if not given:
            return False
        if secrets.compare_digest(given.encode(), self.master_key.encode()):
            return True
        if level == "admin":
            return False
        return any(secrets.compare_digest(given.encode(), key.encode()) for key in self.function_keys.values())

    def _invoke(self, route: HttpRoute, request: func.HttpRequest) -> Answer:
        try:
            answer: Answer = self._execute(route.function_name, "http", route.user_function,
                                           {route.trigger_name: request}, route.outputs, convert=_http_answer)
            return answer
        except Exception as exc:
            self._record_failure(route.function_name, exc)
            return Answer(500, [], b"")

    # --- invocations

    def _execute(
        self,
        function_name: str,
        trigger: str,
        user_function: Callable[..., Any],
        arguments: dict[str, Any],
        outputs: list[dict[str, Any]],
        return_binding: dict[str, Any] | None = None,
        *,
        dequeue_count: int | None = None,
        convert: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Run one invocation: the function (sync or async), then its output bindings; record it in `invocations`.

        Raises what the function (or an output handler, or `convert`) raised: each caller settles failures as the
        host does for its trigger."""
        outs = {b["name"]: Out() for b in outputs}
        kwargs: dict[str, Any] = {**arguments, **outs}
        started, clock = datetime.now(UTC), time.monotonic()
        ok, error = False, None
        self._begin()
        try:
            if "context" in inspect.signature(user_function).parameters and "context" not in kwargs:
                kwargs["context"] = _Context(function_name, str(REPO))
            result = user_function(**kwargs)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            for binding in outputs:
                out = outs[binding["name"]]
                if not out.is_set:
                    continue
                if binding.get("type") == "http":
                    result = out.get()
                    continue
                self._deliver(binding, out.get())
            if return_binding is not None and result is not None:
                self._deliver(return_binding, result)
            if convert is not None:
                result = convert(result)
            ok = True
            return result
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            record = Invocation(function_name, trigger, started, time.monotonic() - clock, ok, error, dequeue_count)
            with self._state:
                self.invocations.append(record)
            self._end()

    def _deliver(self, binding: dict[str, Any], value: Any) -> None:
        handler = self.output_handlers.get(binding.get("type", ""))
        if handler is None:
            raise RuntimeError(f"the dev host has no output handler for {binding.get('type')!r} bindings; "
                               "pass output_handlers={type: handler}")
        handler(binding, value, self.env)

    def _run_trigger(self, function: TriggerFunction, trigger: str, value: Any,
                     dequeue_count: int | None = None) -> None:
        self._execute(function.function_name, trigger, function.user_function, {function.trigger_name: value},
                      function.outputs, function.return_binding, dequeue_count=dequeue_count)

    def _record_failure(self, function_name: str, exc: BaseException) -> None:
        """Log a failed invocation and keep it in `errors`; call it in the `except` block (for the traceback)."""
        log.exception("Function %s failed", function_name)
        self.errors.append(InvocationError(function_name, exc, traceback.format_exc()))

    def _begin(self, listener: _QueueListener | None = None) -> None:
        with self._state:
            self._in_flight += 1
            self._activity += 1
            if listener is not None:
                listener.in_flight += 1

    def _end(self, listener: _QueueListener | None = None) -> None:
        with self._state:
            self._in_flight -= 1
            self._activity += 1
            if listener is not None:
                listener.in_flight -= 1
            self._state.notify_all()

    def _trigger_function(self, function_name: str, trigger_type: str) -> TriggerFunction:
        if self._server is None:
            raise RuntimeError("start the dev host first: functions run with its environment")
        function = self.trigger_functions.get(function_name)
        if function is None:
            raise KeyError(f"the app has no non-HTTP function {function_name!r}")
        if function.trigger_type != trigger_type:
            raise ValueError(f"{function_name} is a {function.trigger_type} function, not a {trigger_type} one")
        return function

    # --- timers

    def run_timer(self, function_name: str, *, past_due: bool = False) -> None:
        """Fire a timer-triggered function now, in this thread; its exception (if any) is raised here.

        The invocation is recorded in `invocations`; a failure is not added to `errors`, since the caller sees it."""
        function = self._trigger_function(function_name, "timerTrigger")
        self._run_trigger(function, "timer", _timer_request(past_due))

    # --- the admin API

    def _admin_invoke(self, name: str, headers: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        """`POST /admin/functions/{name}` with `{"input": "..."}`: run a non-HTTP function in the background."""
        if not self._authorized("admin", headers, query):
            return Answer(401, [], b"")
        try:
            payload = json.loads(body) if body.strip() else None
        except ValueError:
            payload = None
        given = payload.get("input") if isinstance(payload, dict) else None
        if not isinstance(payload, dict) or isinstance(given, dict | list):
            return Answer(400, [], b"")  # the host: no FunctionInvocation (with a string input) in the body
        text = given if given is None or isinstance(given, str) else json.dumps(given)
        # Function names are case-insensitive on the host.
        function = next((f for n, f in self.trigger_functions.items() if n.lower() == name.lower()), None)
        if function is None:
            if any(r.function_name.lower() == name.lower() for r in self.routes):
                return _text_answer(400, f"{name} is an HTTP function: the dev host invokes it through its route")
            return Answer(404, [], b"")
        if function.trigger_type == "timerTrigger":
            value: Any = _timer_request(past_due=False)
        elif function.trigger_type == "queueTrigger":
            # As the host does: a message made from the input, not enqueued (no id, dequeue count 0, no retries).
            value = QueueMessage(body=text or "", dequeue_count=0)
        else:
            return _text_answer(400, f"the dev host does not run {function.trigger_type} functions")
        background = self._background
        if background is None:
            return Answer(503, [], b"")
        self._begin()  # counted from now, so that drain() waits for it before the worker picks it up

        def run() -> None:
            try:
                self._run_trigger(function, "admin", value, dequeue_count=0 if isinstance(value, QueueMessage)
                                  else None)
            except Exception as exc:
                self._record_failure(function.function_name, exc)
            finally:
                self._end()

        try:
            background.submit(run)
        except RuntimeError:  # stopping
            self._end()
            return Answer(503, [], b"")
        return Answer(202, [], b"")

    # --- queue triggers

    def _start_listener(self, function: TriggerFunction) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            name = queue_name(function.trigger, self.env)
            connection = queue_connection(function.trigger.get("connection"), app_settings(self.env),
                                          f"queue trigger of {function.function_name}")
            client = connection.queue(name)
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()
        except Exception as exc:
            # The host logs this and runs the other functions; a test sees it in `errors`.
            log.exception("The listener for function %s was unable to start", function.function_name)
            self.errors.append(InvocationError(function.function_name, exc, traceback.format_exc()))
            return
        settings = self.queue_settings
        # The host fetches a batch whenever no more than newBatchThreshold are running: up to both at once.
        workers = settings.batch_size + settings.new_batch_threshold
        listener = _QueueListener(function, name, connection, client,
                                  ThreadPoolExecutor(max_workers=workers,
                                                     thread_name_prefix=f"devhost-{function.function_name}"))
        listener.thread = threading.Thread(target=self._poll, args=(listener,), daemon=True,
                                           name=f"devhost-poll-{function.function_name}")
        self._listeners.append(listener)
        listener.thread.start()

    def _poll(self, listener: _QueueListener) -> None:
        settings = self.queue_settings
        idle_wait = self.queue_poll_interval
        while not self._stopping.is_set():
            with self._state:
                while listener.in_flight > settings.new_batch_threshold and not self._stopping.is_set():
                    self._state.wait(timeout=0.5)
            if self._stopping.is_set():
                return
            try:
                # One Get Messages call: the first page only (the SDK's iterator would call again until empty).
                pages = listener.client.receive_messages(messages_per_page=settings.batch_size,
                                                         visibility_timeout=self.in_flight_visibility).by_page()
                batch = list(next(pages, []))
            except Exception:
                log.warning("Dev host: getting messages from queue %s failed; trying again", listener.queue_name,
                            exc_info=True)
                self._stopping.wait(1.0)
                continue
            if not batch:
                self._stopping.wait(idle_wait)
                idle_wait = min(idle_wait * 2, max(self.queue_poll_interval, MAX_IDLE_POLL_S))
                continue
            idle_wait = self.queue_poll_interval
            for message in batch:
                self._begin(listener)
                listener.pool.submit(self._process_message, listener, message)

    def _process_message(self, listener: _QueueListener, message: Any) -> None:
        try:
            self._handle_message(listener, message)
        except Exception:
            # Storage failed while settling: the message shows up again when its in-flight visibility ends.
            log.exception("Dev host: settling message %s of queue %s failed", message.id, listener.queue_name)
        finally:
            self._end(listener)

    def _handle_message(self, listener: _QueueListener, message: Any) -> None:
        settings = self.queue_settings
        function = listener.function
        if message.dequeue_count > settings.max_dequeue_count:
            # Dequeued more often than allowed without being settled (a crash mid-run): the host poisons it unrun.
            self._poison(listener, message)
            return
        try:
            body = decode_message(message.content, settings.message_encoding)
        except ValueError as exc:
            # The host cannot decode it either and moves it to the poison queue without running the function.
            log.error("Message %s of queue %s is not valid %s", message.id, listener.queue_name,
                      settings.message_encoding)
            self.errors.append(InvocationError(function.function_name, exc, traceback.format_exc()))
            self._poison(listener, message)
            return
        trigger_value = QueueMessage(
            id=message.id, body=body, dequeue_count=message.dequeue_count, expiration_time=message.expires_on,
            insertion_time=message.inserted_on, time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        try:
            self._run_trigger(function, "queue", trigger_value, dequeue_count=message.dequeue_count)
        except Exception as exc:
            self._record_failure(function.function_name, exc)
            if message.dequeue_count >= settings.max_dequeue_count:
                self._poison(listener, message)
            else:
                # Content unchanged (none given): only when the message is visible again.
                listener.client.update_message(message.id, pop_receipt=message.pop_receipt,
                                               visibility_timeout=self._retry_visibility())
            return
        listener.client.delete_message(message.id, message.pop_receipt)

    def _retry_visibility(self) -> int:
        seconds = (self.visibility_timeout_override if self.visibility_timeout_override is not None
                   else self.queue_settings.visibility_timeout)
        return max(0, round(seconds))  # Storage takes whole seconds

    def _poison(self, listener: _QueueListener, message: Any) -> None:
        """What the host does with a message it gives up on: a copy (same text) to <queue>-poison, then delete."""
        from azure.core.exceptions import ResourceExistsError

        poison_name = f"{listener.queue_name}-poison"
        with listener.poison_lock:
            if listener.poison is None:
                client = listener.connection.queue(poison_name)
                with contextlib.suppress(ResourceExistsError):
                    client.create_queue()
                listener.poison = client
        log.warning("Message %s has reached MaxDequeueCount of %d. Moving message to queue '%s'.", message.id,
                    self.queue_settings.max_dequeue_count, poison_name)
        listener.poison.send_message(message.content)
        listener.client.delete_message(message.id, message.pop_receipt)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queue the dev host listens on is empty (visible and invisible messages) and nothing runs.

        False if that did not happen within `timeout` seconds. Messages failing with a visibility timeout keep it
        waiting until they succeed or are poisoned. Without queue triggers it waits for running invocations only."""
        from azure.core.exceptions import ResourceNotFoundError

        deadline = time.monotonic() + timeout
        while True:
            with self._state:
                activity, busy = self._activity, self._in_flight
            if busy == 0:
                empty = True
                for listener in list(self._listeners):
                    try:
                        # Azurite's count is exact and includes invisible (in-flight or retrying) messages.
                        count = listener.client.get_queue_properties().approximate_message_count
                    except ResourceNotFoundError:
                        count = 0  # deleted: nothing left to run
                    if count:
                        empty = False
                        break
                with self._state:
                    # Nothing started or ended while the queues were read: their counts and `busy` agree.
                    if empty and self._activity == activity and self._in_flight == 0:
                        return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._state:
                self._state.wait(timeout=min(0.05, remaining))


def _timer_request(past_due: bool) -> TimerRequest:
    # What the host sends for a cron schedule; ScheduleStatus (last/next run) needs schedule monitoring, not kept here.
    return TimerRequest(past_due=past_due, schedule={"AdjustForDST": True}, schedule_status={})


def _text_answer(status: int, text: str) -> Answer:
    return Answer(status, [("Content-Type", "text/plain; charset=utf-8")], text.encode())


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _http_answer(result: Any) -> Answer:
    if result is None:
        return Answer(204, [], b"")
    if isinstance(result, str):
        return Answer(200, [("Content-Type", "text/plain; charset=utf-8")], result.encode())
    if isinstance(result, bytes):
        return Answer(200, [("Content-Type", "application/octet-stream")], result)
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function returned {type(result).__name__}, not func.HttpResponse")
    headers = [(name, value) for name, value in result.headers.items()]
    if not any(name.lower() == "content-type" for name, _ in headers):
        mimetype = result.mimetype
        headers.append(("Content-Type", f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/")
                        else mimetype))
    return Answer(result.status_code, headers, result.get_body() or b"")
