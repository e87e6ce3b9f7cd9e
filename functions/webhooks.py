"""Graph change notifications: the notification and lifecycle endpoints, the queue processor, subscription upkeep.

The two endpoints Graph calls stay light (docs/graph-notes.md): the validation handshake is answered
before anything else is read, and notifications are checked against cached subscription records and handed to the
queue through the output binding; the host answers 5xx if it cannot write them, so Graph retries. Everything slow
(exports, Graph calls) happens in the queue-triggered processor.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import typing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import azure.functions as func

from functions.http import handle, json_response
from shared.actions.operations import BY_ID
from shared.problems import Problem
from shared.webhooks.notifications import (
    Screened,
    SubscriptionDirectory,
    check_validation_token,
    parse_collection,
    screen_changes,
    screen_lifecycle,
)

log = logging.getLogger("graph_security_bridge.webhooks")

bp = func.Blueprint()

# Routes, methods and names from the operation table, as the OpenAPI document describes them.
NOTIFICATIONS, LIFECYCLE = BY_ID["ReceiveChangeNotifications"], BY_ID["ReceiveLifecycleNotifications"]
SUBSCRIPTIONS = BY_ID["GetSubscriptions"]

HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"

# Why the two endpoints Graph calls are async: the worker runs every sync function of an instance in one thread
# pool (PYTHON_THREADPOOL_THREAD_COUNT, by default CPUs + 4: six threads on two cores), and on Flex Consumption the
# HTTP functions scale together, so a few long exports or bulk actions can hold every thread while Graph waits at
# most 3 s for an answer. Async functions run on the worker's event loop instead, and the short blocking part
# (checking the subscription records, which may read a blob) runs in this pool of its own. Threads start lazily.
WEBHOOK_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook")

# The worker accepts only classes and `typing` generics as binding annotations: a builtin generic (`list[str]`
# inside func.Out) makes it refuse to index the app (FunctionLoadError), and then the host loads no function at all.
# (Azure/azure-functions-python-worker issues 1176 and 1034; tests/integration/test_real_worker.py proves it.)
QueueMessages = func.Out[typing.List[str]]  # noqa: UP006 (see above)

_directory: tuple[object, SubscriptionDirectory] | None = None


def subscription_directory() -> SubscriptionDirectory:
    """The process-wide cache of subscription records, rebuilt when the settings are reloaded."""
    global _directory
    from shared.runtime import get_settings

    settings = get_settings()
    if _directory is None or _directory[0] is not settings:
        def load() -> Any:
            from shared.webhooks.state import SubscriptionStore

            return SubscriptionStore.for_settings(settings, quick=True).load()[0]

        _directory = (settings, SubscriptionDirectory(load))
    return _directory[1]


def validation_answer(token: str) -> func.HttpResponse:
    """The handshake: the decoded token as plain text, nothing else. nosniff keeps a browser from rendering a token
    that contains markup as HTML."""
    return func.HttpResponse(token, status_code=200, mimetype="text/plain", charset="utf-8",
                             headers={"X-Content-Type-Options": "nosniff"})


async def receive(req: func.HttpRequest, out: QueueMessages,
                  screen: Callable[[list[Any], SubscriptionDirectory], Screened]) -> func.HttpResponse:
    token = req.params.get("validationToken")
    if token is not None:
        return handle(lambda: validation_answer(check_validation_token(token)))
    return await asyncio.get_running_loop().run_in_executor(
        WEBHOOK_POOL, functools.partial(screen_and_queue, req, out, screen))


def screen_and_queue(req: func.HttpRequest, out: QueueMessages,
                     screen: Callable[[list[Any], SubscriptionDirectory], Screened]) -> func.HttpResponse:
    """Check the notifications against the subscription records and hand the good ones to the queue binding."""

    def work() -> func.HttpResponse:
        items = parse_collection(req.get_body() or b"")
        try:
            screened = screen(items, subscription_directory())
        except Exception as exc:
            # Without the subscription records nothing can be trusted; a 503 makes Graph deliver again later.
            log.exception("Could not read the subscription records")
            raise Problem(503, "Cannot check notifications now", "The subscription records could not be read; "
                          "Graph will deliver again.", headers={"Retry-After": "60"}) from exc
        if screened.messages:
            out.set(screened.messages)
        if screened.dropped:
            log.warning("Dropped %d of %d notifications: %s", sum(screened.dropped.values()), len(items),
                        json.dumps(screened.dropped))
        return func.HttpResponse(status_code=202)

    return handle(work)


@bp.function_name(NOTIFICATIONS.function_name)
@bp.route(route=NOTIFICATIONS.route, methods=[NOTIFICATIONS.method], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="messages", queue_name="%WEBHOOK_QUEUE%", connection="BRIDGE_STORAGE")
async def webhook_notifications(req: func.HttpRequest, messages: QueueMessages) -> func.HttpResponse:
    return await receive(req, messages, screen_changes)


@bp.function_name(LIFECYCLE.function_name)
@bp.route(route=LIFECYCLE.route, methods=[LIFECYCLE.method], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="messages", queue_name="%WEBHOOK_QUEUE%", connection="BRIDGE_STORAGE")
async def webhook_lifecycle(req: func.HttpRequest, messages: QueueMessages) -> func.HttpResponse:
    return await receive(req, messages, screen_lifecycle)


def max_dequeue_count(host_json: Path = HOST_JSON) -> int:
    try:
        return int(json.loads(host_json.read_text())["extensions"]["queues"]["maxDequeueCount"])
    except (OSError, KeyError, TypeError, ValueError):
        return 5  # the Functions host's default


@bp.function_name("webhook_processor")
@bp.queue_trigger(arg_name="message", queue_name="%WEBHOOK_QUEUE%", connection="BRIDGE_STORAGE")
def webhook_processor(message: func.QueueMessage) -> None:
    from shared.runtime import get_settings
    from shared.webhooks.processor import NotificationProcessor, PoisonMessage, RetryLater

    limit = max_dequeue_count()
    attempt = message.dequeue_count or 1
    then = "it moves to the poison queue" if attempt >= limit else "it will be retried"
    try:
        NotificationProcessor(get_settings(), max_dequeue_count=limit).process(
            message.get_body().decode("utf-8", "replace"), attempt)
    except PoisonMessage as exc:
        log.error("Notification message %s cannot be processed (attempt %d of %d; %s): %s", message.id, attempt,
                  limit, then, exc)
        raise
    except RetryLater as exc:
        log.warning("Notification message %s not done (attempt %d of %d; %s): %s", message.id, attempt, limit,
                    then, exc)
        raise


@bp.function_name("subscription_upkeep")
@bp.timer_trigger(arg_name="timer", schedule="%SUBSCRIPTION_UPKEEP_SCHEDULE%", run_on_startup=False,
                  use_monitor=True)
def subscription_upkeep(timer: func.TimerRequest) -> None:
    from shared.runtime import get_settings
    from shared.webhooks.upkeep import SubscriptionManager

    # With WEBHOOKS_ENABLED=false nothing is desired, so this removes any subscriptions left from before.
    summary = SubscriptionManager(get_settings()).reconcile()
    if summary.failed:
        raise RuntimeError("subscription upkeep failed for: " + "; ".join(summary.failed))


@bp.function_name(SUBSCRIPTIONS.function_name)
@bp.route(route=SUBSCRIPTIONS.route, methods=[SUBSCRIPTIONS.method], auth_level=func.AuthLevel.FUNCTION)
def webhook_subscriptions(req: func.HttpRequest) -> func.HttpResponse:
    def work() -> func.HttpResponse:
        from shared.runtime import get_settings
        from shared.webhooks.state import SubscriptionStore

        settings = get_settings()
        try:
            state, _ = SubscriptionStore.for_settings(settings).load()
        except Exception as exc:
            log.exception("Could not read the subscription records")
            raise Problem(502, "Storage failed", "The subscription records could not be read.") from exc
        return json_response({"enabled": settings.webhooks_enabled,
                              "subscriptions": [r.public() for r in state.records.values()]})

    return handle(work)
