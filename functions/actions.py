"""HTTP actions (Logic Apps, SOAR, curl): one function per row of the operation table in shared.actions.operations.

Thin by design: turn the request into an HttpCall, let shared.actions.service execute it, render the Answer or the
Problem. The routes, methods and names come from the same table as the OpenAPI document.
"""

from __future__ import annotations

import azure.functions as func

from functions.http import handle, json_response
from shared.actions.operations import SERVED_HERE, Operation
from shared.actions.validation import HttpCall

bp = func.Blueprint()


def call_of(req: func.HttpRequest) -> HttpCall:
    return HttpCall(
        method=req.method,
        url=req.url,
        route_params=dict(req.route_params),
        params=dict(req.params),
        headers={name.lower(): value for name, value in req.headers.items()},
        body=req.get_body() or b"",
    )


def _register(op: Operation) -> None:
    @bp.function_name(op.function_name)
    @bp.route(route=op.route, methods=[op.method], auth_level=func.AuthLevel.FUNCTION)
    def action(req: func.HttpRequest) -> func.HttpResponse:
        def work() -> func.HttpResponse:
            from shared.actions.service import execute

            answer = execute(op.operation_id, call_of(req))
            if answer.body is None:  # e.g. a trigger's 202: the headers say it all
                return func.HttpResponse(status_code=answer.status, headers=answer.headers)
            return json_response(answer.body, status=answer.status, headers=answer.headers)

        return handle(work)


for _op in SERVED_HERE:
    _register(_op)
