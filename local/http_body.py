"""Reading a request body in an `http.server` handler: shared by the dev host and the Graph simulator."""

from __future__ import annotations

from email.message import Message
from typing import BinaryIO


class BadRequestBody(ValueError):
    """The request's framing is malformed (a Content-Length or chunk size that is not a number)."""


def read_body(rfile: BinaryIO, headers: Message, limit: int, *, keep_chunked: bool = True) -> bytes | None:
    """The body (b"" when there is none), or None when it is larger than `limit` bytes.

    A chunked body is always read to its end, so the connection stays usable; with `keep_chunked=False` its bytes are
    dropped and b"" is returned (what the Functions host hands an out-of-process worker)."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        chunks, total = [], 0
        while True:
            line = rfile.readline(65537)
            try:
                size = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                raise BadRequestBody("invalid chunk size") from None
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks) if keep_chunked else b""
            total += size
            if total > limit:
                return None
            chunk = rfile.read(size)
            if keep_chunked:
                chunks.append(chunk)
            rfile.readline(3)
    length = headers.get("Content-Length")
    if not length:
        return b""
    try:
        size = int(length)
    except ValueError:
        raise BadRequestBody("invalid Content-Length") from None
    if size < 0:
        raise BadRequestBody("invalid Content-Length")
    if size > limit:
        return None
    return rfile.read(size)
