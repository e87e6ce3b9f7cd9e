"""Graph tokens from azure-identity, by the auth mode the settings choose.

One credential per tenant and process: azure-identity caches tokens inside the credential, so reusing it across
invocations of a warm worker avoids a token request per run.

managed_identity_federation: a multi-tenant app registration whose only credential is a federated identity credential
trusting the function app's user-assigned managed identity. A token for a customer tenant is the client-credentials
grant of that app in that tenant, with the managed identity's token for `api://AzureADTokenExchange` as the client
assertion (azure-identity's ClientAssertionCredential). Nothing secret is stored anywhere: the managed identity's
token comes from the host's identity endpoint and lives minutes.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.process_cache import ProcessCache

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

# Returns a signed JWT to present as the client assertion (called whenever a token is needed; it may cache).
AssertionSource = Callable[[], str]

_lock = threading.Lock()  # guards _assertion_factory
_credentials: ProcessCache[tuple[str, ...], TokenCredential] = ProcessCache("Graph credentials per identity and tenant")
_assertion_factory: Callable[[Settings], AssertionSource] | None = None
_transports: ProcessCache[str, Any] = ProcessCache("the token requests' transport")


def managed_identity_assertion(settings: Settings) -> AssertionSource:
    """The managed identity's token for the cloud's token-exchange audience (ManagedIdentityCredential caches it)."""
    from azure.identity import ManagedIdentityCredential

    identity = ManagedIdentityCredential(client_id=settings.federated_identity_client_id)
    scope = f"{settings.cloud.federation_audience}/.default"
    return lambda: identity.get_token(scope).token


def use_assertion_source(factory: Callable[[Settings], AssertionSource] | None) -> None:
    """Where no managed identity endpoint exists (the local stack, tests): take the assertion from `factory`
    instead; None goes back to the managed identity. Cached credentials are dropped."""
    global _assertion_factory
    with _lock:
        _assertion_factory = factory
        _credentials.clear()


def _identity_transport() -> Any:
    """One transport for the token requests of every tenant's credential. Each credential would otherwise open its
    own connection (a TLS handshake) to the authority for its tenant's discovery and token: profiled, a fifth of a
    queue worker's CPU on a first pass over many tenants."""
    from shared.http_session import azure_core_transport

    return _transports.get_or_create("identity", lambda: azure_core_transport(16))


def _certificate_bytes(value: str) -> bytes:
    """PEM text as it is, or base64 PKCS#12 (what a Key Vault certificate reference yields) decoded."""
    if "-----BEGIN" in value:
        return value.encode()
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("GRAPH_CLIENT_CERTIFICATE is neither PEM text nor base64 PKCS#12") from None


def build_credential(settings: Settings, tenant_id: str) -> TokenCredential:
    """A new credential for one tenant. Imports azure.identity lazily: the webhook path must not pay for it."""
    from azure import identity

    authority: dict[str, Any] = {
        "authority": settings.authority_host,
        "disable_instance_discovery": settings.disable_instance_discovery,
        "transport": _identity_transport(),
    }
    if settings.auth_mode == "managed_identity":
        # The managed identity endpoint of the host decides the cloud; authority does not apply.
        return identity.ManagedIdentityCredential(client_id=settings.client_id or None)
    if settings.auth_mode == "client_secret":
        return identity.ClientSecretCredential(tenant_id, settings.client_id, settings.client_secret, **authority)
    if settings.auth_mode == "certificate":
        if settings.client_certificate_path:
            return identity.CertificateCredential(
                tenant_id, settings.client_id, certificate_path=settings.client_certificate_path, **authority
            )
        return identity.CertificateCredential(
            tenant_id, settings.client_id, certificate_data=_certificate_bytes(settings.client_certificate), **authority
        )
    if settings.auth_mode == "managed_identity_federation":
        factory = _assertion_factory or managed_identity_assertion
        return identity.ClientAssertionCredential(tenant_id, settings.client_id, factory(settings), **authority)
    if settings.auth_mode == "workload_identity":
        return identity.WorkloadIdentityCredential(
            tenant_id=tenant_id,
            client_id=settings.client_id,
            token_file_path=settings.federated_token_file or None,
            **authority,
        )
    raise ValueError(f"GRAPH_AUTH_MODE={settings.auth_mode!r} is not supported")


def credential_for(settings: Settings, tenant_id: str) -> TokenCredential:
    """The process-wide credential for (settings identity, tenant), created on first use."""
    key = (settings.auth_mode, settings.authority_host, settings.client_id, tenant_id)
    return _credentials.get_or_create(key, lambda: build_credential(settings, tenant_id))


def renewed_credential(settings: Settings, tenant_id: str, stale: TokenCredential) -> TokenCredential:
    """A credential whose next token is newly acquired, in place of `stale`, after Graph refused stale's token.

    azure-identity has no "force refresh" for these credentials: a token is served from the credential's cache until
    it nears expiry, so one that Graph refuses (consent revoked and granted again, a rotated secret, a role added
    after it was issued) would keep failing for up to an hour. A new credential starts with an empty cache. If
    another caller already replaced `stale`, its replacement is returned: one renewal per refusal, not one per call.
    (A managed identity's endpoint keeps its own cache, which this cannot clear.)"""
    key = (settings.auth_mode, settings.authority_host, settings.client_id, tenant_id)
    return _credentials.replace_unless_changed(key, stale, lambda: build_credential(settings, tenant_id))
