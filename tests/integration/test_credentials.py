"""The product's credential factory (shared/graph/credentials.py) against the simulator's token endpoint, per auth mode,
through azure-identity: what the app does in Azure, with the same settings."""

from __future__ import annotations

import base64

import pytest

from shared.graph.credentials import build_credential
from tests.integration.certificates import make_certificate


def test_client_secret(make_sim, app_settings):
    sim = make_sim(alerts=1)
    credential = build_credential(app_settings(sim), sim.tenants[0])
    assert credential.get_token(f"{sim.base_url}/.default").token


@pytest.mark.parametrize("form", ["pem text", "pem file", "pkcs12 base64"])
def test_certificate_in_each_form_the_settings_accept(make_sim, app_settings, tmp_path, form):
    from cryptography.hazmat.primitives.serialization import (
        NoEncryption,
        load_pem_private_key,
        pkcs12,
    )
    from cryptography.x509 import load_pem_x509_certificate

    path, cert_pem, both = make_certificate(tmp_path, "bridge")
    sim = make_sim(alerts=1, client_certificates=(cert_pem.decode(),))
    if form == "pem text":
        overrides = {"GRAPH_CLIENT_CERTIFICATE": both.decode()}
    elif form == "pem file":
        overrides = {"GRAPH_CLIENT_CERTIFICATE_PATH": str(path)}
    else:
        key = load_pem_private_key(both, password=None)
        bundle = pkcs12.serialize_key_and_certificates(b"bridge", key, load_pem_x509_certificate(cert_pem), None,
                                                       NoEncryption())  # type: ignore[arg-type]
        overrides = {"GRAPH_CLIENT_CERTIFICATE": base64.b64encode(bundle).decode()}
    settings = app_settings(sim, GRAPH_AUTH_MODE="certificate", GRAPH_CLIENT_SECRET="", **overrides)
    credential = build_credential(settings, sim.tenants[0])
    assert credential.get_token(f"{sim.base_url}/.default").token


def test_a_certificate_the_tenant_does_not_know_is_refused(make_sim, app_settings, tmp_path):
    from azure.core.exceptions import ClientAuthenticationError

    _, known, _ = make_certificate(tmp_path, "known")
    _, _, unknown = make_certificate(tmp_path, "unknown")
    sim = make_sim(alerts=1, client_certificates=(known.decode(),))
    settings = app_settings(sim, GRAPH_AUTH_MODE="certificate", GRAPH_CLIENT_SECRET="",
                            GRAPH_CLIENT_CERTIFICATE=unknown.decode())
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        build_credential(settings, sim.tenants[0]).get_token(f"{sim.base_url}/.default")
