"""Self-signed client certificates for tests of certificate credentials against the simulator's token endpoint."""

from __future__ import annotations

import datetime as dt
from pathlib import Path


def make_certificate(directory: Path, name: str) -> tuple[Path, bytes, bytes]:
    """A new RSA key and a self-signed certificate: (PEM file with key and certificate, certificate PEM, that
    file's bytes)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path = directory / f"{name}.pem"
    path.write_bytes(key_pem + pem)
    return path, pem, key_pem + pem
