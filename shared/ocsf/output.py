"""The OCSF blobs: written beside the export's own graph blobs, from the same page, in the same commit step.

Layout: the OCSF twin of the graph blob `<stream>/tenant=<t>/date=.../hour=../<stream>-<seq>.ndjson.gz` is
`ocsf/<stream>/tenant=<t>/date=.../hour=../<stream>-<seq>.ndjson.gz` in the same container: the same name under the
`ocsf/` folder, so the graph layout is untouched and each OCSF blob holds exactly the versions of its twin.

Why exactly-once holds for the OCSF output too: the engine creates the graph blob, then its OCSF twin, and only then
saves the checkpoint that records both (data before checkpoint); both are create-only and carry the writing run's id,
like every export blob (docs/exactly-once.md). A run that dies or stalls between the steps leaves the graph blob,
perhaps its twin, at the checkpoint's next name, unrecorded. The next run adopts that graph blob (its versions count
as written) and creates the missing twin from it; if the interrupted run wakes and tries to write the twin, its
create finds the name taken by another run and it stops (lost lease). A crash after the checkpoint leaves a complete
pair. So every graph blob with records has exactly one OCSF twin holding the same versions, whatever step a run dies
or stalls at; nothing is deleted or replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.export.sink import WrittenBlob, write_blob
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
              records: list[dict[str, Any]], *, writer: str) -> OcsfWritten | None:
        """Create the OCSF twin of one graph blob (NameTaken, with the run that wrote it, when it exists). None for a
        stream that has no OCSF class."""
        if not self.renders(stream):
            return None
        events, fallbacks = render_page(stream, records, version=self.version, tenant=tenant)
        mapping = MAPPINGS[stream]
        written = write_blob(container, ocsf_name(graph_blob), events, level=self.gzip_level, metadata={
            "stream": stream, "tenant": tenant, "record_count": str(len(events)), "format": "ocsf",
            "ocsf_version": self.version, "class_uid": str(mapping.class_uid), "graph_blob": graph_blob,
            "writer": writer})
        return OcsfWritten(written, fallbacks)
