"""What requests and urllib3 really raise, mapped to the typed failures (shared.graph.errors.transport_failure).

A raw loopback server plays each way a call can fail, including those the Graph simulator does not offer (a connect
that times out, an answer that stalls mid-body, a body that is not JSON), and the real `requests` session the client
uses meets it."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from shared.graph.errors import NoAnswer, RequestNotSent, transport_failure
from shared.http_session import new_session

Behaviour = Callable[[socket.socket], None]


@contextmanager
def raw_server(behaviour: Behaviour) -> Iterator[str]:
    """A one-connection-at-a-time TCP server on a free loopback port that reads the request's head and then acts."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                behaviour(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v1.0/security/alerts_v2"
    finally:
        stop.set()
        thread.join(5)
        server.close()


def reset(connection: socket.socket) -> None:
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST


def silent(connection: socket.socket) -> None:
    time.sleep(1.5)  # longer than the client's read timeout


def answer(body: bytes, *, length: int | None = None, then: Behaviour | None = None) -> Behaviour:
    def act(connection: socket.socket) -> None:
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length or len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        connection.sendall(head + body)
        if then is not None:
            then(connection)
    return act


def failure_of(url: str, *, read_timeout: float = 0.5) -> Exception:
    """What the client's session raises for a GET of `url`, reading the whole body and parsing it as the client
    does, mapped to its typed failure."""
    with new_session() as session:
        try:
            response = session.get(url, timeout=(0.5, read_timeout))
            json.loads(response.content)
        except Exception as exc:
            return transport_failure(exc, method="GET", path="/v1.0/security/alerts_v2")
    raise AssertionError("the call succeeded")


def test_a_refused_connection_was_not_sent():
    with socket.create_server(("127.0.0.1", 0)) as closed:
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    failure = failure_of(url)
    assert isinstance(failure, RequestNotSent) and not failure.timed_out
    assert failure.code == "ConnectionError" and "not reached" in str(failure) and "GET /v1.0/" in str(failure)


def test_a_connect_that_times_out_was_not_sent():
    # A listener that never accepts, its queue full: the kernel drops further SYNs and the connect times out.
    with socket.create_server(("127.0.0.1", 0), backlog=0) as full:
        port = full.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        try:
            failure = failure_of(f"http://127.0.0.1:{port}/")
        finally:
            for filler in fillers:
                filler.close()
    assert isinstance(failure, RequestNotSent) and failure.timed_out and failure.code == "ConnectTimeout"


@pytest.mark.parametrize(("behaviour", "code", "timed_out"), [
    (reset, "ConnectionError", False),  # the request went out; the connection was reset before any answer
    (silent, "ReadTimeout", True),  # no answer within the read timeout
    (answer(b'{"value": [1, 2, 3]}', length=400), "ChunkedEncodingError", False),  # the body cut short
    (answer(b'{"value": [', length=400, then=silent), "ConnectionError", True),  # the body stalls mid-way
    (answer(b"<html>proxy error</html>"), "JSONDecodeError", False),  # an answer that cannot be read
])
def test_a_request_that_went_out_without_a_usable_answer_got_no_answer(behaviour, code, timed_out):
    with raw_server(behaviour) as url:
        failure = failure_of(url)
    assert isinstance(failure, NoAnswer)
    assert (failure.code, failure.timed_out) == (code, timed_out)
