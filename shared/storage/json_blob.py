"""One small JSON document in a blob, read with its ETag and written only if nobody else wrote it since.

Blob Storage's optimistic concurrency: a load returns the document and its ETag; a save sends `If-Match: <etag>`,
or `If-None-Match: *` for a document that did not exist yet, and storage refuses it (412, or 409 for the create)
when another writer got there first. That refusal is BlobConflict; what to do about it is the caller's decision:
the export stops and lets the other run win, the subscription state applies its change again (`update`), an
Idempotency-Key claim answers 409.

A blob that exists but does not hold the document expected (not JSON, or refused by `decode`) is CorruptBlob, which
names the blob. It is never read as absent: a fresh default written over it would silently lose what it held (an
export cursor, the subscription records), so the stores leave it for an operator, or recover from it in a way
they document.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient

log = logging.getLogger(__name__)

T = TypeVar("T")

UPDATE_ATTEMPTS = 8


class BlobConflict(Exception):
    """Another writer created, changed or deleted the blob since it was read: the conditional write was refused."""


class CorruptBlob(ValueError):
    """The blob exists but does not hold the document expected; it was left as it is."""


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """A document and the ETag of the blob it was read from (or written to)."""

    value: T
    etag: str


def as_object(document: Any) -> dict[str, Any]:
    """`decode` for a document that is a plain JSON object."""
    if not isinstance(document, dict):
        raise ValueError(f"a JSON object was expected, not {type(document).__name__}")
    return document


class JsonBlob(Generic[T]):
    """The document in `blob`, turned into a T by `decode` (from parsed JSON) and back by `encode` (to a value
    json.dumps takes). `decode` raises ValueError, TypeError or KeyError for a document it cannot read."""

    def __init__(self, blob: BlobClient, decode: Callable[[Any], T], encode: Callable[[T], Any]) -> None:
        self._blob = blob
        self._decode = decode
        self._encode = encode

    @property
    def name(self) -> str:
        return str(self._blob.blob_name)

    def load(self) -> Versioned[T] | None:
        """The document and its ETag; None when the blob does not exist. CorruptBlob when it cannot be read."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self._blob.download_blob()
        except ResourceNotFoundError:
            return None
        raw = downloader.readall()
        try:
            value = self._decode(json.loads(raw))
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptBlob(f"the blob {self.name} does not hold a valid document ({type(exc).__name__}: {exc}); "
                              "it was left as it is") from exc
        return Versioned(value, str(downloader.properties.etag))

    def load_or(self, default: Callable[[], T]) -> tuple[T, str | None]:
        """The document and its ETag, or `default()` and None when the blob does not exist (save creates it)."""
        loaded = self.load()
        if loaded is None:
            return default(), None
        return loaded.value, loaded.etag

    def save(self, value: T, etag: str | None) -> str:
        """Write if nobody wrote since `etag` was read (None: only if the blob does not exist). Returns the new ETag;
        BlobConflict when the condition fails."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        body = json.dumps(self._encode(value), separators=(",", ":")).encode()
        try:
            if etag is None:
                result = self._blob.upload_blob(body, overwrite=False)
            else:
                result = self._blob.upload_blob(body, overwrite=True, etag=etag,
                                                match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError) as exc:
            raise BlobConflict(f"the blob {self.name} was {'created' if etag is None else 'changed'} by another "
                               "writer") from exc
        return str(result["etag"])

    def update(self, change: Callable[[T], None], default: Callable[[], T], *,
               attempts: int = UPDATE_ATTEMPTS) -> Versioned[T]:
        """Apply `change` to the latest document (`default()` when there is none) and write it if nobody wrote in
        between; otherwise read again and apply it again, up to `attempts` times. `change` edits the document it is
        given and must depend only on it, since it can run more than once. BlobConflict when every attempt lost."""
        for _ in range(attempts):
            value, etag = self.load_or(default)
            change(value)
            try:
                return Versioned(value, self.save(value, etag))
            except BlobConflict:
                log.info("%s changed while updating it; applying the change again", self.name)
        raise BlobConflict(f"the blob {self.name} kept changing; gave up after {attempts} attempts")

    def delete(self, etag: str) -> None:
        """Delete the blob if nobody wrote it since `etag`. BlobConflict when it changed, or was deleted, since then
        (Blob Storage answers a conditional delete of a missing blob with 412, like one of a changed blob)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            self._blob.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
        except ResourceNotFoundError:
            pass
        except ResourceModifiedError as exc:
            raise BlobConflict(f"the blob {self.name} was changed by another writer") from exc
