"""The requests session every HTTP client of the app uses (Graph, and Blob Storage through azure-core's transport).

requests asks the environment for proxies and a CA bundle on every request: `get_environ_proxies` and then
`proxy_bypass` each walk all of os.environ, decoding every name and value. Profiled on the multi-tenant export that
is about a millisecond of CPU per call, a tenth of what one storage call costs us, on every one of the thousands of
calls a pass of many tenants makes. A Functions worker's environment is fixed for its lifetime (changing an app
setting restarts it), so this session asks once per scheme and host and keeps the answer, keyed by the variables
that decide it: a change to any of them (tests make them) is seen on the next request, as requests would see it.
"""

from __future__ import annotations

import os
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies

if TYPE_CHECKING:
    from azure.core.pipeline.transport import RequestsTransport

# What requests reads for an http(s) URL: the proxies of its scheme, `all`, the bypass list, and the CA bundle.
ENVIRONMENT_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                         "no_proxy", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _environment() -> tuple[str | None, ...]:
    return tuple(os.environ.get(name) for name in ENVIRONMENT_VARIABLES)


class SteadySession(requests.Session):
    """A requests.Session that reads the proxy and CA-bundle environment once per scheme and host."""

    def __init__(self) -> None:
        super().__init__()
        # requests' trust_env also means a ~/.netrc lookup on every request (two more stat calls), whose password
        # would then go to whichever host it names: these clients authenticate with tokens and keys, never netrc.
        self.trust_env = False
        self.read_environment = True  # proxies and CA bundle from the environment, as trust_env would
        self._environment_answers: dict[tuple[Any, ...], tuple[dict[str, str], str | None]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any,
                                   ) -> dict[str, Any]:
        if not self.read_environment:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        key = (parts.scheme, parts.netloc, no_proxy, _environment())
        answer = self._environment_answers.get(key)
        if answer is None:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            answer = (get_environ_proxies(url, no_proxy=no_proxy), bundle)
            if len(self._environment_answers) > 256:  # hosts are few; a changing environment must not grow it
                self._environment_answers.clear()
            self._environment_answers[key] = answer
        env_proxies, bundle = answer
        if proxies is not None:
            for name, value in env_proxies.items():
                proxies.setdefault(name, value)
        if verify is True or verify is None:
            verify = bundle or verify
        # The rest is requests' own merge, unchanged.
        return {"proxies": merge_setting(proxies, self.proxies), "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify), "cert": merge_setting(cert, self.cert)}


def new_session(pool_size: int = 16, *, retries: Any = 0) -> requests.Session:
    """A session with connection reuse and the environment read once. `retries`: urllib3's, off by default: the
    callers retry, each by its service's rules (Graph's in shared/graph/retry.py, azure-core's for storage).
    Cookies are refused: one session serves every tenant, and none of these APIs needs one (Entra ID's token
    endpoint sets some, which must not travel from one tenant's token request to the next)."""
    session = SteadySession()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=retries)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def azure_core_transport(pool_size: int = 16, **timeouts: float) -> RequestsTransport:
    """azure-core's requests transport on a session of ours (for the storage clients and azure-identity's
    credentials), with azure-core's own settings: urllib3's retries off (the pipeline's retry policy retries).
    `timeouts`: connection_timeout and read_timeout, when the caller sets its own."""
    from azure.core.pipeline.transport import RequestsTransport
    from urllib3.util.retry import Retry

    session = new_session(pool_size, retries=Retry(total=False, redirect=False, raise_on_status=False))
    return RequestsTransport(session=session, session_owner=False, **timeouts)
