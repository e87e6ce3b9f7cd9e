"""Opaque, tamper-evident tokens for state the app hands to callers and gets back: a trigger's position in the
export, a list action's continuation. A token is `<base64url JSON>.<base64url HMAC-SHA256>`; the HMAC covers a
purpose label and the JSON, so that a token made for one use is refused in another, and an edited or forged token is
refused as a whole (400) instead of being read.

The key is 32 random bytes kept as a blob in the state container (`keys/token-signing.key`), created by the first
instance that needs it (create-if-absent, so concurrent instances agree on one key) and read once per process. It
needs no app setting, works with the managed identity, and survives restarts and scale-out. Deleting the blob rotates
the key: tokens issued before are then refused (a Logic App with a polling trigger gets its state back by saving the
workflow again).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from typing import TYPE_CHECKING, Any

from shared.problems import Problem
from shared.process_cache import ProcessCache

if TYPE_CHECKING:
    from shared.settings import Settings

KEY_BLOB = "keys/token-signing.key"
KEY_BYTES = 32
MAX_TOKEN_CHARS = 8192  # a continuation holds at most a nextLink and the ids at its time cursor

_keys: ProcessCache[tuple[str, str], bytes] = ProcessCache("token signing keys")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(settings: Settings) -> bytes:
    """The app's token key, created in the state container on first use."""
    from azure.core.exceptions import ResourceExistsError

    from shared.storage.clients import Patience, blob_service, ensure_container

    service = blob_service(settings, patience=Patience.INTERACTIVE)
    container = service.get_container_client(settings.state_container)
    cache_key = (container.url, KEY_BLOB)
    cached = _keys.get(cache_key)
    if cached is not None:
        return cached
    ensure_container(container)
    blob = container.get_blob_client(KEY_BLOB)
    try:
        blob.upload_blob(os.urandom(KEY_BYTES), overwrite=False)
    except ResourceExistsError:
        pass  # another instance made it first: use that one
    key = blob.download_blob().readall()
    if len(key) < KEY_BYTES:
        raise RuntimeError(f"the token key blob {KEY_BLOB} in {settings.state_container} is damaged: delete it")
    _keys.put(cache_key, key)
    return key


def _mac(key: bytes, purpose: str, payload: bytes) -> bytes:
    return hmac.new(key, purpose.encode() + b"\x00" + payload, hashlib.sha256).digest()


def seal(key: bytes, purpose: str, data: dict[str, Any]) -> str:
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_b64(_mac(key, purpose, payload))}"


def open_sealed(key: bytes, purpose: str, token: str, *, what: str, parameter: str) -> dict[str, Any]:
    """The data of a token this app sealed for `purpose`; a 400 Problem for anything else."""

    def refuse(reason: str) -> Problem:
        return Problem(400, f"Invalid {what}",
                       f"The {parameter} parameter is not one this app issued ({reason}). Use the value from the "
                       "app's last answer unchanged.",
                       errors=[{"field": parameter, "message": reason}])

    if len(token) > MAX_TOKEN_CHARS:
        raise refuse("too long")
    payload_text, dot, mac_text = token.partition(".")
    if not dot or not payload_text or not mac_text:
        raise refuse("malformed")
    try:
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (binascii.Error, ValueError):
        raise refuse("malformed") from None
    if not hmac.compare_digest(mac, _mac(key, purpose, payload)):
        raise refuse("the signature does not match")
    try:
        data = json.loads(payload)
    except ValueError:
        raise refuse("malformed") from None
    if not isinstance(data, dict):
        raise refuse("malformed")
    return data
