"""The OCSF blobs: written beside the export's own graph blobs, from the same page, in the same commit step.

Layout: the OCSF twin of the graph blob `<stream>/tenant=<t>/date=.../hour=../<stream>-<seq>.ndjson.gz` is
`ocsf/<stream>/tenant=<t>/date=.../hour=../<stream>-<seq>.ndjson.gz` in the same container: the same name under the
`ocsf/` folder, so the graph layout is untouched and each OCSF blob holds exactly the versions of its twin.

Why exactly-once holds for the OCSF output too: the engine writes the graph blob, then its OCSF twin, and only then
saves the checkpoint that records both (data before checkpoint). A crash before the checkpoint leaves one or both
twins at the checkpoint's next name, unrecorded; the next run deletes both (`discard`) before it writes anything,
and their versions, not being in the checkpoint's seen set, are written again as a new pair. A crash after the
checkpoint leaves a complete pair. So every committed graph blob has its committed OCSF twin, and no version is in
two OCSF blobs, whatever step a run dies at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.blob_sink import WrittenBlob, delete_if_exists, write_blob
from shared.ocsf.render import MAPPINGS, render_page

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

OCSF_PREFIX = "ocsf/"


def ocsf_name(graph_blob: str) -> str:
    return OCSF_PREFIX + graph_blob


@dataclass(frozen=True)
class OcsfWritten:
    blob: WrittenBlob
    fallbacks: int  # objects the mapping could not render, written as minimal events (logged)


class OcsfOutput:
    """The second output of the export when EXPORT_FORMATS lists ocsf."""

    name = "ocsf"

    def __init__(self, version: str, gzip_level: int) -> None:
        self.version = version
        self.gzip_level = gzip_level

    @staticmethod
    def renders(stream: str) -> bool:
        return stream in MAPPINGS

    def write(self, container: ContainerClient, graph_blob: str, stream: str, tenant: str,
              records: list[dict[str, Any]]) -> OcsfWritten | None:
        """Write (or replace: a retry of the same step) the OCSF twin of one graph blob. None for a stream that
        has no OCSF class."""
        if not self.renders(stream):
            return None
        events, fallbacks = render_page(stream, records, version=self.version, tenant=tenant)
        mapping = MAPPINGS[stream]
        written = write_blob(container, ocsf_name(graph_blob), events, level=self.gzip_level, metadata={
            "stream": stream, "tenant": tenant, "record_count": str(len(events)), "format": "ocsf",
            "ocsf_version": self.version, "class_uid": str(mapping.class_uid), "graph_blob": graph_blob})
        return OcsfWritten(written, fallbacks)


def discard_twin(container: ContainerClient, graph_blob: str) -> bool:
    """Delete the OCSF twin of an unrecorded graph blob. Done whatever EXPORT_FORMATS says now, because the run
    that left the blob may have had ocsf on."""
    return delete_if_exists(container, ocsf_name(graph_blob))
