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
(host.json, default 16), invisible for 5 minutes while in flight (`in_flight_visibility`: a test that kills a
host mid-message sets how soon the message comes back), and runs them in parallel; it gets the next batch
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

`env` overlays the process environment as the app's settings while the host runs: the host installs a
`shared.runtime.Runtime` made from them (the process environment is never edited), and the previous runtime on stop;
both empty the app's process caches. One DevHost per process at a time when envs differ.

    with DevHost(function_app.app, stack.env()) as host:
        requests.get(f"{host.base_url}/alerts/123", headers={"x-functions-key": host.key})
        host.run_timer("export_security_timer")
        assert host.drain()

`python -m local.devhost` starts the local stack (Graph simulator + Azurite) and serves the app; it prints the base
URL, the function and master keys, the queue triggers it runs and how to fire a timer through the admin API.
"""

from __future__ import annotations

from local.devhost.app import (
    HttpRoute,
    TriggerFunction,
    app_functions,
    http_routes,
    overlapping_routes,
    trigger_functions,
)
from local.devhost.bindings import Out, OutputHandler, QueueOutput, decode_message, encode_message, resolve_expressions
from local.devhost.host import Answer, DevHost, Invocation, InvocationError
from local.devhost.hostjson import HOST_JSON, QueueSettings, queue_settings, route_prefix, timespan_seconds
from local.devhost.routes import RouteTemplate

__all__ = [
    "HOST_JSON", "Answer", "DevHost", "HttpRoute", "Invocation", "InvocationError", "Out", "OutputHandler",
    "QueueOutput", "QueueSettings", "RouteTemplate", "TriggerFunction", "app_functions", "decode_message",
    "encode_message", "http_routes", "overlapping_routes", "queue_settings", "resolve_expressions", "route_prefix",
    "timespan_seconds", "trigger_functions",
]
