"""HTTP actions (Logic Apps, SOAR, curl): one function per row of the operation table in shared.actions.operations.

Thin by design: turn the request into an HttpCall, let shared.actions.service execute it, render the Answer or the
Problem. The routes, methods and names come from the same table as the OpenAPI document.
"""

from __future__ import annotations

import azure.functions as func

from functions.http import call_of, handle, json_response
from shared.actions.operations import JOB_QUEUE, SERVED_HERE, Operation

bp = func.Blueprint()


def _serve(op: Operation, req: func.HttpRequest, jobs: func.Out[str] | None = None) -> func.HttpResponse:
    def work() -> func.HttpResponse:
        from shared.actions.service import execute

        answer = execute(op.operation_id, call_of(req))
        if answer.messages:
            assert jobs is not None, f"{op.function_name} has no queue output"
            jobs.set(answer.messages[0])  # a new asynchronous job for the worker (functions/jobs.py)
        if answer.body is None:  # e.g. a trigger's 202: the headers say it all
            return func.HttpResponse(status_code=answer.status, headers=answer.headers)
        return json_response(answer.body, status=answer.status, headers=answer.headers)

    return handle(work)


def _register(op: Operation) -> None:
    if op.extra.get("async"):
        @bp.function_name(op.function_name)
        @bp.route(route=op.route, methods=[op.method], auth_level=func.AuthLevel.FUNCTION)
        @bp.queue_output(arg_name="jobs", queue_name=JOB_QUEUE, connection="BRIDGE_STORAGE")
        def async_action(req: func.HttpRequest, jobs: func.Out[str]) -> func.HttpResponse:
            return _serve(op, req, jobs)

        return

    @bp.function_name(op.function_name)
    @bp.route(route=op.route, methods=[op.method], auth_level=func.AuthLevel.FUNCTION)
    def action(req: func.HttpRequest) -> func.HttpResponse:
        return _serve(op, req)


for _op in SERVED_HERE:
    _register(_op)
