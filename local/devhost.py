"""A dev host for the app's functions: what `func start` does, where Core Tools cannot be installed.

It serves the functions registered on a `FunctionApp` over loopback HTTP and runs their queue triggers, reading
everything from the app itself (`app.get_functions()` once per start: routes, methods, auth levels, triggers, output
bindings) and the rest from host.json (`extensions.http.routePrefix`, `extensions.queues`):

- routes: Functions/ASP.NET templates, `{name}`, optional `{name?}`, defaults `{name=x}`, catch-all `{*rest}`,
  constraints `{id:int}`, `{id:guid}`, `{id:alpha}`, `{id:bool}`, `{id:long}`, `{id:length(n)}`,
  `{id:minlength(n)}`, `{id:maxlength(n)}`, `{id:regex(...)}`; literal segments win over parameters, literals match
  case-insensitively, one trailing slash is ignored, `%2F` stays encoded inside a route value (as in ASP.NET Core);
- as the host does: a path that no route matches, or a method the route does not accept, gets 404 with an empty body;
  a missing or wrong key gets 401 with an empty body;
- function keys: `?code=` or the `x-functions-key` header; `function` routes accept any function key or the master
  key, `admin` routes only the master key, `anonymous` routes are open;
- a real `func.HttpRequest` goes in (url with the query string, headers, params, route params, body) and the
  `func.HttpResponse` (or a returned str) goes out, with the Content-Type the Python worker would set;
- output bindings: each OUT binding other than `$return` is passed as a `func.Out` and what the function sets is
  delivered by an output handler per binding type (a non-HTTP function's `$return` binding gets its return value).
  `queue` is built in (Azure Storage queue through the binding's `connection` setting, encoded per host.json
  `messageEncoding`, base64 by default; queue names lower-cased as the host does); others can be given as
  `output_handlers`. `%SETTING%` expressions in binding properties are resolved from the environment.
- an exception in a function is a 500 with an empty body, as on the host; the dev host also keeps it in `.errors`
  (with the traceback) so tests can assert that nothing failed unseen.

Queue triggers (`run_queue_triggers=True`, the default), as the Functions host's queue listener does it: one poller
per `queueTrigger` function (queue `queueName` with `%SETTING%` resolved, storage from the app setting named by
`connection`, AzureWebJobsStorage by default; the queue is created if missing) gets up to `batchSize` messages
(host.json, default 16), invisible for 5 minutes while in flight, and runs them in parallel; it gets the next batch
when no more than `newBatchThreshold` (default batchSize / 2) are still running. The function gets a real
`azure.functions.QueueMessage` (id, body decoded per `messageEncoding`, dequeue_count, insertion/expiration/next
visible times, pop receipt). Success deletes the message. A failure is logged and kept in `.errors`; the message is
then moved to `<queue>-poison` (content unchanged) once its dequeue count reached `maxDequeueCount` (default 5),
else made visible again after `visibilityTimeout` (default 00:00:00; `visibility_timeout_override` shortens it for
tests). A message that cannot be decoded goes to the poison queue unprocessed. Unlike the host, an empty queue is
polled again after `queue_poll_interval` (0.1 s), not with back-off up to `maxPollingInterval` (1 minute by
default), which would make every end-to-end test wait; in-flight visibility is not renewed, so a function running
longer than 5 minutes sees its message delivered again. `drain()` waits until every trigger queue is empty (visible
and invisible messages) and nothing is running: tests call it to wait for the processing they caused.

Timer triggers do not fire on their schedules here: tests and demos fire them when they mean to, with
`run_timer(name, past_due=...)` (in the caller's thread, the function's exception raised to the caller) or the
host's admin API. `runOnStartup` is not honoured for the same reason.

The admin API for non-HTTP functions, as on the host: `POST /admin/functions/{name}` with the master key and a
body `{"input": "..."}` answers 202 with an empty body and runs the function in the background: a timer (the input
is ignored) or a queue function (the input is the message body; the message is not enqueued, so it has no id and
dequeue count 0, and a failure is not retried, as on the host). Unknown function: 404; a missing or non-master key:
401; no JSON object in the body: 400. The dev host answers 400 for HTTP functions (call their route instead).

Every invocation (HTTP, queue, timer, admin) is recorded in `.invocations` (`Invocation`: function name, trigger
kind, start, duration, ok, error text, dequeue count for queue messages) so tests can count runs.

`env` is applied to os.environ while the host runs (the app reads its settings from the environment) and the
settings cache is reset on start and stop. One DevHost per process at a time when envs differ.

    with DevHost(function_app.app, stack.env()) as host:
        requests.get(f"{host.base_url}/alerts/123", headers={"x-functions-key": host.key})
        host.run_timer("export_alerts_timer")
        assert host.drain()

`python -m local.devhost` starts the local stack (Graph simulator + Azurite) and serves the app; it prints the base
URL, the function and master keys, the queue triggers it runs and how to fire a timer through the admin API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from local.connections import QueueConnection, queue_connection

log = logging.getLogger("graph_security_bridge.devhost")

REPO = Path(__file__).resolve().parent.parent
HOST_JSON = REPO / "host.json"
MAX_BODY_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit
# How long a message being processed stays invisible to other pollers. The host uses 10 minutes and renews it; a
# dev host's functions are short, so a fixed 5 minutes without renewal is enough.
IN_FLIGHT_VISIBILITY_S = 300
MAX_QUEUE_BATCH = 32  # the most messages one Get Messages call returns (a Storage limit)

OutputHandler = Callable[[dict[str, Any], Any, Mapping[str, str]], None]


# --- route templates ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    literal: str | None = None
    name: str = ""
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: tuple[Callable[[str], bool], ...] = ()

    @property
    def precedence(self) -> int:
        """ASP.NET Core's inbound precedence, lower is more specific: literal, constrained, plain, catch-all."""
        if self.literal is not None:
            return 1
        if self.catch_all:
            return 5
        return 3 if self.constraints else 4


