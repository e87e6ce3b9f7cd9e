"""Storage connections of queue bindings, resolved the way the Functions Storage extension resolves them.

A binding's `connection` names a prefix, not a value (AzureWebJobsStorage when it names nothing):
1. an app setting with that exact name, or `AzureWebJobs<name>`, holds a connection string (local: Azurite);
2. otherwise the connection is identity-based (what the Bicep deploys): `<name>__queueServiceUri` (or
   `<name>__serviceUri`) is the queue endpoint, or `<name>__accountName` names the account
   (`https://<account>.queue.core.windows.net`); `<name>__credential=managedidentity` with `<name>__clientId` picks a
   user-assigned identity, and without them the default credential chain is used.
(https://learn.microsoft.com/azure/azure-functions/functions-reference#common-properties-for-identity-based-connections)

Everything is checked before the first call, and a problem names the settings involved, so a deployment whose
settings the host would reject fails here first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

ACCOUNT_NAME_RE = re.compile(r"^[a-z0-9]{3,24}$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ConnectionSettingError(KeyError):
    """The settings of a binding's connection are missing or invalid; the message names them."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class QueueConnection:
    prefix: str
    connection_string: str | None = None
    queue_service_uri: str | None = None
    client_id: str | None = None  # a user-assigned managed identity
    managed_identity: bool = False

    def queue(self, name: str) -> Any:
        """A QueueClient for queue `name` on this connection."""
        from azure.storage.queue import QueueClient

        if self.connection_string is not None:
            return QueueClient.from_connection_string(self.connection_string, name)
        credential: Any
        if self.managed_identity:
            from azure.identity import ManagedIdentityCredential

            credential = ManagedIdentityCredential(client_id=self.client_id)
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return QueueClient(self.queue_service_uri or "", name, credential=credential)


def queue_connection(prefix: str | None, settings: Mapping[str, str], what: str) -> QueueConnection:
    """The connection a queue binding's `connection` names, from the app settings."""
    name = prefix or "AzureWebJobsStorage"

    def setting(key: str) -> str | None:
        value = settings.get(key)
        return value.strip() if value and value.strip() else None

    direct = setting(name) or setting(f"AzureWebJobs{name}")
    if direct is not None:
        return QueueConnection(name, connection_string=direct)

    uri = setting(f"{name}__queueServiceUri") or setting(f"{name}__serviceUri")
    account = setting(f"{name}__accountName")
    if uri is None and account is None:
        raise ConnectionSettingError(
            f"{what}: no connection named {name!r}: set {name} (a connection string) or, identity-based, "
            f"{name}__queueServiceUri (or {name}__accountName)")
    if uri is not None:
        parts = urlsplit(uri)
        secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)
        if not secure or not parts.hostname or parts.query or parts.fragment:
            raise ConnectionSettingError(f"{what}: {name}__queueServiceUri must be the account's https queue "
                                         f"endpoint, like https://account.queue.core.windows.net (got {uri!r})")
    else:
        assert account is not None
        if not ACCOUNT_NAME_RE.match(account):
            raise ConnectionSettingError(f"{what}: {name}__accountName must be a storage account name "
                                         f"(3-24 lowercase letters and digits; got {account!r})")
        uri = f"https://{account}.queue.core.windows.net"

    credential = setting(f"{name}__credential")
    if credential is not None and credential.lower() != "managedidentity":
        raise ConnectionSettingError(f"{what}: {name}__credential may only be 'managedidentity' (got {credential!r})")
    client_id = setting(f"{name}__clientId")
    if client_id is not None and credential is None:
        raise ConnectionSettingError(f"{what}: {name}__clientId needs {name}__credential=managedidentity")
    if client_id is not None and not GUID_RE.match(client_id):
        raise ConnectionSettingError(f"{what}: {name}__clientId must be the identity's client id, a GUID "
                                     f"(got {client_id!r})")
    return QueueConnection(name, queue_service_uri=uri, client_id=client_id, managed_identity=credential is not None)
