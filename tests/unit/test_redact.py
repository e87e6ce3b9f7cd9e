"""Secrets in URLs (function keys, SAS signatures) never reach a log or an error answer, however they are encoded."""

import pytest

from shared.redact import redact_url_secrets

SECRET = "Zm9vYmFyLXNlY3JldA"


@pytest.mark.parametrize("text", [
    f"https://app/api/webhooks/notifications?code={SECRET}&x=1",
    f"https://app/api/x?CODE={SECRET}",
    f"https://blob/c/b?sv=2024&sig={SECRET}%3D&se=2026",
    f"https://app/api/x?code%3D{SECRET}",  # the = encoded
    f"url%3Fa%3D1%26code%3D{SECRET}%26b%3D2",  # a URL inside a query string
    f"url%253Fa%253D1%2526code%253D{SECRET}",  # ...encoded twice
    f"https://app/api/x?%63ode={SECRET}",  # the key's letters encoded
    f"https://app/api/x?co%64e%3D{SECRET}",
    f"https://app/api/x?%2573ig%253D{SECRET}",  # the key's letters encoded twice
    f'{{"notificationUrl":"https://app/api/x?code\\u003d{SECRET}"}}',  # JSON text
    f'"https://app/api/x?code\\\\u003d{SECRET}"',  # JSON inside JSON
    f"https://app/api/x?code=%2F{SECRET}",  # a value that starts encoded
])
def test_encoded_secrets_are_redacted(text):
    redacted = redact_url_secrets(text)
    assert SECRET not in redacted and "***" in redacted


@pytest.mark.parametrize("text", ["barcode=12345", "episode=3", "unicode=yes", "the code is fine"])
def test_words_that_merely_contain_a_key_are_left_alone(text):
    assert redact_url_secrets(text) == text
