"""The app's requests session reads the proxy and CA-bundle environment once per host, and answers exactly as requests
itself would, including after the environment changes."""

from __future__ import annotations

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


def test_explicit_arguments_win_and_trust_env_off_is_honoured(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bridge-ca.pem")
    steady = new_session()
    assert steady.merge_environment_settings(URLS[0], {}, None, False, None)["verify"] is False
    steady.trust_env = False
    assert merged(steady, URLS[0])["verify"] is True
