"""The HTTPS server: TLS per connection, HTTP/1.1 keep-alive, fault injection, and dispatch to auth, Graph or the
``/_sim`` control surface. Standard library only.

The TLS handshake runs in the connection's own thread (not in ``accept``), so one slow client cannot stall others.
Every open connection is tracked so ``stop()`` can close them all, including idle keep-alive ones.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import struct
import threading
import time
import traceback
import uuid
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.http_body import BadRequestBody, read_body

from .auth import TokenError
from .errors import DEFAULT_MESSAGES, GraphError, graph_error_body
from .faults import NO_FAULT, FaultDecision
from .handlers import GraphRequest, GraphResponse

if TYPE_CHECKING:
    from .simulator import GraphSimulator

MAX_BODY = 16 * 1024 * 1024
_VERSIONS = ("v1.0",)
_SMALL_BODY = 64 * 1024  # below this, headers and body go out in one send


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: GraphSimulator, context: ssl.SSLContext):
        self.sim = sim
        self.ssl_context = context
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, SimRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can take seconds offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)  # bound the handshake
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        with self._conns_lock:
            self._conns.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except OSError:
            pass  # client went away, or stop() closed the socket under us
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            _close(conn)

    def close_all_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            _close(conn)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


class SimRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "graphsim"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log on the simulator replaces stderr logging

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # --- request ----------------------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        sim = self.server.sim
        started = time.perf_counter()
        url = urlsplit(self.path)
        path = unquote(url.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = read_body(self.rfile, self.headers, MAX_BODY)
        except BadRequestBody:
            body = None
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id") or str(uuid.uuid4())
        if body is None:
            self.close_connection = True
            self._send_error(413, "The request body is too large or malformed.", request_id, client_request_id)
            return
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["_sim"]:
            status, payload = sim._control(self.command, parts[1:], dict(parse_qsl(url.query)), body)
            self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})
            return
        is_token = len(parts) >= 2 and (
            parts[1:] == ["oauth2", "v2.0", "token"] or parts[1:] == ["v2.0", ".well-known", "openid-configuration"]
        )
        is_graph = bool(parts) and parts[0] in _VERSIONS
        fault = NO_FAULT
        if is_graph or is_token:
            fault_tenant = (
                parts[0]
                if is_token
                else (sim.tokens.tenant_of(headers.get("authorization")) if sim.faults.active else None)
            )
            fault = sim.faults.decide(path, token_endpoint=is_token, tenant=fault_tenant)
        if fault.latency_s:
            time.sleep(fault.latency_s)
        answered_by_fault = fault.action in ("reset", "status")

        def record(status: int, tenant: str | None) -> None:
            # Logged before the answer goes out, so a client that has its answer finds its request in the log.
            sim._record(
                self.command,
                path,
                url.query,
                status,
                tenant,
                headers,
                request_id,
                client_request_id,
                fault.action,
                time.perf_counter() - started,
                in_batch=False,
            )

        if answered_by_fault:
            if is_graph:
                faulted_tenant = sim.tokens.tenant_of(headers.get("authorization"))
                record(fault.status if fault.action == "status" else 0, faulted_tenant)
            self._apply_fault(fault, request_id, client_request_id)
        elif is_token:
            self._token(parts, body, fault)
        elif is_graph:
            try:
                resp, tenant = self._graph(parts, url.query, headers, body, request_id, client_request_id)
            except Exception:  # a simulator bug: answer like Graph would (500) and leave a trace for the developer
                traceback.print_exc()
                body500 = graph_error_body(
                    500, "InternalServerError", "Simulator error.", request_id, client_request_id
                )
                resp = GraphResponse(
                    500,
                    body500,
                    {
                        "Content-Type": "application/json",
                        "request-id": request_id,
                        "client-request-id": client_request_id,
                    },
                )
                tenant = None
            record(resp.status, tenant)
            self._send(resp.status, resp.body, resp.headers, truncate=fault.action == "truncate")
        else:
            self._send_error(
                404, f"Resource not found for the segment '{parts[0] if parts else ''}'.", request_id, client_request_id
            )

    def _graph(
        self,
        parts: list[str],
        query: str,
        headers: dict[str, str],
        body: bytes,
        request_id: str,
        client_request_id: str,
    ) -> tuple[GraphResponse, str | None]:
        sim = self.server.sim
        try:
            token = sim.tokens.validate(headers.get("authorization"))
        except TokenError as exc:
            body = graph_error_body(401, "InvalidAuthenticationToken", exc.message, request_id, client_request_id)
            challenge = (
                f'Bearer realm="", authorization_uri="{sim.base_url}/common/oauth2/authorize", '
                'client_id="00000003-0000-0000-c000-000000000000"'
            )
            return GraphResponse(
                401,
                body,
                {
                    "Content-Type": "application/json",
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                    "WWW-Authenticate": challenge,
                },
            ), None
        req = GraphRequest(
            self.command,
            "/".join(parts[1:]),
            query,
            headers,
            body,
            token=token,
            base_url=sim.base_url,
            version=parts[0],
            request_id=request_id,
            client_request_id=client_request_id,
        )
        return sim.api.handle(req), token.tenant

    def _token(self, parts: list[str], body: bytes, fault: FaultDecision) -> None:
        sim = self.server.sim
        tenant = parts[0]
        if parts[1] == "oauth2":
            if self.command != "POST":
                status, payload = 405, {"error": "invalid_request", "error_description": "Use POST."}
            else:
                form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
                status, payload = sim.tokens.token(tenant, form)
        else:
            status, payload = sim.tokens.openid_configuration(sim.base_url, tenant)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Cache-Control": "no-store, no-cache",
            "Pragma": "no-cache",
        }
        self._send(status, json.dumps(payload).encode(), headers, truncate=fault.action == "truncate")

    # --- faults -----------------------------------------------------------------------------------------------------

    def _apply_fault(self, fault: FaultDecision, request_id: str, client_request_id: str) -> None:
        if fault.action == "reset":
            # Abort the TCP connection without any HTTP answer (RST, no TLS close_notify).
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        message = DEFAULT_MESSAGES.get(fault.status, "Injected fault.")
        self._send_error(fault.status, message, request_id, client_request_id, headers)

    # --- response ---------------------------------------------------------------------------------------------------

    def _send_error(
        self, status: int, message: str, request_id: str, client_request_id: str, headers: dict[str, str] | None = None
    ) -> None:
        err = GraphError(status, message)
        body = graph_error_body(status, err.code, message, request_id, client_request_id)
        self._send(
            status,
            body,
            {
                "Content-Type": "application/json",
                "request-id": request_id,
                "client-request-id": client_request_id,
                **(headers or {}),
            },
        )

    def _send(self, status: int, body: bytes | None, headers: dict[str, str], *, truncate: bool = False) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {formatdate(usegmt=True)}", "Cache-Control: no-cache"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        payload = body or b""
        lines.append(f"Content-Length: {len(payload)}")
        if truncate or self.close_connection:
            self.close_connection = True
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.command == "HEAD":
            payload = b""
        if truncate:
            # Promise the whole body, deliver part of it, then drop the connection.
            self.wfile.write(head + payload[: len(payload) // 2])
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if len(payload) < _SMALL_BODY:
            self.wfile.write(head + payload)
        else:
            self.wfile.write(head)
            self.wfile.write(payload)