def _constraint(spec: str) -> Callable[[str], bool]:
    name, _, argument = spec.partition("(")
    argument = argument[:-1] if argument.endswith(")") else argument
    name = name.strip().lower()
    if name == "int":
        return lambda s: re.fullmatch(r"-?\d+", s) is not None and -(2**31) <= int(s) < 2**31
    if name == "long":
        return lambda s: re.fullmatch(r"-?\d+", s) is not None and -(2**63) <= int(s) < 2**63
    if name == "bool":
        return lambda s: s.lower() in ("true", "false")
    if name == "guid":
        return lambda s: re.fullmatch(r"\{?[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}\}?", s) is not None
    if name == "alpha":
        return lambda s: re.fullmatch(r"[A-Za-z]+", s) is not None
    if name in ("minlength", "maxlength", "length"):
        numbers = [int(n) for n in argument.split(",")]
        low, high = {
            "minlength": (numbers[0], None), "maxlength": (0, numbers[0]),
            "length": (numbers[0], numbers[-1]),
        }[name]
        return lambda s: len(s) >= low and (high is None or len(s) <= high)
    if name == "regex":
        pattern = re.compile(argument, re.IGNORECASE)  # ASP.NET: IsMatch, not anchored
        return lambda s: pattern.search(s) is not None
    raise ValueError(f"route constraint {spec!r} is not supported by the dev host")


