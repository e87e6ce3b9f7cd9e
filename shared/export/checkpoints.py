"""Per tenant and stream export state: a small JSON blob written with ETag optimistic concurrency.

What it holds, and why:
- `cursor`: the largest version timestamp of a completed pass (from the data, never the wall clock).
- `seen`: keys of the (id, version) pairs already written whose version may still come back, i.e. everything at or
  after `cursor - overlap`, plus everything written by the pass in progress. Bucketed by minute so that pruning is
  cheap, and stored as 12-character keys so that even a large backfill keeps the blob small.
- `pass`: the query in progress: its lower bound, the saved `@odata.nextLink` to resume from, the window it
  reads when Graph's paging cannot be trusted (shared/export/paging.py), and the largest version it has seen. The cursor
  moves to that largest version only when the pass has read everything, because Graph does not document the order
  of these collections (alerts_v2 lists the newest first).
- `seq` and `partition`: the number and hour folder of the next export blob. Names come from here, not from the
  clock, and are create-only, so a stale run cannot overwrite a blob of the run that took over from it.
- `writer`: the run that claimed this checkpoint and has not finished cleanly, if any. A run that finds one must
  settle the next name before it writes (see ExportEngine and docs/exactly-once.md): that run may still be alive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.graph.versions import version_key
from shared.storage.json_blob import BlobConflict, JsonBlob, as_object

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

KEY_LENGTH = 12
UNVERSIONED = ""  # bucket of items that carry no version timestamp: never pruned, so never written twice
SCHEMA = 1


class CheckpointConflict(BlobConflict):
    """Another writer changed the checkpoint since we read it (ETag mismatch): stop and let that run win."""


class SeenVersions:
    """The set of (id, version) keys already written, bucketed by the minute of the version."""

    def __init__(self, buckets: dict[str, list[str]] | None = None) -> None:
        self._buckets: dict[str, list[str]] = buckets or {}
        self._keys: set[str] = {key for keys in self._buckets.values() for key in keys}

    @staticmethod
    def bucket_of(version: str) -> str:
        return version[:16] if version else UNVERSIONED

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, version: str) -> None:
        if key not in self._keys:
            self._keys.add(key)
            self._buckets.setdefault(self.bucket_of(version), []).append(key)

    def prune_before(self, low: str) -> None:
        """Forget versions older than `low`'s minute: a query from `low` can no longer return them."""
        floor = self.bucket_of(low)
        for bucket in [b for b in self._buckets if b != UNVERSIONED and b < floor]:
            for key in self._buckets.pop(bucket):
                self._keys.discard(key)

    def to_json(self) -> dict[str, str]:
        return {bucket: "".join(keys) for bucket, keys in sorted(self._buckets.items())}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> SeenVersions:
        return cls({
            bucket: [packed[i:i + KEY_LENGTH] for i in range(0, len(packed), KEY_LENGTH)]
            for bucket, packed in data.items()
        })

    @staticmethod
    def key(item_id: str, version: str) -> str:
        return version_key(item_id, version)


@dataclass
class PassState:
    low: str  # lower bound of the query (normal-form version)
    high: str | None = None  # exclusive upper bound (backfills only)
    next_link: str | None = None
    max_version: str | None = None
    pages: int = 0
    # Where the pass reads now when Graph's paging cannot be trusted (shared/export/paging.py): the query's window, its
    # $skip inside one timestamp, the windows still to read, items its pages returned so far, timestamps it could
    # not read to the end.
    window_low: str | None = None
    window_high: str | None = None
    skip: int = 0
    asked: int = 0  # the $top of the query in progress (its nextLink pages hold as many)
    ordered: bool = False  # whether the query in progress sent $orderby ($skip must keep its order)
    linked: bool = False  # whether Graph sent a nextLink in this pass (then it pages as documented)
    pending: list[list[str | None]] = field(default_factory=list)
    taken: int = 0
    limit_hits: list[str] = field(default_factory=list)


