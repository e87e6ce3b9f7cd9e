"""Export blobs: gzip NDJSON, one Graph object per line, named from the checkpoint.

Layout (documented in the README):
    <container>/<stream>/tenant=<tenant>/date=YYYY-MM-DD/hour=HH/<stream>-<seq, 12 digits>.ndjson.gz
Backfills use `<stream>/tenant=<tenant>/backfill=<from>_<to>/date=.../...` so they never mix with the live export.
The hour is the hour of the run that writes the blob, and never earlier than the last blob's (see ExportEngine).
Blobs are created, never replaced or deleted: that is half of what makes a stalled run harmless (docs/exactly-once.md).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

# The blob is a .gz file, not an HTTP-compressed NDJSON body: no Content-Encoding, so that tools that honour it
# (browsers, curl --compressed) do not hand the user an unpacked file named .gz.
CONTENT_TYPE = "application/gzip"


def partition_of(moment: datetime) -> str:
    """The hour folder of a UTC moment: `date=2026-11-23/hour=09`. String order is time order."""
    return moment.strftime("date=%Y-%m-%d/hour=%H")


def blob_name(stream: str, tenant: str, partition: str, seq: int, *, backfill: str | None = None) -> str:
    scope = f"{stream}/tenant={tenant}" + (f"/backfill={backfill}" if backfill else "")
    return f"{scope}/{partition}/{stream}-{seq:012d}.ndjson.gz"


def encode_ndjson_gzip(records: Iterable[dict[str, Any]], level: int) -> tuple[bytes, int]:
    """(gzip bytes, raw byte count). Objects are written as Graph returned them: unknown fields and enum values
    pass through; non-ASCII stays UTF-8 rather than escaped, as SIEM parsers expect."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    chunks: list[bytes] = []
    raw = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for record in records:
        line = dumps(record).encode() + b"\n"
        raw += len(line)
        chunks.append(compressor.compress(line))
    chunks.append(compressor.flush())
    return b"".join(chunks), raw


class NameTaken(Exception):
    """An export blob of that name exists already: the names are create-only (see write_blob)."""

    def __init__(self, name: str, writer: str) -> None:
        super().__init__(f"{name} exists already (written by run {writer or 'unknown'})")
        self.name = name
        self.writer = writer


@dataclass(frozen=True)
class WrittenBlob:
    name: str
    records: int
    bytes: int


def write_blob(
    container: ContainerClient,
    name: str,
    records: list[dict[str, Any]],
    *,
    metadata: dict[str, str],
    level: int,
) -> WrittenBlob:
    """Create one export blob; never replace one. The create is conditional on the name being free (If-None-Match: *)
    so that a stalled run that wakes after another run took over cannot overwrite what that run wrote: its write fails
    with NameTaken instead (docs/exactly-once.md). `metadata["writer"]` names the run, so a run that meets its own
    earlier attempt (the SDK retried a write whose first answer was lost) can tell it from another run's blob."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import ContentSettings

    payload, _raw = encode_ndjson_gzip(records, level)
    try:
        container.upload_blob(
            name,
            payload,
            overwrite=False,
            metadata=metadata,
            content_settings=ContentSettings(content_type=CONTENT_TYPE),
        )
    except ResourceExistsError as exc:
        raise NameTaken(name, writer_of(container, name)) from exc
    return WrittenBlob(name=name, records=len(records), bytes=len(payload))


def writer_of(container: ContainerClient, name: str) -> str:
    """The run that wrote an export blob (its `writer` metadata); "" when the blob does not say."""
    return container.get_blob_client(name).get_blob_properties().metadata.get("writer", "")


def read_records(container: ContainerClient, name: str) -> list[dict[str, Any]] | None:
    """The records of an export blob, or None when there is no blob of that name."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        payload = container.get_blob_client(name).download_blob().readall()
    except ResourceNotFoundError:
        return None
    return [json.loads(line) for line in zlib.decompress(payload, 47).splitlines()]  # wbits 47: gzip or zlib
