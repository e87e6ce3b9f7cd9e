"""The ETag-guarded JSON blob (shared.storage.json_blob) and the stores built on it, against the real Azurite:
create-only and If-Match writes, two writers racing, the bounded read-modify-write loop, and damaged blobs, which
must fail loudly and stay as they are (never be read as absent and written over)."""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from shared.export.checkpoints import Checkpoint, CheckpointConflict, CheckpointStore
from shared.storage.json_blob import BlobConflict, CorruptBlob, JsonBlob, as_object
from shared.webhooks.state import STATE_BLOB, SubscriptionStore


@pytest.fixture
def container(azurite) -> ContainerClient:
    client = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        f"json-blob-{uuid.uuid4().hex[:12]}")
    client.create_container()
    yield client
    client.delete_container()


def document(container: ContainerClient, name: str = "state.json") -> JsonBlob[dict[str, Any]]:
    return JsonBlob(container.get_blob_client(name), as_object, as_object)


def raw(container: ContainerClient, name: str) -> bytes:
    return container.get_blob_client(name).download_blob().readall()


def test_a_missing_blob_loads_as_none_and_is_created_only_once(container):
    blob = document(container)
    assert blob.load() is None
    assert blob.load_or(lambda: {"fresh": True}) == ({"fresh": True}, None)

    etag = blob.save({"n": 1}, None)
    loaded = blob.load()
    assert loaded is not None and loaded.value == {"n": 1} and loaded.etag == etag
    with pytest.raises(BlobConflict):  # If-None-Match: * refuses a second create
        blob.save({"n": 2}, None)
    assert blob.load().value == {"n": 1}


def test_of_two_writers_that_read_the_same_version_only_the_first_writes(container):
    first, second = document(container), document(container)
    first.save({"cursor": "a"}, None)
    (mine, my_etag), (theirs, their_etag) = first.load_or(dict), second.load_or(dict)
    assert my_etag == their_etag

    new_etag = first.save({**mine, "cursor": "b"}, my_etag)
    with pytest.raises(BlobConflict):
        second.save({**theirs, "cursor": "stale"}, their_etag)
    assert first.load().value == {"cursor": "b"} and first.load().etag == new_etag
    assert second.save({"cursor": "c"}, new_etag) != new_etag  # with the current ETag it writes


def test_concurrent_updates_are_all_applied(container):
    blob = document(container)
    writers = 6  # each attempt round lets at least one writer through, so 6 fit in the default 8 attempts
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def add(number: int) -> None:
        def change(state: dict[str, Any]) -> None:
            state.setdefault("numbers", []).append(number)

        try:
            start.wait()
            JsonBlob(container.get_blob_client("state.json"), as_object, as_object).update(change, dict)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(blob.load().value["numbers"]) == list(range(writers))


def test_update_gives_up_after_its_attempts_when_another_writer_always_wins(container):
    blob, rival = document(container), document(container)
    blob.save({"n": 0}, None)
    calls = []

    def change(state: dict[str, Any]) -> None:
        calls.append(state["n"])
        current = rival.load()
        rival.save({"n": current.value["n"] + 100}, current.etag)  # lands between our read and our write
        state["n"] += 1

    with pytest.raises(BlobConflict, match="gave up after 3 attempts"):
        blob.update(change, dict, attempts=3)
    assert calls == [0, 100, 200]  # read again each time
    assert blob.load().value == {"n": 300}  # only the rival's writes landed


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[1, 2]", b""])
def test_a_damaged_blob_fails_loudly_and_is_not_written_over(container, content):
    container.upload_blob("state.json", content)
    blob = document(container)
    with pytest.raises(CorruptBlob, match=re.escape("state.json")):
        blob.load()
    with pytest.raises(CorruptBlob):
        blob.load_or(dict)
    with pytest.raises(CorruptBlob):
        blob.update(lambda state: state.clear(), dict)
    assert raw(container, "state.json") == content


def test_delete_only_the_version_that_was_read(container):
    blob = document(container)
    old_etag = blob.save({"owner": "a"}, None)
    current = blob.save({"owner": "b"}, old_etag)
    with pytest.raises(BlobConflict):
        blob.delete(old_etag)
    assert blob.load().value == {"owner": "b"}
    blob.delete(current)
    assert blob.load() is None


def test_a_damaged_checkpoint_is_an_error_never_a_fresh_cursor(container):
    store = CheckpointStore(container)
    name = store.blob_name("alerts", "t1")
    container.upload_blob(name, b'{"schema": 1, "stream": "alerts"')  # cut short
    with pytest.raises(CorruptBlob, match=re.escape(name)):
        store.load("alerts", "t1")
    with pytest.raises(CheckpointConflict):  # a fresh checkpoint (no ETag) cannot replace it either
        store.save(Checkpoint(stream="alerts", tenant="t1"), None)
    assert raw(container, name) == b'{"schema": 1, "stream": "alerts"'


def test_checkpoints_keep_their_conflict_semantics(container):
    store = CheckpointStore(container)
    checkpoint, etag = store.load("alerts", "t1")
    assert etag is None and checkpoint.cursor is None
    checkpoint.cursor = "2026-11-20T08:00:00.0000000Z"
    etag = store.save(checkpoint, etag)
    stale, stale_etag = store.load("alerts", "t1")
    store.save(checkpoint, etag)
    with pytest.raises(CheckpointConflict):
        store.save(stale, stale_etag)
    assert [c.cursor for c in store.list_all()] == ["2026-11-20T08:00:00.0000000Z"]


def test_damaged_subscription_state_is_not_reset_by_an_update(container):
    container.upload_blob(STATE_BLOB, b'{"version": 1, "subscriptions": {"alerts": {"key": "alerts"}}}')
    store = SubscriptionStore(container)
    with pytest.raises(CorruptBlob, match=re.escape(STATE_BLOB)):
        store.load()
    with pytest.raises(CorruptBlob):
        store.update(lambda state: state.records.clear())
    assert raw(container, STATE_BLOB) == b'{"version": 1, "subscriptions": {"alerts": {"key": "alerts"}}}'