@dataclass
class Checkpoint:
    stream: str
    tenant: str
    cursor: str | None = None
    seq: int = 0
    partition: str | None = None
    seen: SeenVersions = field(default_factory=SeenVersions)
    pass_state: PassState | None = None
    complete: bool = False  # backfills: the whole window has been exported
    last_success: str | None = None
    last_error: dict[str, str] | None = None
    last_run: dict[str, Any] | None = None
    writer: str | None = None
    context: dict[str, Any] | None = None  # context streams only: their state (shared/context/streams.py)
    # Query options Graph refused for this stream and tenant, by option (shared/graph/query_options.py).
    refused_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = {
            "schema": SCHEMA,
            "stream": self.stream,
            "tenant": self.tenant,
            "cursor": self.cursor,
            "seq": self.seq,
            "partition": self.partition,
            "pass": None if self.pass_state is None else self.pass_state.__dict__,
            "complete": self.complete,
            "lastSuccess": self.last_success,
            "lastError": self.last_error,
            "lastRun": self.last_run,
            "writer": self.writer,
            "seen": self.seen.to_json(),
        }
        if self.context is not None:
            data["context"] = self.context
        if self.refused_options:
            data["refusedOptions"] = self.refused_options
        return data

    @classmethod
    def from_json(cls, document: Any) -> Checkpoint:
        data = as_object(document)
        if data.get("schema") != SCHEMA:
            raise ValueError(f"checkpoint schema {data.get('schema')!r} is not {SCHEMA}")
        return cls(
            stream=data["stream"],
            tenant=data["tenant"],
            cursor=data.get("cursor"),
            seq=int(data.get("seq", 0)),
            partition=data.get("partition"),
            seen=SeenVersions.from_json(data.get("seen") or {}),
            pass_state=PassState(**data["pass"]) if data.get("pass") else None,
            complete=bool(data.get("complete")),
            last_success=data.get("lastSuccess"),
            last_error=data.get("lastError"),
            last_run=data.get("lastRun"),
            writer=data.get("writer"),
            context=data.get("context"),
            refused_options=dict(data.get("refusedOptions") or {}),
        )


class CheckpointStore:
    """Checkpoints as blobs `<prefix>/<stream>/<tenant>.json` in the state container."""

    def __init__(self, container: ContainerClient, prefix: str = "checkpoints") -> None:
        self._container = container
        self.prefix = prefix

    def blob_name(self, stream: str, tenant: str) -> str:
        return f"{self.prefix}/{stream}/{tenant}.json"

    def _document(self, name: str) -> JsonBlob[Checkpoint]:
        return JsonBlob(self._container.get_blob_client(name), Checkpoint.from_json, Checkpoint.to_json)

    def load(self, stream: str, tenant: str) -> tuple[Checkpoint, str | None]:
        """The checkpoint and its ETag; a fresh checkpoint and None when there is none yet. A checkpoint that cannot
        be read raises CorruptBlob (a ValueError): the run fails and says so, and the blob keeps its cursor."""
        return self._document(self.blob_name(stream, tenant)).load_or(lambda: Checkpoint(stream=stream, tenant=tenant))

    def save(self, checkpoint: Checkpoint, etag: str | None) -> str:
        """Write if nobody else did since `etag` (None: only if it does not exist yet). Returns the new ETag."""
        document = self._document(self.blob_name(checkpoint.stream, checkpoint.tenant))
        try:
            return document.save(checkpoint, etag)
        except BlobConflict as exc:
            raise CheckpointConflict(f"checkpoint {document.name} was changed by another run") from exc

    def list_all(self) -> list[Checkpoint]:
        """Every checkpoint under the prefix."""
        loaded = (self._document(props.name).load()
                  for props in self._container.list_blobs(name_starts_with=f"{self.prefix}/"))
        return [found.value for found in loaded if found is not None]
