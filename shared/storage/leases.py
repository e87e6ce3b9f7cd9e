"""A blob lease per tenant and stream keeps two runs of one export apart.

Timer triggers are singletons within one app, but an "export now" call, a notification-driven run, a second app
deployed against the same storage, or a host restart mid-run can all start a second run. The lease is short (60 s)
so that a crashed run frees it quickly, and the holder renews it before every write: if the renewal fails, another
run has taken over and this one stops.

The lease keeps runs from wasting work on each other; it cannot make a stale run harmless on its own, because a run
can stall (a frozen VM, a long GC, the storage SDK's own retries) between its renewal and its write. What does is
the fencing in ExportEngine: every write is conditional on storage state the current owner controls (the
checkpoint's ETag, create-only blob names). See docs/exactly-once.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.storage.blob import BlobLeaseClient, ContainerClient

LEASE_SECONDS = 60  # Blob Storage accepts 15 to 60 s (or infinite)


class LeaseBusy(Exception):
    """Another run holds the lease."""


class LeaseLost(Exception):
    """Our lease could not be renewed: another run may be writing now."""


class RunLease:
    def __init__(
        self,
        container: ContainerClient,
        name: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        duration: int = LEASE_SECONDS,
    ) -> None:
        self._container = container
        self.name = name
        self._clock = clock
        self._duration = duration
        self._renew_after = duration / 4  # three chances to renew before it expires
        self._lease: BlobLeaseClient | None = None
        self._renewed_at = 0.0

    def acquire(self) -> RunLease:
        """Lease the blob, creating it on the very first run. Leasing comes first: the blob exists on every run but
        the first, so creating it first would cost every run a refused write (a round trip and an error) for
        nothing."""
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

        blob = self._container.get_blob_client(self.name)
        for attempt in (1, 2):
            try:
                self._lease = blob.acquire_lease(lease_duration=self._duration)
                break
            except ResourceNotFoundError:
                if attempt == 2:
                    raise
                try:
                    blob.upload_blob(b"", overwrite=False)
                except ResourceExistsError:
                    pass  # another run created it just now: lease it like any other
            except HttpResponseError as exc:
                if exc.status_code == 409:
                    raise LeaseBusy(f"another run holds {self.name}") from exc
                raise
        self._renewed_at = self._clock()
        return self

    def ensure(self) -> None:
        """Renew when the lease is getting old; call before every write."""
        if self._lease is None:
            raise LeaseLost(f"{self.name} is not held")
        if self._clock() - self._renewed_at < self._renew_after:
            return
        from azure.core.exceptions import HttpResponseError

        try:
            self._lease.renew()
        except HttpResponseError as exc:
            self._lease = None
            raise LeaseLost(f"lost the lease on {self.name}: {exc.reason or exc.status_code}") from exc
        self._renewed_at = self._clock()

    def release(self, container: ContainerClient | None = None) -> None:
        """Give the lease back (best effort). `container`: the same container through a client with short retries,
        for a caller that must not wait out the SDK's long ones when storage is what failed."""
        from azure.core.exceptions import AzureError
        from azure.storage.blob import BlobLeaseClient

        if self._lease is None:
            return
        lease = self._lease
        if container is not None:
            lease = BlobLeaseClient(container.get_blob_client(self.name), lease_id=lease.id)
        try:
            lease.release()
        except AzureError:
            pass  # it expires on its own within its duration
        self._lease = None