def _split_constraints(text: str) -> list[str]:
    """`id:regex(^a:b$):maxlength(9)` -> ["regex(^a:b$)", "maxlength(9)"] (colons inside parentheses kept)."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


class RouteTemplate:
    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self.segments: list[_Segment] = []
        for raw in self.template.split("/") if self.template else []:
            if raw.startswith("{") and raw.endswith("}"):
                self.segments.append(self._parameter(raw[1:-1]))
            elif "{" in raw or "}" in raw:
                raise ValueError(f"route segment {raw!r} mixes text and parameters: not supported by the dev host")
            else:
                self.segments.append(_Segment(literal=raw))
        for i, segment in enumerate(self.segments[:-1]):
            if segment.catch_all:
                raise ValueError(f"catch-all parameter must be last in route {template!r}")
            if segment.optional and not all(s.optional or s.default is not None for s in self.segments[i + 1:]):
                raise ValueError(f"optional parameter {segment.name!r} must be at the end of route {template!r}")

    @staticmethod
    def _parameter(body: str) -> _Segment:
        body = body.replace("{{", "{").replace("}}", "}")  # braces in a regex constraint are doubled
        catch_all = body.startswith("*")
        body = body.lstrip("*")
        default = None
        if "=" in body:
            body, default = body.split("=", 1)
        optional = body.endswith("?")
        body = body.rstrip("?")
        name, *constraints = _split_constraints(body)
        if not name:
            raise ValueError("route parameter without a name")
        return _Segment(name=name, optional=optional or catch_all, catch_all=catch_all, default=default,
                        constraints=tuple(_constraint(c) for c in constraints))

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(s.precedence for s in self.segments)

    def _lengths(self) -> tuple[int, float]:
        """The fewest and the most path segments this template matches."""
        required = sum(1 for s in self.segments if not (s.optional or s.default is not None or s.catch_all))
        most = float("inf") if any(s.catch_all for s in self.segments) else len(self.segments)
        return required, most

    def may_overlap(self, other: RouteTemplate) -> bool:
        """Whether one path might match both templates (constraints ignored, so "might"): then which function
        serves it depends on the host's route order."""
        low = max(self._lengths()[0], other._lengths()[0])
        high = min(self._lengths()[1], other._lengths()[1])
        if low > high:
            return False
        for mine, theirs in zip(self.segments, other.segments, strict=False):
            if mine.catch_all or theirs.catch_all:
                return True
            both_literal = mine.literal is not None and theirs.literal is not None
            if both_literal and str(mine.literal).lower() != str(theirs.literal).lower():
                return False
        return True

    def match(self, parts: list[str]) -> dict[str, str] | None:
        values: dict[str, str] = {}
        for i, segment in enumerate(self.segments):
            if segment.catch_all:
                rest = "/".join(parts[i:])
                if rest:
                    if not all(check(rest) for check in segment.constraints):
                        return None
                    values[segment.name] = rest
                elif segment.default is not None:
                    values[segment.name] = segment.default
                return values
            if i >= len(parts):
                if segment.default is not None:
                    values[segment.name] = segment.default
                    continue
                if segment.optional:
                    continue
                return None
            part = parts[i]
            if segment.literal is not None:
                if part.lower() != segment.literal.lower():
                    return None
                continue
            if not part or not all(check(part) for check in segment.constraints):
                return None
            values[segment.name] = part
        return values if len(parts) <= len(self.segments) else None


# --- the routes of an app ----------------------------------------------------------------------------------------


@dataclass
class HttpRoute:
    function_name: str
    template: RouteTemplate
    methods: frozenset[str] | None  # None: every method
    auth_level: str  # anonymous | function | admin
    trigger_name: str
    user_function: Callable[..., Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)  # OUT bindings other than $return
    returns_http: bool = True
    inputs: list[dict[str, Any]] = field(default_factory=list)  # other IN bindings (not supported)


def app_functions(app: func.FunctionApp) -> list[Any]:
    """`app.get_functions()` without tripping its "not a unique function name" check on a second call."""
    saved = getattr(app, "functions_bindings", None)
    app.functions_bindings = None
    try:
        return app.get_functions()
    finally:
        app.functions_bindings = saved


def http_routes(app: func.FunctionApp) -> list[HttpRoute]:
    """The app's HTTP-triggered functions, most specific route first."""
    routes = []
    for function in app_functions(app):
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next((b for b in bindings if b.get("type") == "httpTrigger"), None)
        if trigger is None:
            continue
        methods = trigger.get("methods")
        outputs = [b for b in bindings if b.get("direction", "").upper() == "OUT" and b.get("name") != "$return"]
        inputs = [b for b in bindings if b.get("direction", "").upper() == "IN" and b is not trigger]
        routes.append(HttpRoute(
            function_name=function.get_function_name(),
            template=RouteTemplate(trigger.get("route") or function.get_function_name()),
            methods=frozenset(m.upper() for m in methods) if methods else None,
            auth_level=str(trigger.get("authLevel", "FUNCTION")).lower(),
            trigger_name=trigger["name"],
            user_function=function.get_user_function(),
            outputs=outputs,
            returns_http=any(b.get("name") == "$return" for b in bindings),
            inputs=inputs,
        ))
    routes.sort(key=lambda r: r.template.precedence)
    return routes


