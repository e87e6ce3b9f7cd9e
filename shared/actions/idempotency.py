"""Idempotency-Key records in Blob Storage, so that a comment sent again with the same key is not added twice.

A record is a small JSON blob per (tenant, operation, target, key):

    <STATE_CONTAINER>/idempotency/tenant=<tenant>/<sha256 of operation, target and key>.json

They live with the other operational state, not in AUDIT_CONTAINER: a record is overwritten and deleted, and the
audit container is write-once (an immutability policy lets the app append audit lines but never change a blob).

The first request creates it with `overwrite=False` (If-None-Match: *), so of two concurrent retries exactly one
owns the key and calls Graph; the other is told 409 (still in progress) or, once the owner finished, gets the stored
answer again. The record also keeps a fingerprint of the request body: the same key with a different comment is an
error (422), not a replay.

States: `pending` (the owner is calling Graph), `done` (the answer is stored), `uncertain` (Graph failed in a way
that may or may not have added the comment: a timeout, a 5xx). A request that finds `uncertain`, or a `pending`
record older than any live request can be (the front end cuts HTTP requests at 230 s), takes the record over with
an ETag condition and first checks in Graph whether the comment is already there before posting it again. When
Graph certainly did not act (a 4xx such as 404 or 403), the record is deleted so that a retry can succeed later.

A record that cannot be read (damaged, or not written by this app) is left as it is and the request is refused with
409 and no Retry-After: whether its first attempt reached Graph cannot be told, so only the caller can decide, after
looking at the item's comments, to send the comment again with a new key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.actions.audit import iso, now_utc
from shared.problems import Problem
from shared.storage.json_blob import BlobConflict, CorruptBlob, JsonBlob, as_object

if TYPE_CHECKING:
    from shared.settings import Settings

Record = JsonBlob[dict[str, Any]]

log = logging.getLogger("graph_security_bridge.idempotency")

PENDING_LEASE = timedelta(seconds=240)
BUSY_RETRY_AFTER_SECONDS = 5


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def record_name(tenant: str, scope: str, key: str) -> str:
    digest = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
    return f"idempotency/tenant={tenant}/{digest}.json"


@dataclass
class Claim:
    """The outcome of claiming a key: either a stored answer to replay, or the right to call Graph."""

    blob: Record | None = None
    etag: str | None = None
    record: dict[str, Any] = field(default_factory=dict)
    replay: dict[str, Any] | None = None  # {"status": int, "body": ...} of the first success
    resumed: bool = False  # an earlier attempt may have reached Graph: check before acting again
    since: datetime | None = None  # when the first attempt started


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _record_of(document: Any) -> dict[str, Any]:
    """A stored record, checked for what claim() relies on; ValueError for anything else."""
    record = as_object(document)
    for name in ("state", "fingerprint", "created"):
        if not isinstance(record.get(name), str):
            raise ValueError(f"the record has no {name}")
    _parse_time(record["created"])
    _parse_time(record.get("updated") or record["created"])
    return record


def _busy(detail: str) -> Problem:
    return Problem(409, "Request in progress", detail, headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)})


def _storage_unavailable(exc: Exception, detail: str) -> Problem:
    log.error("Idempotency store unavailable: %s", exc)
    return Problem(503, "Storage unavailable", detail, headers={"Retry-After": "30"})


class IdempotencyStore:
    def __init__(self, settings: Settings, tenant: str, *, clock: Any = now_utc) -> None:
        self.settings = settings
        self.tenant = tenant
        self._clock = clock

    def _record(self, scope: str, key: str) -> Record:
        from shared.storage.clients import Patience, blob_service, ensure_container

        container = blob_service(self.settings, patience=Patience.INTERACTIVE).get_container_client(
            self.settings.state_container)
        ensure_container(container)
        return JsonBlob(container.get_blob_client(record_name(self.tenant, scope, key)), _record_of, as_object)

    def claim(self, scope: str, key: str, body_fingerprint: str) -> Claim:
        """Create the record or read the existing one. Raises Problem 409 (in progress, or a damaged record), 422
        (key reused with a different request) or 503 (storage unavailable: no call is made without the record)."""
        from azure.core.exceptions import AzureError

        now = self._clock()
        record = {"state": "pending", "scope": scope, "fingerprint": body_fingerprint, "created": iso(now),
                  "updated": iso(now), "attempts": 1}
        try:
            blob = self._record(scope, key)
            for _ in range(3):
                try:
                    return Claim(blob=blob, etag=blob.save(record, None), record=record, since=now)
                except BlobConflict:
                    pass
                found = blob.load()
                if found is None:
                    continue  # released in between (Graph refused the first attempt): try to create it again
                existing, etag = found.value, found.etag
                break
            else:
                raise _busy("Another request with this Idempotency-Key is being processed. Retry in a few seconds.")
        except AzureError as exc:
            raise _storage_unavailable(exc, "The Idempotency-Key could not be checked because Blob Storage did not "
                                       "answer, so nothing was sent to Graph. Retry later.") from None
        except CorruptBlob as exc:
            log.error("Damaged Idempotency-Key record: %s", exc)
            raise Problem(409, "Idempotency-Key record damaged",
                          "The stored record of this Idempotency-Key cannot be read, so whether its first request "
                          "reached Graph cannot be told; nothing was sent. Check the item's comments, and send the "
                          "comment again with a new key if it is missing.") from None

        if existing.get("fingerprint") != body_fingerprint:
            raise Problem(422, "Idempotency-Key reused",
                          "This Idempotency-Key was already used for a different request on this item. Use a new key "
                          "for a new comment.")
        if existing.get("state") == "done":
            return Claim(replay={"status": existing.get("status", 200), "body": existing.get("body")})
        updated = _parse_time(existing.get("updated") or existing["created"])
        if existing.get("state") == "pending" and now - updated < PENDING_LEASE:
            raise _busy("A request with this Idempotency-Key is still being processed. Retry in a few seconds to get "
                        "its answer.")
        # An uncertain or abandoned attempt: take it over, unless another retry just did.
        taken = {**existing, "state": "pending", "updated": iso(now), "attempts": int(existing.get("attempts", 1)) + 1}
        try:
            etag = blob.save(taken, etag)
        except BlobConflict:
            raise _busy("Another retry with this Idempotency-Key is being processed. Retry in a few seconds.") from None
        except AzureError as exc:
            raise _storage_unavailable(exc, "The Idempotency-Key could not be checked; nothing was sent to Graph. "
                                       "Retry later.") from None
        return Claim(blob=blob, etag=etag, record=taken, resumed=True, since=_parse_time(existing["created"]))

    def _write(self, claim: Claim, record: dict[str, Any]) -> None:
        from azure.core.exceptions import AzureError

        assert claim.blob is not None
        try:
            claim.blob.save(record, claim.etag)
        except (AzureError, BlobConflict) as exc:
            # The action itself succeeded or failed already; a retry will find the record pending, wait out the
            # lease and then check Graph before acting.
            log.error("Could not update the Idempotency-Key record %s: %s", claim.blob.name, exc)

    def complete(self, claim: Claim, status: int, body: Any) -> None:
        self._write(claim, {**claim.record, "state": "done", "updated": iso(self._clock()), "status": status,
                            "body": body})

    def uncertain(self, claim: Claim, reason: str) -> None:
        self._write(claim, {**claim.record, "state": "uncertain", "updated": iso(self._clock()), "reason": reason})

    def release(self, claim: Claim) -> None:
        """Graph certainly did not act: forget the key so a later retry can try again."""
        from azure.core.exceptions import AzureError

        assert claim.blob is not None and claim.etag is not None
        try:
            claim.blob.delete(claim.etag)
        except (AzureError, BlobConflict) as exc:
            log.warning("Could not release the Idempotency-Key record %s: %s", claim.blob.name, exc)
