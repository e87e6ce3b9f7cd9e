"""Who called, as far as the platform tells the Python worker.

- Entra (App Service Authentication / "Easy Auth"): the front end sets `x-ms-client-principal-name`,
  `x-ms-client-principal-id` and `x-ms-client-principal-idp` (and strips them from client requests) when
  authentication is on for the app. Without it these headers are whatever the client sent: they are trusted only when
  the platform says authentication is on (the app setting WEBSITE_AUTH_ENABLED=True, which App Service sets then).
- The client address: the front end appends the address it saw to `X-Forwarded-For`; anything before it is what the
  client sent and may be forged. The audit records the last hop.
- Function keys: the Functions host checks the key but does not pass the key's name to the Python worker. What the
  worker does see is the key itself (`x-functions-key` or `?code=`), so the audit records a fingerprint: the first 12
  hex digits of its SHA-256. An operator matches it with `printf %s "$KEY" | sha256sum | cut -c1-12`.
- Logic Apps add `x-ms-workflow-*` headers (workflow name, run id, action name) to the calls they make; they are
  recorded as the caller declares them.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from typing import Any

MAX_VALUE_CHARS = 256

_PRINCIPAL_HEADERS = {
    "principalName": "x-ms-client-principal-name",
    "principalId": "x-ms-client-principal-id",
    "identityProvider": "x-ms-client-principal-idp",
}
_WORKFLOW_HEADERS = {
    "name": "x-ms-workflow-name",
    "runId": "x-ms-workflow-run-id",
    "action": "x-ms-workflow-operation-name",
    "resourceGroup": "x-ms-workflow-resourcegroup-name",
    "subscriptionId": "x-ms-workflow-subscription-id",
}


def _clean(value: str) -> str:
    text = "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cf"))
    return text[:MAX_VALUE_CHARS]


def key_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def platform_authentication_on() -> bool:
    """Whether App Service Authentication is on for this app, as the platform tells the app (an app setting)."""
    from shared.runtime import current

    return current().platform_setting("WEBSITE_AUTH_ENABLED").strip().lower() == "true"


def caller_of(headers: Mapping[str, str], params: Mapping[str, str], *,
              authentication_on: bool | None = None) -> dict[str, Any]:
    """The caller's identity for the audit trail. `headers` has lower-case names. `authentication_on`: whether the
    platform's authentication vouches for the principal headers (default: platform_authentication_on())."""
    if authentication_on is None:
        authentication_on = platform_authentication_on()
    caller: dict[str, Any] = {}
    for name, header in _PRINCIPAL_HEADERS.items():
        if authentication_on and headers.get(header):
            caller[name] = _clean(headers[header])
    key = headers.get("x-functions-key") or params.get("code")
    if key:
        caller["functionKeySha256"] = key_fingerprint(key)
    caller["authentication"] = "entra" if "principalId" in caller or "principalName" in caller else (
        "functionKey" if key else "none"
    )
    workflow = {name: _clean(headers[h]) for name, h in _WORKFLOW_HEADERS.items() if headers.get(h)}
    if workflow:
        caller["logicApp"] = workflow
    if headers.get("x-forwarded-for"):
        caller["clientIp"] = _clean(headers["x-forwarded-for"].split(",")[-1].strip())
    if headers.get("user-agent"):
        caller["userAgent"] = _clean(headers["user-agent"])
    return caller