@dataclass
class TriggerFunction:
    """A function with a trigger other than HTTP (queue, timer, ...)."""

    function_name: str
    trigger: dict[str, Any]  # the trigger binding as function.json has it
    user_function: Callable[..., Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)  # OUT bindings other than $return
    return_binding: dict[str, Any] | None = None  # an OUT binding named $return: gets the return value
    inputs: list[dict[str, Any]] = field(default_factory=list)  # other IN bindings (not supported)

    @property
    def trigger_type(self) -> str:
        return str(self.trigger.get("type"))

    @property
    def trigger_name(self) -> str:
        return str(self.trigger["name"])


def trigger_functions(app: func.FunctionApp) -> list[TriggerFunction]:
    """The app's functions whose trigger is not HTTP."""
    functions = []
    for function in app_functions(app):
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
        if trigger is None or trigger.get("type") == "httpTrigger":
            continue
        outs = [b for b in bindings if b.get("direction", "").upper() == "OUT"]
        functions.append(TriggerFunction(
            function_name=function.get_function_name(),
            trigger=trigger,
            user_function=function.get_user_function(),
            outputs=[b for b in outs if b.get("name") != "$return"],
            return_binding=next((b for b in outs if b.get("name") == "$return"), None),
            inputs=[b for b in bindings if b.get("direction", "").upper() == "IN" and b is not trigger],
        ))
    return functions


def overlapping_routes(routes: list[HttpRoute]) -> list[tuple[HttpRoute, HttpRoute]]:
    """Pairs of routes that might both serve one request (same method, templates that may match one path).

    The dev host picks the most specific template (ASP.NET Core's precedence); whether the Functions host does the
    same or takes the first match in registration order could not be checked here, so an app should have no such
    pair: then the order cannot matter. The dev host warns about each one at start."""
    pairs = []
    for i, first in enumerate(routes):
        for second in routes[i + 1:]:
            shared = (first.methods is None or second.methods is None or first.methods & second.methods)
            if shared and first.template.may_overlap(second.template):
                pairs.append((first, second))
    return pairs


def route_prefix(host_json: Path = HOST_JSON) -> str:
    try:
        config = json.loads(host_json.read_text())
    except FileNotFoundError:
        return "api"
    return str(config.get("extensions", {}).get("http", {}).get("routePrefix", "api")).strip("/")


def queue_message_encoding(host_json: Path = HOST_JSON) -> str:
    try:
        config = json.loads(host_json.read_text())
    except FileNotFoundError:
        return "base64"
    return str(config.get("extensions", {}).get("queues", {}).get("messageEncoding", "base64")).lower()


def timespan_seconds(text: str) -> float:
    """A .NET TimeSpan as host.json writes it ("hh:mm:ss", "d.hh:mm:ss", "hh:mm:ss.fff", "hh:mm") in seconds."""
    match = re.fullmatch(r"\s*(?:(\d+)\.)?(\d+):(\d+)(?::(\d+(?:\.\d+)?))?\s*", text)
    if match is None:
        raise ValueError(f"{text!r} is not a TimeSpan (hh:mm:ss)")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds or 0)


@dataclass(frozen=True)
class QueueSettings:
    """host.json `extensions.queues`, with the Functions host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0  # seconds before a failed message is visible again
    message_encoding: str = "base64"


def queue_settings(host_json: Path = HOST_JSON) -> QueueSettings:
    try:
        config = json.loads(host_json.read_text())
    except FileNotFoundError:
        config = {}
    queues = config.get("extensions", {}).get("queues", {})
    batch_size = max(1, min(MAX_QUEUE_BATCH, int(queues.get("batchSize", 16))))
    return QueueSettings(
        batch_size=batch_size,
        new_batch_threshold=max(0, int(queues.get("newBatchThreshold", batch_size // 2))),
        max_dequeue_count=max(1, int(queues.get("maxDequeueCount", 5))),
        visibility_timeout=timespan_seconds(str(queues.get("visibilityTimeout", "00:00:00"))),
        message_encoding=str(queues.get("messageEncoding", "base64")).lower(),
    )


# --- output bindings ---------------------------------------------------------------------------------------------


class Out(func.Out):
    def __init__(self) -> None:
        self._value: Any = None
        self.is_set = False

    def set(self, val: Any) -> None:
        self._value = val
        self.is_set = True

    def get(self) -> Any:
        return self._value


def resolve_expressions(value: Any, env: Mapping[str, str]) -> Any:
    """`%NAME%` binding expressions replaced by app settings, as the host does."""
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in env:
            return env[name]
        if name in os.environ:
            return os.environ[name]
        raise KeyError(f"binding expression %{name}% names an app setting that is not set")

    return re.sub(r"%([^%]+)%", lookup, value)


def app_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The app settings the host sees: the process environment overlaid by the dev host's own."""
    return {**os.environ, **env}


