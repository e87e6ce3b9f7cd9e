"""Export triggers: one timer per stream (so streams run, fail and scale independently), "export now" and status.

Thin by design: every decision lives in shared.export_engine and shared.export_requests.
"""

from __future__ import annotations

import logging

import azure.functions as func

from functions.http import handle, json_response
from shared.streams import STREAMS

log = logging.getLogger("graph_security_bridge.export")

bp = func.Blueprint()


def run_stream_for_all_tenants(stream: str) -> None:
    """The body of a stream's timer: run it for every tenant if the stream is enabled."""
    from shared.export_engine import ExportEngine
    from shared.settings import get_settings

    settings = get_settings()
    if stream not in settings.export_streams:
        log.debug("Stream %s is not in EXPORT_STREAMS; nothing to do", stream)
        return
    engine = ExportEngine(settings)
    summaries = [engine.run(stream, tenant) for tenant in settings.tenant_ids]
    failed = [s for s in summaries if s.status == "failed"]
    if failed:
        # Fail the invocation so that the platform's failure metrics and alerts see it; the summaries are logged.
        raise RuntimeError("; ".join(f"{s.stream}/{s.tenant}: {s.error}" for s in failed))


def _register_timer(stream: str) -> object:
    @bp.function_name(f"export_{stream}_timer")
    @bp.timer_trigger(arg_name="timer", schedule="%EXPORT_SCHEDULE%", run_on_startup=False, use_monitor=True)
    def export_timer(timer: func.TimerRequest) -> None:
        if timer.past_due:
            log.info("Export timer for %s is past due; running now", stream)
        run_stream_for_all_tenants(stream)

    return export_timer


# One timer per stream, by stream name (tests call them as the host does).
export_timer_functions = {stream: _register_timer(stream) for stream in STREAMS}


@bp.function_name("export_run")
@bp.route(route="export/{stream}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def export_run(req: func.HttpRequest) -> func.HttpResponse:
    """Run one stream now (all tenants, or ?tenant=). A JSON body {"from": ..., "to": ...} runs a backfill of that
    window instead, with its own checkpoint and folder, leaving the live cursor alone."""

    def work() -> func.HttpResponse:
        from shared.export_engine import ExportEngine
        from shared.export_requests import HTTP_TIME_BUDGET_SECONDS, parse_run_request, status_for
        from shared.settings import get_settings
        from shared.storage import Patience

        settings = get_settings()
        request = parse_run_request(settings, req.route_params.get("stream", ""), req.params.get("tenant"),
                                    req.get_body())
        engine = ExportEngine(settings, patience=Patience.INTERACTIVE)  # the caller waits: no minutes of retries
        summaries = [
            engine.run(request.stream, tenant, backfill=request.backfill,
                       time_budget_seconds=min(settings.time_budget_seconds, HTTP_TIME_BUDGET_SECONDS))
            for tenant in request.tenants
        ]
        return json_response({"runs": [s.as_dict() for s in summaries]}, status=status_for(summaries))

    return handle(work)


@bp.function_name("export_status")
@bp.route(route="export/status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def export_status(req: func.HttpRequest) -> func.HttpResponse:
    """Per tenant and stream: cursor, lag, last success, last error, whether a pass is in progress."""

    def work() -> func.HttpResponse:
        from shared.export_engine import ExportEngine
        from shared.export_requests import storage_unavailable
        from shared.settings import get_settings
        from shared.storage import Patience

        with storage_unavailable("The export status could not be read"):
            rows = ExportEngine(get_settings(), patience=Patience.INTERACTIVE).status()
        return json_response({"streams": rows})

    return handle(work)
