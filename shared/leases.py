"""A blob lease per tenant and stream keeps two runs of one export apart.

Timer triggers are singletons within one app, but an "export now" call, a notification-driven run, a second app
deployed against the same storage, or a host restart mid-run can all start a second run. The lease is short (60 s)
so that a crashed run frees it quickly, and the holder renews it before every write: if the renewal fails, another
run has taken over and this one stops before writing anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.storage.blob import BlobLeaseClient, ContainerClient

LEASE_SECONDS = 60
RENEW_AFTER_SECONDS = 15


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
    ) -> None:
        self._container = container
        self.name = name
        self._clock = clock
        self._lease: BlobLeaseClient | None = None
        self._renewed_at = 0.0

    def acquire(self) -> RunLease:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        blob = self._container.get_blob_client(self.name)
        try:
            blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass  # created by an earlier run, or leased right now (a leased blob refuses the overwrite too)
        try:
            self._lease = blob.acquire_lease(lease_duration=LEASE_SECONDS)
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
        if self._clock() - self._renewed_at < RENEW_AFTER_SECONDS:
            return
        from azure.core.exceptions import HttpResponseError

        try:
            self._lease.renew()
        except HttpResponseError as exc:
            self._lease = None
            raise LeaseLost(f"lost the lease on {self.name}: {exc.reason or exc.status_code}") from exc
        self._renewed_at = self._clock()

    def release(self) -> None:
        from azure.core.exceptions import AzureError

        if self._lease is None:
            return
        try:
            self._lease.release()
        except AzureError:
            pass  # it expires on its own within LEASE_SECONDS
        self._lease = None

    def __enter__(self) -> RunLease:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()