def queue_name(binding: dict[str, Any], env: Mapping[str, str]) -> str:
    """The binding's queue, `%SETTING%` resolved and lower-cased (the host coerces queue names to lower case)."""
    return str(resolve_expressions(binding.get("queueName") or binding.get("queue_name"), env)).lower()


class QueueOutput:
    """The `queue` output binding: messages to an Azure Storage queue named by the binding, created if missing."""

    def __init__(self, encoding: str = "base64") -> None:
        self.encoding = encoding
        self._created: set[tuple[QueueConnection, str]] = set()
        self._lock = threading.Lock()

    def __call__(self, binding: dict[str, Any], value: Any, env: Mapping[str, str]) -> None:
        from azure.core.exceptions import ResourceExistsError

        connection = queue_connection(binding.get("connection"), app_settings(env),
                                      f"queue output {binding['name']!r}")
        queue = queue_name(binding, env)
        client = connection.queue(queue)
        with self._lock:
            if (connection, queue) not in self._created:
                with contextlib.suppress(ResourceExistsError):
                    client.create_queue()
                self._created.add((connection, queue))
        for message in value if isinstance(value, list) else [value]:
            if isinstance(message, func.QueueMessage):
                data = message.get_body()
            elif isinstance(message, bytes):
                data = message
            elif isinstance(message, str):
                data = message.encode()
            else:
                data = json.dumps(message).encode()
            client.send_message(encode_message(data, self.encoding))


def encode_message(data: bytes, encoding: str) -> str:
    """A message body as queue message text per host.json `messageEncoding`."""
    return base64.b64encode(data).decode() if encoding == "base64" else data.decode()


def decode_message(text: str, encoding: str) -> bytes:
    """Queue message text as the body the function gets; ValueError if it is not valid for the encoding."""
    if encoding == "base64":
        return base64.b64decode(text, validate=True)
    return text.encode()


# --- the host ----------------------------------------------------------------------------------------------------


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
        self.routes: list[HttpRoute] = []
        self.trigger_functions: dict[str, TriggerFunction] = {}
        self.errors: list[InvocationError] = []
        self.invocations: list[Invocation] = []  # appended under _state; copy it (list(...)) to read while running
        self.root_url = ""
        self.base_url = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}
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
        self._apply_env()
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
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
        self._restore_env()

    def __enter__(self) -> DevHost:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _apply_env(self) -> None:
        for name, value in self.env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        _reset_app_caches()

    def _restore_env(self) -> None:
        from local.stack import restore_environ

        restore_environ(self._saved_env)
        _reset_app_caches()

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
        while not self._stopping.is_set():
            with self._state:
                while listener.in_flight > settings.new_batch_threshold and not self._stopping.is_set():
                    self._state.wait(timeout=0.5)
            if self._stopping.is_set():
                return
            try:
                # One Get Messages call: the first page only (the SDK's iterator would call again until empty).
                pages = listener.client.receive_messages(messages_per_page=settings.batch_size,
                                                         visibility_timeout=IN_FLIGHT_VISIBILITY_S).by_page()
                batch = list(next(pages, []))
            except Exception:
                log.warning("Dev host: getting messages from queue %s failed; trying again", listener.queue_name,
                            exc_info=True)
                self._stopping.wait(1.0)
                continue
            if not batch:
                self._stopping.wait(self.queue_poll_interval)
                continue
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


