"""Export triggers: "export now" and status (the timers and the queue worker are in functions/fanout.py).

Thin by design: every decision lives in shared.export.engine and shared.export.run_requests.
"""

from __future__ import annotations

import logging

import azure.functions as func

from functions.http import call_of, handle, json_response
from shared.actions.operations import BY_ID, JOB_QUEUE

log = logging.getLogger("graph_security_bridge.export")

bp = func.Blueprint()

# Routes, methods and names from the operation table, as the OpenAPI document describes them.
RUN, STATUS = BY_ID["RunExport"], BY_ID["GetExportStatus"]


@bp.function_name(RUN.function_name)
@bp.route(route=RUN.route, methods=[RUN.method], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="jobs", queue_name=JOB_QUEUE, connection="BRIDGE_STORAGE")
def export_run(req: func.HttpRequest, jobs: func.Out[str]) -> func.HttpResponse:
    """Run one stream now (all tenants, or ?tenant=). A JSON body {"from": ..., "to": ...} runs a backfill of that
    window instead, with its own checkpoint and folder, leaving the live cursor alone. With `Prefer: respond-async`
    the run becomes a job (202 and its Location; functions/jobs.py runs it), see shared.export.run_requests."""

    def work() -> func.HttpResponse:
        from shared.actions.jobs import prefers_async
        from shared.export.engine import ExportEngine
        from shared.export.run_requests import HTTP_TIME_BUDGET_SECONDS, parse_run_request, start_job, status_for
        from shared.runtime import get_settings
        from shared.storage.clients import Patience

        settings = get_settings()
        request = parse_run_request(settings, req.route_params.get("stream", ""), req.params.get("tenant"),
                                    req.get_body())
        call = call_of(req)
        if prefers_async(call):
            accepted = start_job(settings, request, call, RUN.route)
            if accepted.messages:
                jobs.set(accepted.messages[0])  # the job's first message for the worker (functions/jobs.py)
            return json_response(accepted.body, status=accepted.status, headers=accepted.headers)
        engine = ExportEngine(settings, patience=Patience.INTERACTIVE)  # the caller waits: no minutes of retries
        summaries = [
            engine.run(request.stream, tenant, backfill=request.backfill,
                       time_budget_seconds=min(settings.time_budget_seconds, HTTP_TIME_BUDGET_SECONDS))
            for tenant in request.tenants
        ]
        return json_response({"runs": [s.as_dict() for s in summaries]}, status=status_for(summaries))

    return handle(work)


@bp.function_name(STATUS.function_name)
@bp.route(route=STATUS.route, methods=[STATUS.method], auth_level=func.AuthLevel.FUNCTION)
def export_status(req: func.HttpRequest) -> func.HttpResponse:
    """Per tenant and stream: cursor, lag, last success, last error, whether a pass is in progress; a summary across
    tenants (healthy, lagging, failing), or with ?tenant= one tenant's streams and state."""

    def work() -> func.HttpResponse:
        from shared.export.engine import ExportEngine
        from shared.export.run_requests import storage_unavailable
        from shared.export.status import status_document
        from shared.runtime import get_settings
        from shared.storage.clients import Patience

        with storage_unavailable("The export status could not be read"):
            engine = ExportEngine(get_settings(), patience=Patience.INTERACTIVE)
            return json_response(status_document(engine, req.params.get("tenant")))

    return handle(work)
