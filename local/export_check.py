"""Read back what an export wrote and check the exactly-once contract. Used by `./dev export` and the tests."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.export.streams import STREAMS, Stream
from shared.graph.versions import normalize_version

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient


@dataclass
class ExportContents:
    blobs: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    versions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (id, version) -> times written

    @property
    def duplicates(self) -> list[tuple[str, str]]:
        return [key for key, count in self.versions.items() if count > 1]

    def latest(self) -> dict[str, str]:
        """id -> the largest version exported."""
        newest: dict[str, str] = {}
        for item_id, version in self.versions:
            if version > newest.get(item_id, ""):
                newest[item_id] = version
        return newest


def live_blobs(container: ContainerClient, prefix: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(name, records) of every live-export blob under `prefix` (backfills left out), in name order."""
    for props in container.list_blobs(name_starts_with=prefix):
        if "/backfill=" in props.name:
            continue
        raw = gzip.decompress(container.get_blob_client(props.name).download_blob().readall())
        yield props.name, [json.loads(line) for line in raw.splitlines()]


def version_of(spec: Stream, record: dict[str, Any]) -> str:
    """The version of an exported record: its timestamp, or for a context stream its content hash."""
    if spec.context:
        return str(record.get(spec.cursor_field) or "")
    return normalize_version(record.get(spec.cursor_field)) or ""


def read_export(container: ContainerClient, stream: str, tenant: str | None = None) -> ExportContents:
    """Every record of one stream (optionally one tenant) in the export container, live export only."""
    spec = STREAMS[stream]
    prefix = f"{stream}/" + (f"tenant={tenant}/" if tenant else "")
    contents = ExportContents()
    for _, records in live_blobs(container, prefix):
        contents.blobs += 1
        for record in records:
            contents.records.append(record)
            version = version_of(spec, record)
            contents.versions[(str(record[spec.id_field]), version)] += 1
    return contents


def missing_latest(contents: ExportContents, source_items: list[dict[str, Any]], stream: str,
                   since: str | None = None) -> list[str]:
    """Ids whose current version in the source (at or after `since`) is not in the export."""
    spec = STREAMS[stream]
    missing = []
    for item in source_items:
        version = normalize_version(item.get(spec.cursor_field)) or ""
        if since and version < since:
            continue
        if contents.versions.get((str(item[spec.id_field]), version), 0) == 0:
            missing.append(str(item[spec.id_field]))
    return missing
