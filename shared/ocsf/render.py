"""One Graph object of an export stream -> one OCSF event.

The class tables (alerts.py, incidents.py, risk_detections.py, risky_users.py) say where each attribute comes from.
This module adds what every class shares: `metadata.version` (the EXPORT_OCSF_VERSION setting), `metadata.profiles`,
`metadata.tenant_uid` when the object does not carry its tenant, `unmapped` (the object's fields no row reads) and
`raw_data` (the whole Graph object as JSON text, so nothing Graph said is lost).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from shared.ocsf import alerts, incidents, risk_detections, risky_users
from shared.ocsf.table import Item, Row, apply, text, unmapped

log = logging.getLogger("graph_security_bridge.ocsf")

# The OCSF versions the mapping is checked against (tests validate every record against each).
SUPPORTED_VERSIONS = ("1.6.0", "1.7.0", "1.8.0")


@dataclass(frozen=True)
class ClassMapping:
    stream: str
    class_uid: int
    class_name: str  # OCSF's name, as the JSON Schema calls the class
    profiles: tuple[str, ...]
    table: tuple[Row, ...]

    @classmethod
    def of(cls, stream: str, module: ModuleType) -> ClassMapping:
        return cls(stream, module.CLASS_UID, module.CLASS_NAME, tuple(module.PROFILES), module.TABLE)


MAPPINGS: dict[str, ClassMapping] = {
    mapping.stream: mapping
    for mapping in (
        ClassMapping.of("alerts", alerts),
        ClassMapping.of("incidents", incidents),
        ClassMapping.of("riskDetections", risk_detections),
        ClassMapping.of("riskyUsers", risky_users),
    )
}


def raw_json(item: Item) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def render(stream: str, item: Item, *, version: str, tenant: str) -> dict[str, Any]:
    """The OCSF event of one exported Graph object. Total: any object of the stream renders (unknown enum members
    become Unknown or Other, missing fields leave their attributes out)."""
    mapping = MAPPINGS[stream]
    record = apply(mapping.table, item)
    metadata = record.setdefault("metadata", {})
    metadata["version"] = version
    metadata.setdefault("tenant_uid", tenant)
    if mapping.profiles:
        metadata["profiles"] = list(mapping.profiles)
    leftover = {**(unmapped(mapping.table, item) or {}), **record.get("unmapped", {})}
    if leftover:
        record["unmapped"] = leftover
    record["raw_data"] = raw_json(item)
    return record


def render_fallback(stream: str, item: Item, *, version: str, tenant: str, error: BaseException) -> dict[str, Any]:
    """A minimal event of the stream's class for an object the table could not render (a defect of ours, logged):
    the export goes on, and the object is still there whole in raw_data."""
    mapping = MAPPINGS[stream]
    identifier = text(item.get("id")) or "unknown"
    record: dict[str, Any] = {
        "category_uid": mapping.class_uid // 1000,
        "class_uid": mapping.class_uid,
        "activity_id": 99,
        "type_uid": mapping.class_uid * 100 + 99,
        "severity_id": 0,
        "time": 0,
        "metadata": {"version": version, "tenant_uid": tenant, "uid": identifier,
                     "product": {"name": "Microsoft Graph", "vendor_name": "Microsoft"}},
        "unmapped": {"bridgeRenderError": f"{type(error).__name__}: {error}"},
        "raw_data": raw_json(item),
    }
    if mapping.class_uid == 2004:
        record["finding_info"] = {"uid": identifier}
    elif mapping.class_uid == 2005:
        record.update(finding_info_list=[], status_id=0)
    elif mapping.class_uid == 5003:
        record["user"] = {"uid": identifier}
    return record


def render_page(stream: str, items: Sequence[Item], *, version: str, tenant: str) -> tuple[list[dict[str, Any]], int]:
    """(OCSF events, count of objects that needed the fallback)."""
    events, fallbacks = [], 0
    for item in items:
        try:
            events.append(render(stream, item, version=version, tenant=tenant))
        except Exception as exc:  # a mapping defect must not stop the export: keep the object, report it
            fallbacks += 1
            log.error("OCSF rendering of %s %s failed (%s); wrote a minimal event with raw_data", stream,
                      item.get("id"), exc)
            events.append(render_fallback(stream, item, version=version, tenant=tenant, error=exc))
    return events, fallbacks
