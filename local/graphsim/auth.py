"""The Entra ID (AAD v2.0) endpoints MSAL/azure-identity need for the client-credentials flow, and token checks.

- ``GET /{tenant}/v2.0/.well-known/openid-configuration``
- ``POST /{tenant}/oauth2/v2.0/token`` with ``grant_type=client_credentials``, ``client_id``, ``scope`` ending in
  ``/.default``, and ``client_secret`` or a ``client_assertion`` JWT. A certificate assertion has iss = sub =
  client_id; its signature is checked against the registered certificates when there are any (with none registered
  it is not checked). Any other assertion must match a federated identity credential of the app (issuer, subject and
  audience exactly, as Entra matches them: AADSTS70021 otherwise) and be signed by that issuer's key.

Tokens are opaque random strings mapped to (tenant, client, expiry); Graph requests validate against that map.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_IGNORED_SCOPES = {"openid", "profile", "offline_access"}


@dataclass(frozen=True)
class FederatedCredential:
    issuer: str
    subject: str
    audience: str
    key: Any  # the issuer's public signing key


@dataclass(frozen=True)
class TokenInfo:
    tenant: str
    client_id: str
    expires_at: float  # time.time()


class TokenError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class FederationMismatch(TokenError):
    """No federated identity credential of the app matches the assertion (AADSTS70021)."""


def _aad_error(status: int, error: str, code: int, description: str) -> tuple[int, dict[str, Any]]:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\n"
        f"Timestamp: {now}",
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": correlation,
    }


class TokenService:
    def __init__(
        self,
        tenants: tuple[str, ...],
        client_id: str,
        client_secret: str,
        expires_in: int,
        certificates: tuple[str, ...] = (),
    ):
        self.tenants = set(tenants)
        # Tenants whose admin has not consented: the app has no service principal there, so Entra does not know it.
        self.unconsented: set[str] = set()
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self._certificates: list[Any] = []
        for pem in certificates:
            self.register_certificate(pem)
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenInfo] = {}
        self.federated: list[FederatedCredential] = []
        self.requests = 0  # every POST to a token endpoint, successful or not

    def register_certificate(self, pem: str | bytes) -> None:
        from cryptography import x509

        data = pem.encode() if isinstance(pem, str) else pem
        self._certificates.append(x509.load_pem_x509_certificate(data).public_key())

    def add_federated_credential(self, issuer: str, subject: str, audience: str, public_key_pem: str | bytes) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        data = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        self.federated.append(FederatedCredential(issuer, subject, audience, load_pem_public_key(data)))

    # --- discovery --------------------------------------------------------------------------------------------------

    def openid_configuration(self, base_url: str, tenant: str) -> tuple[int, dict[str, Any]]:
        if tenant not in self.tenants:
            return _aad_error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you "
                "have the correct tenant ID and are signing into the correct cloud.",
            )
        root = f"{base_url}/{tenant}"
        return 200, {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{root}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base_url}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "graphsim.local",
        }

    # --- token ------------------------------------------------------------------------------------------------------

    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
        if tenant not in self.tenants:
            return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type "
                f"'{form.get('grant_type', '')}'; this simulator supports client_credentials only.",
            )
        for required in ("client_id", "scope"):
            if not form.get(required):
                return _aad_error(
                    400,
                    "invalid_request",
                    900144,
                    f"The request body must contain the following parameter: '{required}'.",
                )
        client_id = form["client_id"]
        if client_id != self.client_id or tenant in self.unconsented:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or consented "
                "to by any user in the tenant.",
            )
        scopes = [s for s in form["scope"].split() if s not in _IGNORED_SCOPES]
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return _aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {form['scope']} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        problem = self._client_authentication(tenant, client_id, form)
        if problem is not None:
            return problem
        token = secrets.token_urlsafe(48)
        now = time.time()
        with self._lock:
            if len(self._tokens) > 10_000:  # long runs with short-lived tokens: forget the expired ones
                self._tokens = {t: i for t, i in self._tokens.items() if i.expires_at > now}
            self._tokens[token] = TokenInfo(tenant, client_id, now + self.expires_in)
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": token,
        }

    def _client_authentication(
        self, tenant: str, client_id: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]] | None:
        if "client_secret" in form:
            if secrets.compare_digest(form["client_secret"], self.client_secret):
                return None
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                f"client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return _aad_error(400, "invalid_request", 50027, "Invalid client_assertion_type.")
            try:
                self._check_assertion(form["client_assertion"], client_id)
            except FederationMismatch as exc:
                return _aad_error(400, "invalid_request", 70021, exc.message)
            except TokenError as exc:
                return _aad_error(401, "invalid_client", 700027, f"Client assertion failed validation: {exc.message}")
            return None
        return _aad_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )

    def _check_assertion(self, assertion: str, client_id: str) -> None:
        import jwt

        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise TokenError(f"not a JWT ({exc})") from None
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            self._check_federated(assertion, claims)
            return
        if "exp" in claims and float(claims["exp"]) < time.time():
            raise TokenError("the assertion has expired")
        if not self._certificates:
            return  # nothing registered: the signature is not checked (documented simplification)
        for key in self._certificates:
            try:
                jwt.decode(
                    assertion,
                    key=key,
                    algorithms=["RS256", "PS256", "ES256"],
                    options={"verify_aud": False, "verify_exp": False},
                )
                return
            except jwt.PyJWTError:
                continue
        raise TokenError("the signature matches no registered certificate")

    def _check_federated(self, assertion: str, claims: dict[str, Any]) -> None:
        import jwt

        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        match = next((f for f in self.federated if f.issuer == claims.get("iss") and f.subject == claims.get("sub")
                      and f.audience in audiences), None)
        if match is None:
            raise FederationMismatch(
                "No matching federated identity record found for presented assertion. Assertion Issuer: "
                f"'{claims.get('iss')}'. Assertion Subject: '{claims.get('sub')}'. Assertion Audience: "
                f"'{','.join(audiences)}'.")
        try:
            jwt.decode(assertion, key=match.key, algorithms=["RS256"], audience=match.audience,
                       options={"require": ["exp"]})
        except jwt.PyJWTError as exc:
            raise TokenError(f"the federated assertion is not valid: {exc}") from None

    # --- validation -------------------------------------------------------------------------------------------------

    def validate(self, authorization: str | None) -> TokenInfo:
        """The token behind an ``Authorization`` header; raises TokenError with Graph's message otherwise."""
        if not authorization:
            raise TokenError("Access token is empty.")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenError("Access token is empty.")
        with self._lock:
            info = self._tokens.get(token.strip())
        if info is None:
            raise TokenError("Invalid access token.")  # Graph: "IDX14100: JWT is not well formed..."
        if info.expires_at <= time.time():
            raise TokenError("Lifetime validation failed, the token is expired.")
        return info

    def tenant_of(self, authorization: str | None) -> str | None:
        """The tenant of a still-valid token, or None (for logging requests that never reach validation)."""
        try:
            return self.validate(authorization).tenant
        except TokenError:
            return None

    def expire_all(self) -> None:
        """Make every issued token expired (tests of 401-then-refresh)."""
        with self._lock:
            self._tokens = {t: TokenInfo(i.tenant, i.client_id, 0.0) for t, i in self._tokens.items()}
