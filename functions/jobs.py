"""The worker of asynchronous requests (shared.actions.jobs): bulk actions and "export now" jobs. One queue message
per job; a job longer than one invocation's budget queues a message to continue, so no invocation runs into the
function timeout."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from shared.actions.operations import JOB_QUEUE

log = logging.getLogger("graph_security_bridge.actions")

bp = func.Blueprint()


@bp.function_name("actions_job_worker")
@bp.queue_trigger(arg_name="message", queue_name=JOB_QUEUE, connection="BRIDGE_STORAGE")
@bp.queue_output(arg_name="more", queue_name=JOB_QUEUE, connection="BRIDGE_STORAGE")
def actions_job_worker(message: func.QueueMessage, more: func.Out[str]) -> None:
    from shared.actions.jobs import work
    from shared.runtime import get_settings

    try:
        job_id = str(json.loads(message.get_body())["job"])
    except (ValueError, KeyError, TypeError):
        log.error("Job message %s is not a job message; dropped", message.id)
        return
    if work(get_settings(), job_id):
        more.set(json.dumps({"job": job_id}))
