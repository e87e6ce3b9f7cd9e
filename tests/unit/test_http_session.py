"""The app's requests session reads the proxy and CA-bundle environment once per host, and answers exactly as requests
itself would, including after the environment changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.http_session import ENVIRONMENT_VARIABLES, SteadySession, new_session

URLS = ("https://graph.microsoft.com/v1.0/security/alerts_v2", "http://127.0.0.1:10000/devstoreaccount1/state",
        "https://login.microsoftonline.com/tenant/oauth2/v2.0/token")

ENVIRONMENTS = [
    {},
    {"REQUESTS_CA_BUNDLE": "/etc/ssl/local-ca.pem"},
    {"CURL_CA_BUNDLE": "/etc/ssl/curl-ca.pem"},
    {"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "127.0.0.1,localhost"},
    {"https_proxy": "http://proxy.corp:3128", "http_proxy": "http://proxy.corp:3129",
     "no_proxy": "graph.microsoft.com"},
    {"ALL_PROXY": "http://all.corp:8080"},
]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def merged(session: requests.Session, url: str) -> dict[str, object]:
    return session.merge_environment_settings(url, {}, None, None, None)


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda e: ",".join(e) or "empty")
def test_answers_as_requests_does(clean_environment: pytest.MonkeyPatch, environment: dict[str, str]) -> None:
    for name, value in environment.items():
        clean_environment.setenv(name, value)
    steady = SteadySession()
    for url in URLS:
        for _ in range(2):  # the second answer comes from the cache
            assert merged(steady, url) == merged(requests.Session(), url), url


def test_a_changed_environment_is_seen_on_the_next_request(clean_environment: pytest.MonkeyPatch) -> None:
    steady = SteadySession()
    url = URLS[0]
    assert merged(steady, url)["verify"] is True
    clean_environment.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bridge-ca.pem")
    assert merged(steady, url)["verify"] == "/etc/ssl/bridge-ca.pem"
    clean_environment.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert merged(steady, url)["proxies"] == {"https": "http://proxy.corp:3128"}
    clean_environment.delenv("HTTPS_PROXY")
    clean_environment.delenv("REQUESTS_CA_BUNDLE")
    assert merged(steady, url) == merged(requests.Session(), url)


def test_the_environment_is_read_once_per_host(clean_environment: pytest.MonkeyPatch,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import shared.http_session as module

    reads: list[str] = []
    real = module.get_environ_proxies

    def counting(url: str, no_proxy: str | None = None) -> dict[str, str]:
        reads.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(module, "get_environ_proxies", counting)
    steady = SteadySession()
    for _ in range(5):
        for url in URLS:
            merged(steady, url)
    assert len(reads) == len(URLS)


def test_explicit_arguments_win_and_the_environment_can_be_ignored(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bridge-ca.pem")
    steady = new_session()
    assert steady.merge_environment_settings(URLS[0], {}, None, False, None)["verify"] is False
    assert isinstance(steady, SteadySession)
    steady.read_environment = False
    assert merged(steady, URLS[0])["verify"] is True


class RecordingServer:
    """A loopback HTTP server that sets a cookie on every answer and records the headers of what it gets."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[dict[str, str]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                received.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Set-Cookie", "fpc=tenant-a-session; Path=/")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/token"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    running = RecordingServer()
    yield running
    running.close()


def test_cookies_a_server_sets_are_not_sent_back(server: RecordingServer) -> None:
    """One session serves every tenant: a cookie from one tenant's token request must not ride along on the next."""
    with new_session() as session:
        for _ in range(2):
            assert session.get(server.url, timeout=5).status_code == 200
        assert len(session.cookies) == 0
    assert [headers.get("Cookie") for headers in server.received] == [None, None]
    with requests.Session() as plain:  # the same server with requests' default policy does get it back
        plain.get(server.url, timeout=5)
        plain.get(server.url, timeout=5)
    assert server.received[-1].get("Cookie") == "fpc=tenant-a-session"


def test_a_netrc_password_is_never_sent(server: RecordingServer, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-for-graph\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with new_session() as session:
        session.get(server.url, timeout=5)
    assert "Authorization" not in server.received[-1]
    with requests.Session() as plain:  # requests' default would send it
        plain.get(server.url, timeout=5)
    assert server.received[-1]["Authorization"].startswith("Basic ")
