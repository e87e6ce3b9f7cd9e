"""Turning shared/ results and Problems into HTTP responses. No business logic here."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func

from shared.actions.validation import HttpCall
from shared.problems import PROBLEM_CONTENT_TYPE, Problem
from shared.settings import SettingsError

log = logging.getLogger("graph_security_bridge.http")


def call_of(req: func.HttpRequest) -> HttpCall:
    """The request as shared/ sees it (lower-case header names)."""
    return HttpCall(
        method=req.method,
        url=req.url,
        route_params=dict(req.route_params),
        params=dict(req.params),
        headers={name.lower(): value for name, value in req.headers.items()},
        body=req.get_body() or b"",
    )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")), status_code=status, mimetype="application/json",
        headers=headers or {},
    )


def problem_response(problem: Problem) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(problem.body(), separators=(",", ":")), status_code=problem.status,
        headers={"Content-Type": PROBLEM_CONTENT_TYPE, **problem.headers},
    )


def handle(work: Callable[[], func.HttpResponse]) -> func.HttpResponse:
    """Run `work`, rendering Problems, configuration errors and anything unexpected as problem+json."""
    try:
        return work()
    except Problem as problem:
        return problem_response(problem)
    except SettingsError as exc:
        log.error("%s", exc)
        return problem_response(Problem(500, "The app is misconfigured", "; ".join(exc.problems)))
    except Exception:
        log.exception("Unhandled error")
        return problem_response(Problem(500, "Internal error", "The error was logged; see Application Insights."))
