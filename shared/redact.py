"""Keeping secrets that travel in URLs out of logs and error answers."""

from __future__ import annotations

import re


def _spelled(word: str) -> str:
    """A regex for `word` as it can appear in a URL that was encoded once or twice, or in JSON text: each letter
    as itself, %XX, %25XX (encoded twice) or \\u00XX."""
    return "".join(f"(?:{ch}|%{ord(ch):02x}|%25{ord(ch):02x}|\\\\+u00{ord(ch):02x})" for ch in word)


# Function keys (`code=`) and SAS signatures (`sig=`) in query strings. Graph can quote a notification URL back in
# an error message, and that URL carries the webhook's function key; a URL nested in another one arrives encoded
# (`%26code%3D`, or `code%253D` when encoded twice), and one inside JSON text as `code\u003d`.
_KEY = f"(?:{_spelled('code')}|{_spelled('sig')})"
_EQUALS = r"(?:=|%3d|%253d|\\+u003d)"
# Where a key can start: not inside a longer word, unless the word boundary is itself encoded (?, & as %XX).
_START = r"(?:(?<![0-9a-z])|(?<=%26)|(?<=%3f)|(?<=%2526)|(?<=%253f)|(?<=\\u0026))"
_VALUE = r"(?:[^&\s\"'<>%\\]|%[0-9a-f]{2}|\\+u[0-9a-f]{4})+"
_SECRET_QUERY_VALUE = re.compile(f"(?i){_START}({_KEY})({_EQUALS}){_VALUE}")


def redact_url_secrets(text: str) -> str:
    return _SECRET_QUERY_VALUE.sub(r"\1\2***", text)