def _reset_app_caches() -> None:
    """The app reads settings once per process: forget them when the environment changes."""
    from shared.settings import reset_settings_cache

    reset_settings_cache()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GraphSecurityBridgeDevHost/1.0"

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        host: DevHost = self.server.devhost  # type: ignore[attr-defined]
        try:
            body = self._read_body()
        except ValueError as exc:
            self._write(Answer(400, [("Content-Type", "text/plain; charset=utf-8")], str(exc).encode()))
            self.close_connection = True
            return
        if body is None:
            self._write(Answer(413, [], b""))
            self.close_connection = True
            return
        answer = host.dispatch(self.command, self.path, list(self.headers.items()), body)
        self._write(answer)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            # The host forwards no chunked body to an out-of-process worker: the function sees an empty body
            # (azure-functions-host issues 7930 and 4926: "Chunked requests are not currently supported for the
            # OOP scenarios"). The chunks are read, so the connection stays usable, and dropped.
            total = 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b""
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                self.rfile.read(size)
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise ValueError("invalid Content-Length") from None
        if size < 0:
            raise ValueError("invalid Content-Length")
        if size > MAX_BODY_BYTES:
            return None
        return self.rfile.read(size)

    def _write(self, answer: Answer) -> None:
        reason = HTTPStatus(answer.status).phrase if answer.status in HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {answer.status} {reason}"]
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                lines.append(f"{name}: {value}")
        lines += [f"Content-Length: {len(answer.body)}", f"Date: {formatdate(usegmt=True)}",
                  f"Server: {self.server_version}"]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
        self.wfile.write(head + (b"" if self.command == "HEAD" else answer.body))
        self.wfile.flush()

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the router (an unknown one gets the host's 404), not http.server's 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)


# --- command line ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    parser = argparse.ArgumentParser(
        prog="python -m local.devhost",
        description="Serve the app's functions against the local stack (Graph simulator + Azurite).",
    )
    parser.add_argument("--port", type=int, default=7071, help="port to listen on (0: any free port)")
    parser.add_argument("--key", default=None, help="the function key to accept (default: a random one)")
    parser.add_argument("--master-key", default=None,
                        help="the master key, for admin routes and the admin API (default: a random one)")
    parser.add_argument("--alerts", type=int, default=200, help="alerts per tenant in the simulator")
    parser.add_argument("--no-throttle", action="store_true", help="turn off the simulator's Graph throttling")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra app setting (repeatable), e.g. --set ACTIONS_ENABLED=false")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # What the app does in Azure (the SDKs' per-request lines would drown the app's: the queue listener polls
    # several times a second); the dev host's own queue polling logs through azure.storage too.
    from shared.app_logging import quiet_library_loggers

    quiet_library_loggers()

    from local.azurite import ACCOUNT
    from local.graphsim import SimConfig
    from local.stack import LocalStack

    extra = dict(item.split("=", 1) for item in args.set)
    with LocalStack(SimConfig(alerts=args.alerts, throttle=not args.no_throttle)) as stack:
        assert stack.azurite is not None and stack.sim is not None
        env = stack.env(AzureWebJobsStorage=stack.azurite.connection_string, **extra)
        import function_app

        key = args.key or secrets.token_urlsafe(24)
        master_key = args.master_key or secrets.token_urlsafe(24)
        with DevHost(function_app.app, env, {"default": key}, master_key=master_key, port=args.port) as host:
            tenant = stack.sim.tenants[0]
            alert = stack.sim.alerts(tenant)[0]["id"]
            print(f"Serving {len(host.routes)} HTTP functions at {host.base_url}", flush=True)
            print(f"Function key: {key}", flush=True)
            print(f"Master key: {master_key}", flush=True)
            queues = ", ".join(f"{name} <- {queue}" for name, queue in host.queue_triggers.items())
            print(f"Queue triggers run as messages arrive: {queues or 'none in this app'}", flush=True)
            timers = sorted(n for n, f in host.trigger_functions.items() if f.trigger_type == "timerTrigger")
            if timers:
                # Timers do not fire on their schedules here: fire them through the host's admin API.
                print(f"Timers (not run on schedule): {', '.join(timers)}", flush=True)
                print(f"Fire a timer: curl -X POST -H 'x-functions-key: {master_key}' -H 'Content-Type: "
                      f"application/json' -d '{{\"input\": \"\"}}' {host.root_url}/admin/functions/{timers[0]}",
                      flush=True)
            print(f"Graph simulator: {stack.sim.base_url} (tenant {tenant})", flush=True)
            print(f"Azurite blob endpoint: http://127.0.0.1:{stack.azurite.blob_port}/{ACCOUNT} (the well-known "
                  "development account)", flush=True)
            print(f"Try: curl -H 'x-functions-key: {key}' {host.base_url}/alerts/{alert}", flush=True)
            print(f"     curl -H 'x-functions-key: {key}' {host.base_url}/openapi.json", flush=True)
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
