"""GRAPH_AUTH_MODE=managed_identity_federation against the simulator's token endpoint: azure-identity's
ClientAssertionCredential presents a managed-identity-style assertion (signed JWT, issuer = the home tenant, subject =
the identity's object id, audience = api://AzureADTokenExchange) in each customer tenant; the simulator accepts it only
when it matches the app's federated identity credential and the issuer's key signed it, as Entra does."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.export_check import read_export
from shared.export.engine import ExportEngine
from shared.graph.credentials import use_assertion_source
from shared.settings import SettingsError, load_settings
from shared.storage.clients import blob_service

HOME_TENANT = "0f0e0d0c-0b0a-4998-8776-655443322110"
ISSUER = f"https://login.microsoftonline.com/{HOME_TENANT}/v2.0"
AUDIENCE = "api://AzureADTokenExchange"
IDENTITY_OBJECT_ID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
IDENTITY_CLIENT_ID = "7d6c5b4a-3928-4716-a5b4-c3d2e1f0a9b8"


class ManagedIdentityLookalike:
    """What the managed identity endpoint hands out: a short-lived RS256 token for the exchange audience."""

    def __init__(self, subject: str = IDENTITY_OBJECT_ID) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.subject = subject
        self.calls = 0
        self.settings_seen: list[str] = []

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    def factory(self, settings):
        self.settings_seen.append(settings.federated_identity_client_id)

        def assertion() -> str:
            self.calls += 1
            now = int(time.time())
            return jwt.encode({"iss": ISSUER, "sub": self.subject, "aud": settings.cloud.federation_audience,
                               "iat": now, "nbf": now, "exp": now + 600, "jti": str(uuid.uuid4())},
                              self.key, algorithm="RS256")

        return assertion


@pytest.fixture
def federation():
    identity = ManagedIdentityLookalike()
    use_assertion_source(identity.factory)
    yield identity
    use_assertion_source(None)


def federated_settings(app_settings, sim, **overrides):
    return app_settings(sim, GRAPH_AUTH_MODE="managed_identity_federation", GRAPH_CLIENT_SECRET="",
                        GRAPH_FEDERATED_IDENTITY_CLIENT_ID=IDENTITY_CLIENT_ID, EXPORT_INITIAL_LOOKBACK_DAYS="30",
                        **overrides)


def test_each_customer_tenant_gets_its_token_through_the_federated_credential(make_sim, app_settings, federation):
    sim = make_sim(tenants=2, alerts=40, seed=31)
    sim.add_federated_credential(ISSUER, IDENTITY_OBJECT_ID, AUDIENCE, federation.public_pem)
    settings = federated_settings(app_settings, sim)
    assert settings.client_secret == "" and settings.client_certificate == ""  # nothing stored

    summaries = ExportEngine(settings).run_all(streams=("alerts",))
    assert [s.status for s in summaries] == ["ok", "ok"], [s.error for s in summaries]
    exports = blob_service(settings).get_container_client(settings.export_container)
    for tenant in sim.tenants:
        contents = read_export(exports, "alerts", tenant)
        assert contents.duplicates == [] and len(contents.records) == 40
    assert sim.token_requests == 2  # one client-assertion grant per tenant; the token is cached after that
    assert federation.calls == 2 and set(federation.settings_seen) == {IDENTITY_CLIENT_ID}


def test_an_assertion_the_credential_does_not_match_is_refused_with_aadsts70021(make_sim, app_settings):
    sim = make_sim(tenants=1, alerts=5, seed=32)
    stranger = ManagedIdentityLookalike(subject=str(uuid.uuid4()))  # another identity: not the app's credential
    trusted = ManagedIdentityLookalike()
    sim.add_federated_credential(ISSUER, IDENTITY_OBJECT_ID, AUDIENCE, trusted.public_pem)
    use_assertion_source(stranger.factory)
    try:
        (summary,) = ExportEngine(federated_settings(app_settings, sim)).run_all(streams=("alerts",))
    finally:
        use_assertion_source(None)
    assert summary.status == "failed" and "AADSTS70021" in summary.error


def test_the_right_claims_signed_by_another_key_are_refused(make_sim, app_settings, federation):
    sim = make_sim(tenants=1, alerts=5, seed=33)
    sim.add_federated_credential(ISSUER, IDENTITY_OBJECT_ID, AUDIENCE, ManagedIdentityLookalike().public_pem)
    (summary,) = ExportEngine(federated_settings(app_settings, sim)).run_all(streams=("alerts",))
    assert summary.status == "failed" and "AADSTS700027" in summary.error


def test_the_mode_needs_the_user_assigned_identity(make_sim, app_settings):
    sim = make_sim(tenants=1, alerts=5)
    base = dict(app_settings(sim).__dict__)  # a valid configuration, to show only the identity is missing
    env = {"GRAPH_TENANT_IDS": ",".join(base["tenant_ids"]), "GRAPH_AUTH_MODE": "managed_identity_federation",
           "GRAPH_CLIENT_ID": sim.client_id, "BRIDGE_STORAGE": base["storage_connection_string"]}
    with pytest.raises(SettingsError) as error:
        load_settings(env)
    (problem,) = error.value.problems
    assert "GRAPH_FEDERATED_IDENTITY_CLIENT_ID is missing" in problem
    settings = load_settings({**env, "GRAPH_FEDERATED_IDENTITY_CLIENT_ID": IDENTITY_CLIENT_ID, "GRAPH_CLOUD": "USGov"})
    assert settings.cloud.federation_audience == "api://AzureADTokenExchangeUSGov"
