"""riskDetection (Entra ID Protection) -> OCSF Detection Finding (class 2004). One row per OCSF attribute."""

from __future__ import annotations

import json
from typing import Any

from shared.graph.versions import normalize_version
from shared.ocsf import evidence
from shared.ocsf.enums import RISK_LEVEL, RISK_SEVERITY, RISK_STATE
from shared.ocsf.table import Item, Row, compact, const, copy, derived, non_empty, text, timestamp, version_uid

CLASS_UID = 2004
CLASS_NAME = "detection_finding"
PROFILES: tuple[str, ...] = ()
ACTIVITY_CREATE, ACTIVITY_UPDATE, ACTIVITY_CLOSE = 1, 2, 3
CLOSED_STATES = frozenset({"remediated", "dismissed", "confirmedsafe"})


def activity_id(item: Item) -> int:
    """Close when the risk is remediated, dismissed or confirmed safe; Create for the detection's first version
    (detected == last updated); else Update."""
    if str(item.get("riskState", "")).lower() in CLOSED_STATES:
        return ACTIVITY_CLOSE
    detected, updated = normalize_version(item.get("detectedDateTime")), normalize_version(
        item.get("lastUpdatedDateTime"))
    return ACTIVITY_CREATE if detected and detected == updated else ACTIVITY_UPDATE


def user(item: Item) -> dict[str, Any] | None:
    name = text(item.get("userPrincipalName"))
    return compact({"uid": text(item.get("userId")), "name": name, "full_name": text(item.get("userDisplayName")),
                    "email_addr": name if name and "@" in name else None, "type_id": 1})


def src_endpoint(item: Item) -> dict[str, Any] | None:
    location: dict[str, Any] = item["location"] if isinstance(item.get("location"), dict) else {}
    return evidence.endpoint_of({"ipAddress": item.get("ipAddress"),
                                 "countryLetterCode": location.get("countryOrRegion"),
                                 "location": {"city": location.get("city"), "state": location.get("state")}})


def additional_info(item: Item) -> dict[str, Any] | None:
    """additionalInfo is a JSON string holding [{"Key": ..., "Value": ...}]: as an object for `unmapped`."""
    try:
        pairs = json.loads(item.get("additionalInfo") or "[]")
    except (TypeError, ValueError):
        return None
    if not isinstance(pairs, list):
        return None
    return compact({str(p.get("Key")): p.get("Value") for p in pairs if isinstance(p, dict) and "Key" in p})


def user_agent(item: Item) -> str | None:
    info = additional_info(item) or {}
    return text(info.get("userAgent"))


def evidences(item: Item) -> list[dict[str, Any]] | None:
    found = compact({"user": user(item), "src_endpoint": src_endpoint(item)})
    return [{**found, "name": "riskDetection"}] if found else None


def observables(item: Item) -> list[dict[str, Any]] | None:
    return evidence.observables(evidences(item), [
        {"name": "unmapped.additionalInfo.userAgent", "type_id": evidence.OBS_USER_AGENT, "value": user_agent(item)}
        if user_agent(item) else None])


TABLE: tuple[Row, ...] = (
    const("category_uid", 2),
    const("class_uid", CLASS_UID),
    derived("activity_id", ("riskState", "detectedDateTime", "lastUpdatedDateTime"), activity_id,
            "3 Close when riskState is remediated, dismissed or confirmedSafe; 1 Create when detectedDateTime "
            "equals lastUpdatedDateTime; else 2 Update"),
    derived("type_uid", ("riskState", "detectedDateTime", "lastUpdatedDateTime"),
            lambda item: CLASS_UID * 100 + activity_id(item), "class_uid x 100 + activity_id"),
    timestamp("time", "lastUpdatedDateTime", "the version's time, epoch milliseconds"),
    derived("severity_id", ("riskLevel",), lambda item: RISK_SEVERITY.id_of(item.get("riskLevel")),
            "table riskLevel -> severity_id"),
    derived("severity", ("riskLevel",), lambda item: RISK_SEVERITY.caption_of(item.get("riskLevel")),
            "caption of severity_id"),
    derived("risk_level_id", ("riskLevel",),
            lambda item: RISK_LEVEL.id_of(item["riskLevel"]) if text(item.get("riskLevel")) else None,
            "table riskLevel -> risk_level_id; left out when riskLevel is missing"),
    derived("risk_level", ("riskLevel",),
            lambda item: RISK_LEVEL.caption_of(item["riskLevel"]) if text(item.get("riskLevel")) else None,
            "caption of risk_level_id (Graph's value when Other)"),
    derived("status_id", ("riskState",), lambda item: RISK_STATE.id_of(item.get("riskState")),
            "table riskState -> status_id"),
    derived("status", ("riskState",), lambda item: RISK_STATE.caption_of(item.get("riskState")),
            "caption of status_id"),
    copy("status_detail", "riskDetail"),
    const("is_alert", True, "a risk detection is Entra's alert"),
    derived("message", ("riskEventType", "userPrincipalName"),
            lambda item: f"{item.get('riskEventType') or 'risk'} detected for {item.get('userPrincipalName') or '?'}",
            "\"<riskEventType> detected for <userPrincipalName>\""),
    timestamp("start_time", "activityDateTime"),
    copy("finding_info.uid", "id"),
    copy("finding_info.title", "riskEventType"),
    derived("finding_info.types", ("riskEventType",), lambda item: non_empty([text(item.get("riskEventType"))]), ""),
    derived("finding_info.analytic", ("riskEventType", "detectionTimingType", "source"),
            lambda item: compact({"name": text(item.get("riskEventType")) or "riskDetection", "type_id": 2,
                                  "category": text(item.get("detectionTimingType")),
                                  "desc": text(item.get("source"))}),
            "name = riskEventType, category = detectionTimingType, desc = source, type_id 2 Behavioral"),
    const("finding_info.product", {"name": "Microsoft Entra ID Protection", "vendor_name": "Microsoft"}),
    timestamp("finding_info.created_time", "detectedDateTime"),
    timestamp("finding_info.modified_time", "lastUpdatedDateTime"),
    timestamp("finding_info.first_seen_time", "activityDateTime"),
    derived("evidences", ("userId", "userPrincipalName", "userDisplayName", "ipAddress", "location"), evidences,
            "one item: user {uid = userId, name = userPrincipalName, full_name = userDisplayName} and src_endpoint "
            "{ip = ipAddress, location {city, region = state, country = countryOrRegion}}"),
    derived("observables", ("additionalInfo",), observables,
            "user name and id, IP, and additionalInfo's userAgent (type 16)"),
    derived("unmapped.additionalInfo", ("additionalInfo",), additional_info,
            "the JSON string parsed into an object"),
    derived("metadata.uid", ("id", "lastUpdatedDateTime"), lambda item: version_uid(item, "lastUpdatedDateTime"),
        "id/lastUpdatedDateTime: one event per exported version"),
    copy("metadata.correlation_uid", "correlationId"),
    const("metadata.product", {"name": "Microsoft Graph Identity Protection API", "vendor_name": "Microsoft"}),
    const("metadata.log_name", "riskDetections", "the export stream"),
)
