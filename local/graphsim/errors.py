"""Graph-shaped errors: the exception handlers raise and the JSON bodies Graph sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

# Codes Graph uses in ``error.code`` for the statuses the simulator produces.
DEFAULT_CODES: dict[int, str] = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    411: "LengthRequired",
    413: "RequestEntityTooLarge",
    424: "FailedDependency",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceNotAvailable",
    504: "GatewayTimeout",
}

DEFAULT_MESSAGES: dict[int, str] = {
    429: "Please retry again later.",
    500: "An internal server error occurred.",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable. Please retry later.",
    504: "The gateway did not receive a response in time.",
}


class GraphError(Exception):
    """An error answer with Graph's body; raised anywhere below the router."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or DEFAULT_CODES.get(status, "UnknownError")
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> GraphError:
    return GraphError(400, message, "BadRequest")


def not_found(message: str) -> GraphError:
    return GraphError(404, message, "NotFound")


def graph_error_body(status: int, code: str, message: str, request_id: str, client_request_id: str) -> bytes:
    """``{"error":{"code","message","innerError":{...}}}``; 429 answers carry Graph's throttling shape."""
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    inner: dict[str, object] = {"date": date, "request-id": request_id, "client-request-id": client_request_id}
    if status == 429:
        inner = {"code": "429", "message": message, **inner}
    return json.dumps({"error": {"code": code, "message": message, "innerError": inner}}).encode()
