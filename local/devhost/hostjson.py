"""The settings the dev host takes from host.json, with the Functions host's defaults."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST_JSON = REPO / "host.json"
MAX_QUEUE_BATCH = 32  # the most messages one Get Messages call returns (a Storage limit)


def route_prefix(host_json: Path = HOST_JSON) -> str:
    try:
        config = json.loads(host_json.read_text())
    except FileNotFoundError:
        return "api"
    return str(config.get("extensions", {}).get("http", {}).get("routePrefix", "api")).strip("/")


def timespan_seconds(text: str) -> float:
    """A .NET TimeSpan as host.json writes it ("hh:mm:ss", "d.hh:mm:ss", "hh:mm:ss.fff", "hh:mm") in seconds."""
    match = re.fullmatch(r"\s*(?:(\d+)\.)?(\d+):(\d+)(?::(\d+(?:\.\d+)?))?\s*", text)
    if match is None:
        raise ValueError(f"{text!r} is not a TimeSpan (hh:mm:ss)")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds or 0)


@dataclass(frozen=True)
class QueueSettings:
    """host.json `extensions.queues`, with the Functions host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0  # seconds before a failed message is visible again
    message_encoding: str = "base64"


def queue_settings(host_json: Path = HOST_JSON) -> QueueSettings:
    try:
        config = json.loads(host_json.read_text())
    except FileNotFoundError:
        config = {}
    queues = config.get("extensions", {}).get("queues", {})
    batch_size = max(1, min(MAX_QUEUE_BATCH, int(queues.get("batchSize", 16))))
    return QueueSettings(
        batch_size=batch_size,
        new_batch_threshold=max(0, int(queues.get("newBatchThreshold", batch_size // 2))),
        max_dequeue_count=max(1, int(queues.get("maxDequeueCount", 5))),
        visibility_timeout=timespan_seconds(str(queues.get("visibilityTimeout", "00:00:00"))),
        message_encoding=str(queues.get("messageEncoding", "base64")).lower(),
    )
