"""Export blobs: gzip NDJSON, one Graph object per line, named from the checkpoint.

Layout (documented in the README):
    <container>/<stream>/tenant=<tenant>/date=YYYY-MM-DD/hour=HH/<stream>-<seq, 12 digits>.ndjson.gz
Backfills use `<stream>/tenant=<tenant>/backfill=<from>_<to>/date=.../...` so they never mix with the live export.
The hour is the hour of the run that writes the blob, and never earlier than the last blob's (see ExportEngine).
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
    """Write (or replace: a retry of the same checkpoint step) one export blob."""
    from azure.storage.blob import ContentSettings

    payload, _raw = encode_ndjson_gzip(records, level)
    container.upload_blob(
        name,
        payload,
        overwrite=True,
        metadata=metadata,
        content_settings=ContentSettings(content_type=CONTENT_TYPE),
    )
    return WrittenBlob(name=name, records=len(records), bytes=len(payload))


def delete_if_exists(container: ContainerClient, name: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        container.delete_blob(name)
    except ResourceNotFoundError:
        return False
    return True
