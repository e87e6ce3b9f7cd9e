"""Keeping secrets that travel in URLs out of logs and error answers."""

from __future__ import annotations

import re

# Function keys (`code=`) and SAS signatures (`sig=`) in query strings. Graph can quote a notification URL back in
# an error message, and that URL carries the webhook's function key.
_SECRET_QUERY_VALUE = re.compile(r"(?i)\b(code|sig)(=|%3D)[^&\s\"'<>%]+(?:%[0-9a-f]{2}[^&\s\"'<>%]*)*")


def redact_url_secrets(text: str) -> str:
    return _SECRET_QUERY_VALUE.sub(r"\1\2***", text)
