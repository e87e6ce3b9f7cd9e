"""Graph's error answers, mapped faithfully to problem+json a Logic App author can act on.

404 stays 404; 403 names the Graph application permission the app's identity lacks; 429 passes Retry-After on
(Identity Protection sends none: a default is given); Graph's request id is always included so support can trace
the call. A 401 from Graph is the app's own credential problem, so the caller gets 502, not 401. A call Graph never
answered says which it was: never sent (502), timed out (504), or sent with its answer lost (502, outcome unknown).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.graph.errors import GraphError, GraphFailure, GraphTransportError, RequestNotSent
from shared.problems import Problem
from shared.storage.json_blob import CorruptBlob

log = logging.getLogger("graph_security_bridge.actions")

DEFAULT_RETRY_AFTER_SECONDS = 10
STORAGE_RETRY_AFTER_SECONDS = 30


def graph_extra(error: GraphFailure) -> dict[str, Any]:
    """What Graph said, for the problem body: `graphStatus` and `graphRequestId` only where Graph answered."""
    extra: dict[str, Any] = {"graphCode": error.code}
    if isinstance(error, GraphError):
        extra["graphStatus"] = error.status
    if error.message:
        extra["graphMessage"] = error.message[:500]
    if isinstance(error, GraphError) and error.request_id:
        extra["graphRequestId"] = error.request_id
    if error.client_request_id:
        extra["graphClientRequestId"] = error.client_request_id
    return extra


def _trace(error: GraphFailure) -> str:
    if isinstance(error, GraphError) and error.request_id:
        return f" (Graph request id {error.request_id})"
    if error.client_request_id:
        return f" (client request id {error.client_request_id})"
    return ""


def graph_problem(error: GraphFailure, *, target: str, permission: str, or_permission: str = "") -> Problem:
    """A Problem for a failed Graph call. `target` names what was addressed ("alert 123", "risky users"); `permission`
    is the Graph application permission the call needs (`requiredPermission`, one name a program can use), and
    `or_permission` a broader one that also serves."""
    extra = graph_extra(error)
    trace = _trace(error)
    if isinstance(error, GraphTransportError):
        return _transport_problem(error, target, extra, trace)
    said = f" Graph said: {error.code}: {error.message}" if error.message else f" Graph said: {error.code}."
    if not isinstance(error, GraphError):  # refused on our side before sending (an untrusted link)
        return Problem(502, "Microsoft Graph failed", f"The call for {target} failed: {error.code}: {error.message}"
                       f"{trace}", **extra)
    status = error.status
    if status == 404:
        return Problem(404, "Not found", f"Microsoft Graph has no {target} in this tenant.{trace}", **extra)
    if status == 403:
        needed = f"{permission} (or {or_permission})" if or_permission else permission
        return Problem(
            403, "Missing Microsoft Graph permission",
            f"Microsoft Graph refused access to {target}. The function app's identity needs the application "
            f"permission {needed} on Microsoft Graph, granted with admin consent (for a managed identity, an app "
            f"role assignment); new grants can take a while to apply.{said}{trace}",
            requiredPermission=permission, **extra,
        )
    if status == 401:
        return Problem(
            502, "Microsoft Graph rejected the app's credentials",
            f"Graph did not accept the function app's token. Check GRAPH_AUTH_MODE, GRAPH_CLIENT_ID and the secret "
            f"or certificate.{said}{trace}", **extra,
        )
    if status == 429:
        seconds = max(1, math.ceil(error.retry_after if error.retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS))
        return Problem(
            429, "Throttled by Microsoft Graph",
            f"Graph is throttling this app for {target}; retry after {seconds} seconds.{trace}",
            headers={"Retry-After": str(seconds)}, **extra,
        )
    if status == 503:
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))} if error.retry_after else {}
        return Problem(503, "Microsoft Graph is unavailable", f"Graph is temporarily unavailable for {target}; "
                       f"retry later.{said}{trace}", headers=headers, **extra)
    if status == 504:
        return Problem(504, "Microsoft Graph timed out", f"Graph timed out for {target}.{said}{trace}", **extra)
    if status >= 500 or status < 400:
        return Problem(502, "Microsoft Graph failed", f"Graph answered {status} for {target}.{said}{trace}", **extra)
    # Other 4xx (400, 409, 412, 422, ...): Graph refused what was asked; the caller can fix it.
    return Problem(status, "Microsoft Graph refused the request", f"Graph refused the request for {target}.{said}"
                   f"{trace}", **extra)


def _transport_problem(error: GraphTransportError, target: str, extra: dict[str, Any], trace: str) -> Problem:
    # A late answer to a POST (a comment) may still have been applied: only a request that never went out, or one
    # whose repeat changes nothing more (GET, PATCH of fields to values), is safe to send again as it is.
    if error.timed_out and (isinstance(error, RequestNotSent) or error.method.upper() != "POST"):
        return Problem(504, "Microsoft Graph did not answer in time",
                       f"The call for {target} timed out; it is safe to retry.{trace}", **extra)
    if isinstance(error, RequestNotSent):
        return Problem(502, "Microsoft Graph could not be reached",
                       f"The call for {target} failed before it reached Graph ({error.code}).{trace}", **extra)
    # The request went out and its answer was lost, cut short or late: Graph may well have acted on it.
    return Problem(504 if error.timed_out else 502, "Outcome unknown",
                   f"The call for {target} reached Graph but its answer was lost or cut short ({error.code}), so "
                   f"whether Graph applied it is unknown. Check before repeating it, or repeat it with the same "
                   f"Idempotency-Key.{trace}", outcomeUnknown=True, **extra)


@contextmanager
def storage_problem(what: str) -> Iterator[None]:
    """The app's own storage failing (an outage, a throttled account) as 503 with Retry-After: the caller can retry,
    and nothing was changed. A stored record that cannot be read is the app's fault, not the caller's, and retrying
    does not mend it: 500 naming the record, which is left as it is for an operator."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as exc:
        log.warning("Storage failed for %s: %s", what, exc)
        raise Problem(503, "Storage unavailable", f"The app's storage could not be reached for {what}; retry later.",
                      headers={"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)}) from exc
    except CorruptBlob as exc:
        log.error("Damaged record for %s: %s", what, exc)
        raise Problem(500, "Stored record damaged", f"The app's stored state for {what} cannot be read: {exc}. An "
                      "operator must repair or delete it.") from exc
