"""What can go wrong with a Graph call, typed by what it means for sending the request again.

    GraphFailure                  a Graph call did not succeed (catch this to report any of them)
    ├── GraphError                Graph answered with an error status: its code, message and request id
    ├── GraphTransportError       no usable answer came back
    │   ├── RequestNotSent        the request never reached Graph (connect refused or timed out, DNS, a certificate
    │   │                         refused, the proxy refused): Graph did nothing, so sending it again is always safe
    │   └── NoAnswer              the request went out (or may have) and its answer was lost, cut short, unreadable
    │                             or late: Graph may have acted on it, so only an idempotent request may go again
    └── UntrustedLink             a link to another host, refused before anything was sent

As httpx sorts its TransportError (ConnectError, ReadTimeout, ...) apart from HTTPStatusError, and azure-core its
ServiceRequestError (not sent) apart from ServiceResponseError (sent, no answer). `transport_failure` is the one
place that reads requests' and urllib3's exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.redact import redact_url_secrets


class GraphFailure(Exception):
    """A Graph call that did not succeed. `code` is Graph's error code, or what failed on the way (the transport's
    exception name, "UntrustedLink")."""

    def __init__(self, code: str, message: str, *, method: str = "", path: str = "",
                 client_request_id: str = "") -> None:
        self.code = code
        self.message = redact_url_secrets(message)
        self.method = method
        self.path = path
        self.client_request_id = client_request_id
        where = f"{method} {path}".strip()
        super().__init__(f"{self._headline()}: {self.message}" + (f" ({where})" if where else "") + self._trailer())

    def _headline(self) -> str:
        return f"Graph {self.code}"

    def _trailer(self) -> str:
        return ""


class GraphError(GraphFailure):
    """Graph answered with an error status (after retries, where the status is one to retry)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        method: str = "",
        path: str = "",
        request_id: str = "",
        client_request_id: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(code, message, method=method, path=path, client_request_id=client_request_id)

    def _headline(self) -> str:
        return f"Graph {self.status} {self.code}"

    def _trailer(self) -> str:
        return f" [request-id {self.request_id}]" if self.request_id else ""


class GraphTransportError(GraphFailure):
    """No usable answer came back. `code` names the transport's exception; `timed_out`: the connect or the read ran
    out of time."""

    outcome = "failed"

    def __init__(self, code: str, message: str, *, timed_out: bool = False, method: str = "", path: str = "",
                 client_request_id: str = "") -> None:
        self.timed_out = timed_out
        super().__init__(code, message or "no answer", method=method, path=path, client_request_id=client_request_id)

    def _headline(self) -> str:
        return f"Graph {self.outcome} ({self.code})"


class RequestNotSent(GraphTransportError):
    """The request never reached Graph: sending it again is safe, even a POST."""

    outcome = "not reached"


class NoAnswer(GraphTransportError):
    """The request went out, or may have, but its answer was lost, cut short, unreadable or late: whether Graph
    acted on it is unknown."""

    outcome = "gave no answer"


class UntrustedLink(GraphFailure):
    """A link (a nextLink) to a host other than Graph's: following it would hand our bearer token to that host."""


class DeadlineReached(Exception):
    """The caller's deadline came before Graph could be asked (no pacing slot in time): nothing was sent."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: Graph sends seconds, possibly fractional ("2.128")."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # An HTTP-date is allowed by RFC 9110 but Graph does not send one; back off instead.
    return seconds if seconds >= 0 else None


def error_of_answer(status: int, body: Any, headers: Mapping[str, Any] | None, *, method: str = "", path: str = "",
                    client_request_id: str = "") -> GraphError:
    """The GraphError for an answer with an error status, a whole response or one inner $batch response: Graph's
    code and message from the body; its request id from the headers or, where an inner response carries it only
    there, from the error's innerError."""
    code, message, inner = str(status), "", {}  # type: str, str, dict[str, Any]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code") or status)
        message = str(error.get("message") or "")
        inner = error["innerError"] if isinstance(error.get("innerError"), dict) else {}
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    return GraphError(
        status, code, message, method=method, path=path,
        request_id=lowered.get("request-id") or str(inner.get("request-id") or ""),
        client_request_id=(client_request_id or lowered.get("client-request-id")
                           or str(inner.get("client-request-id") or "")),
        retry_after=parse_retry_after(lowered.get("retry-after")),
    )


def transport_failure(exc: BaseException, *, method: str = "", path: str = "",
                      client_request_id: str = "") -> GraphTransportError:
    """The typed failure for what `requests` raised while sending a request or reading its answer, or for a
    ValueError from reading the answer as JSON (a body cut short by a proxy or a reset mid-stream).

    "Not sent" only where the connection itself failed: a wrong "not sent" would send a POST twice, so a failure
    not known to have come before sending counts as "no answer"."""
    import ssl

    import requests
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProxyError, SSLError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    # requests wraps urllib3's exception. With urllib3's own retries off (new_session), a failure while connecting
    # comes inside a MaxRetryError, and one after the request began to go out (a reset, a read timeout) comes bare.
    wrapped: object = exc.args[0] if exc.args else None
    connecting = wrapped.reason if isinstance(wrapped, MaxRetryError) else None
    cause = connecting or wrapped
    # urllib3 2 makes NewConnectionError (refused, DNS) a ConnectTimeoutError for old callers: it is no timeout.
    timed_out = isinstance(exc, requests.Timeout) or (
        isinstance(cause, Urllib3Timeout) and not isinstance(cause, NewConnectionError))
    # An SSLError may also come from reading an answer (an EOF without close_notify): only a refused certificate
    # certainly failed in the handshake, before the request was written.
    certificate_refused = isinstance(connecting, SSLError) and isinstance(
        connecting.args[0] if connecting.args else None, ssl.SSLCertVerificationError)
    not_sent = isinstance(connecting, ConnectTimeoutError | ProxyError) or certificate_refused
    if isinstance(exc, ValueError) and not isinstance(exc, requests.RequestException):
        message = f"the answer is not JSON ({exc})"
    else:
        message = str(exc)
    kind = RequestNotSent if not_sent else NoAnswer
    return kind(type(exc).__name__, message, timed_out=timed_out, method=method, path=path,
                client_request_id=client_request_id)
