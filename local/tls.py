"""Local TLS material for the development stack (dev/test only).

azure-identity refuses an ``http://`` authority, so the Graph simulator (which also serves the token endpoint) has to
speak HTTPS. This module makes a small private CA and a server certificate for the loopback names, and a CA bundle
(system roots + the local CA) that ``REQUESTS_CA_BUNDLE`` can point at.

Files are reused while they are valid; two processes calling :func:`ensure_local_tls` at once are safe (a lock file
serialises the check-and-create, and every file is written to a temporary name and moved into place).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TLS_DIR = _REPO_ROOT / ".local" / "tls"

_CA_NAME = "Graph Security Bridge local dev CA"
_CA_DAYS = 3650
_SERVER_DAYS = 397
# Regenerate well before expiry so a long test session never meets an expired certificate.
_MIN_REMAINING = dt.timedelta(days=7)
_SERVER_IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
_SERVER_DNS = ("localhost",)
_SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class LocalTls:
    """Paths of the local TLS material; see :func:`ensure_local_tls`."""

    directory: Path
    ca_cert_path: Path
    server_cert_path: Path
    server_key_path: Path
    ca_bundle_path: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context with the loopback certificate (TLS 1.2+, HTTP/1.1 via ALPN)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.server_cert_path), str(self.server_key_path))
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx


def ensure_local_tls(directory: Path | None = None) -> LocalTls:
    """Return valid local TLS material in ``directory`` (default ``<repo>/.local/tls``), creating it if needed."""
    directory = Path(directory) if directory is not None else DEFAULT_TLS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    tls = LocalTls(
        directory=directory,
        ca_cert_path=directory / "ca.pem",
        server_cert_path=directory / "server.pem",
        server_key_path=directory / "server-key.pem",
        ca_bundle_path=directory / "ca-bundle.pem",
    )
    with _directory_lock(directory):
        if not _material_valid(tls):
            _create_material(tls)
        if not _bundle_valid(tls):
            _write_bundle(tls)
    return tls


# --- validity checks -------------------------------------------------------------------------------------------------


def _material_valid(tls: LocalTls) -> bool:
    try:
        ca = x509.load_pem_x509_certificate(tls.ca_cert_path.read_bytes())
        server = x509.load_pem_x509_certificate(tls.server_cert_path.read_bytes())
        key = serialization.load_pem_private_key(tls.server_key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    now = dt.datetime.now(dt.UTC)
    for cert in (ca, server):
        if cert.not_valid_after_utc - now < _MIN_REMAINING or cert.not_valid_before_utc > now:
            return False
    if server.issuer != ca.subject:
        return False
    ca_public = ca.public_key()
    if not isinstance(ca_public, ec.EllipticCurvePublicKey) or server.signature_hash_algorithm is None:
        return False
    try:
        ca_public.verify(server.signature, server.tbs_certificate_bytes, ec.ECDSA(server.signature_hash_algorithm))
    except InvalidSignature:
        return False
    if key.public_key().public_bytes(*_SPKI) != server.public_key().public_bytes(*_SPKI):
        return False
    try:
        san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return set(_SERVER_IPS) <= set(san.get_values_for_type(x509.IPAddress)) and set(_SERVER_DNS) <= set(
        san.get_values_for_type(x509.DNSName)
    )


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _bundle_valid(tls: LocalTls) -> bool:
    try:
        bundle = tls.ca_bundle_path.read_bytes()
        ca_pem = tls.ca_cert_path.read_bytes()
    except OSError:
        return False
    return ca_pem.strip() in bundle and len(bundle) > len(ca_pem) + 100


# --- creation --------------------------------------------------------------------------------------------------------


def _create_material(tls: LocalTls) -> None:
    """A fresh CA and server certificate. The CA key is not kept: when anything expires, both are remade."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # tolerate small clock skew between processes
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CA_NAME)])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.IPAddress(ip) for ip in _SERVER_IPS]
    sans += [x509.DNSName(name) for name in _SERVER_DNS]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=_SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        # Python 3.13 verifies with VERIFY_X509_STRICT, which wants an AKI on leaf certificates.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    no_enc = serialization.NoEncryption()
    # Key first: a reader that sees the new certificate must also find the matching key.
    _atomic_write(tls.server_key_path, server_key.private_bytes(pem, pkcs8, no_enc), private=True)
    _atomic_write(tls.ca_cert_path, ca_cert.public_bytes(pem))
    _atomic_write(tls.server_cert_path, server_cert.public_bytes(pem))
    _write_bundle(tls)


def _system_bundle() -> bytes:
    try:
        import certifi

        return Path(certifi.where()).read_bytes()
    except (ImportError, OSError):
        pass
    try:
        return _SYSTEM_BUNDLE.read_bytes()
    except OSError:
        return b""


def _write_bundle(tls: LocalTls) -> None:
    system = _system_bundle().rstrip(b"\n")
    ca_pem = tls.ca_cert_path.read_bytes()
    content = (system + b"\n\n# " + _CA_NAME.encode() + b"\n" + ca_pem) if system else ca_pem
    _atomic_write(tls.ca_bundle_path, content)


def _atomic_write(path: Path, data: bytes, *, private: bool = False) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if private:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory/.lock`` (flock on POSIX; without fcntl, atomic writes are the only guard)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(directory / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
