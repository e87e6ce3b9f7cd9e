"""Output bindings: `func.Out`, `%SETTING%` expressions, the queue output and message encoding."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func

from local.connections import QueueConnection, queue_connection

OutputHandler = Callable[[dict[str, Any], Any, Mapping[str, str]], None]




class Out(func.Out):
    def __init__(self) -> None:
        self._value: Any = None
        self.is_set = False

    def set(self, val: Any) -> None:
        self._value = val
        self.is_set = True

    def get(self) -> Any:
        return self._value


def resolve_expressions(value: Any, env: Mapping[str, str]) -> Any:
    """`%NAME%` binding expressions replaced by app settings, as the host does."""
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in env:
            return env[name]
        if name in os.environ:
            return os.environ[name]
        raise KeyError(f"binding expression %{name}% names an app setting that is not set")

    return re.sub(r"%([^%]+)%", lookup, value)


def app_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The app settings the host sees: the process environment overlaid by the dev host's own."""
    return {**os.environ, **env}


def queue_name(binding: dict[str, Any], env: Mapping[str, str]) -> str:
    """The binding's queue, `%SETTING%` resolved and lower-cased (the host coerces queue names to lower case)."""
    return str(resolve_expressions(binding.get("queueName") or binding.get("queue_name"), env)).lower()


class QueueOutput:
    """The `queue` output binding: messages to an Azure Storage queue named by the binding, created if missing."""

    def __init__(self, encoding: str = "base64") -> None:
        self.encoding = encoding
        self._created: set[tuple[QueueConnection, str]] = set()
        self._lock = threading.Lock()

    def __call__(self, binding: dict[str, Any], value: Any, env: Mapping[str, str]) -> None:
        from azure.core.exceptions import ResourceExistsError

        connection = queue_connection(binding.get("connection"), app_settings(env),
                                      f"queue output {binding['name']!r}")
        queue = queue_name(binding, env)
        client = connection.queue(queue)
        with self._lock:
            if (connection, queue) not in self._created:
                with contextlib.suppress(ResourceExistsError):
                    client.create_queue()
                self._created.add((connection, queue))
        for message in value if isinstance(value, list) else [value]:
            if isinstance(message, func.QueueMessage):
                data = message.get_body()
            elif isinstance(message, bytes):
                data = message
            elif isinstance(message, str):
                data = message.encode()
            else:
                data = json.dumps(message).encode()
            client.send_message(encode_message(data, self.encoding))


def encode_message(data: bytes, encoding: str) -> str:
    """A message body as queue message text per host.json `messageEncoding`."""
    return base64.b64encode(data).decode() if encoding == "base64" else data.decode()


def decode_message(text: str, encoding: str) -> bytes:
    """Queue message text as the body the function gets; ValueError if it is not valid for the encoding."""
    if encoding == "base64":
        return base64.b64decode(text, validate=True)
    return text.encode()
