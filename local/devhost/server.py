"""The HTTP front end: requests over loopback to DevHost.dispatch, answers back."""

from __future__ import annotations

import contextlib
import logging
import socket
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from local.devhost.host import Answer, DevHost
from local.http_body import BadRequestBody, read_body

MAX_BODY_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit

log = logging.getLogger(__name__)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GraphSecurityBridgeDevHost/1.0"

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        host: DevHost = self.server.devhost  # type: ignore[attr-defined]
        try:
            # The host forwards no chunked body to an out-of-process worker: the function sees an empty body
            # (azure-functions-host issues 7930 and 4926: "Chunked requests are not currently supported for the
            # OOP scenarios").
            body = read_body(self.rfile, self.headers, MAX_BODY_BYTES, keep_chunked=False)
        except BadRequestBody as exc:
            self._write(Answer(400, [("Content-Type", "text/plain; charset=utf-8")], str(exc).encode()))
            self.close_connection = True
            return
        if body is None:
            self._write(Answer(413, [], b""))
            self.close_connection = True
            return
        answer = host.dispatch(self.command, self.path, list(self.headers.items()), body)
        self._write(answer)

    def _write(self, answer: Answer) -> None:
        reason = HTTPStatus(answer.status).phrase if answer.status in HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {answer.status} {reason}"]
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                lines.append(f"{name}: {value}")
        lines += [f"Content-Length: {len(answer.body)}", f"Date: {formatdate(usegmt=True)}",
                  f"Server: {self.server_version}"]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
        self.wfile.write(head + (b"" if self.command == "HEAD" else answer.body))
        self.wfile.flush()

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the router (an unknown one gets the host's 404), not http.server's 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)
