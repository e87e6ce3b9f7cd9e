"""The export's timers and its queue-triggered worker: timers only enqueue work items (one per tenant and API
family), the worker runs them, and Azure Functions scales the worker over instances.

Thin by design: the decisions live in shared.export.fanout (why one item per tenant and family) and
shared.export.engine.
"""

from __future__ import annotations

import logging
import typing
from datetime import UTC, datetime

import azure.functions as func

from functions.webhooks import max_dequeue_count
from shared.export.streams import EXPORT_FAMILIES
from shared.graph.families import RateFamily

log = logging.getLogger("graph_security_bridge.fanout")

bp = func.Blueprint()

# The worker refuses builtin generics such as list[str] in binding annotations (see functions/webhooks.py).
WorkItems = func.Out[typing.List[str]]  # noqa: UP006 (the worker refuses list[str] here)


def enqueue_family(family: RateFamily, work: WorkItems) -> None:
    """The body of a family's timer: one work item per tenant whose previous item is settled."""
    from shared.export.fanout import MarkerBoard, plan_tick, tick_id
    from shared.runtime import get_settings
    from shared.storage.clients import blob_service, ensure_container
    from shared.tenants import current_tenants

    settings = get_settings()
    state = blob_service(settings).get_container_client(settings.state_container)
    ensure_container(state)
    tenants = current_tenants(settings)  # checked on every tick: a tenant added to the list runs on the next one
    if tenants.error:
        # Fail the invocation, so that the platform's failure metrics (and the alert on them) see it.
        raise RuntimeError(f"no work item queued for {family.value}: {tenants.error}")
    for problem in tenants.problems:
        log.warning("Tenant list (%s): %s", tenants.source, problem)
    now = datetime.now(UTC)
    tick = plan_tick(settings, family, MarkerBoard(state), tick=tick_id(now), tenants=tenants.tenants, now=now)
    if tick.messages:
        work.set(tick.messages)
    if tick.skipped:
        log.warning("Skipped %d tenants for %s this tick: their previous work item is still queued or running "
                    "(since): %s", len(tick.skipped), family.value, tick.skipped)
    log.info(tick.log_line())
    if tick.failed:
        # The queued tenants go ahead (the output binding is written when this returns); fail the invocation only
        # when nothing could be queued, so that the platform's failure metrics see a storage outage.
        message = "; ".join(f"{tenant}: {error}" for tenant, error in tick.failed.items())
        if not tick.queued:
            raise RuntimeError(f"no work item could be queued for {family.value}: {message}")
        log.error("Could not queue %s for %d tenants: %s", family.value, len(tick.failed), message)


def _register_timer(family: RateFamily) -> object:
    @bp.function_name(f"export_{family.value}_timer")
    @bp.timer_trigger(arg_name="timer", schedule="%EXPORT_SCHEDULE%", run_on_startup=False, use_monitor=True)
    @bp.queue_output(arg_name="work", queue_name="%EXPORT_QUEUE%", connection="BRIDGE_STORAGE")
    def export_timer(timer: func.TimerRequest, work: WorkItems) -> None:
        if timer.past_due:
            log.info("Export timer for %s is past due; queueing now", family.value)
        enqueue_family(family, work)

    return export_timer


# One timer per API family, by family (tests call them as the host does).
export_timer_functions = {family: _register_timer(family) for family in EXPORT_FAMILIES}


@bp.function_name("export_worker")
@bp.queue_trigger(arg_name="message", queue_name="%EXPORT_QUEUE%", connection="BRIDGE_STORAGE")
def export_worker(message: func.QueueMessage) -> None:
    """Run one work item. A failed stream fails the invocation, so the queue retries the item and, after
    maxDequeueCount attempts, moves it to the poison queue; the item's marker is released once it is settled."""
    from shared.export.engine import ExportEngine
    from shared.export.fanout import BadWorkItem, MarkerBoard, WorkItem, run_item
    from shared.runtime import get_settings
    from shared.tenants import WORKER_MAX_AGE, current_tenants

    limit = max_dequeue_count()
    attempt = message.dequeue_count or 1
    last_attempt = attempt >= limit
    try:
        item = WorkItem.from_message(message.get_body().decode("utf-8", "replace"))
    except BadWorkItem as exc:
        # It can never run; failing sends it to the poison queue for someone to look at.
        log.error("Export work item %s is not valid (attempt %d of %d): %s", message.id, attempt, limit, exc)
        raise
    settings = get_settings()
    engine = ExportEngine(settings)
    board = MarkerBoard(engine.state)
    tenant = current_tenants(settings, max_age=WORKER_MAX_AGE).get(item.tenant)
    if tenant is None:
        log.warning("Dropping export work item for tenant %s: it is no longer in the tenant list", item.tenant)
        board.settle(item)
        return
    # Streams turned off for this tenant since the item was queued are left out.
    result = run_item(settings, item, engine, enabled=tenant.export_streams(settings))
    if not result.failed:
        board.settle(item)
        return
    if last_attempt:
        board.settle(item)  # it goes to the poison queue; the next tick queues the tenant afresh
    then = "it moves to the poison queue" if last_attempt else "it will be retried"
    raise RuntimeError(f"export of {item.family.value} for tenant {item.tenant} failed (attempt {attempt} of "
                       f"{limit}; {then}): {result.describe_failures()}")
