"""RFC 9457 problem details: the one shape of every error answer of the HTTP API."""

from __future__ import annotations

from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """An error answer: raise it anywhere below an HTTP function; the function layer renders it."""

    def __init__(self, status: int, title: str, detail: str = "", *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        body.update(self.extra)
        return body
