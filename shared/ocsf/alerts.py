"""alerts_v2 (Microsoft Graph security alert) -> OCSF Detection Finding (class 2004), with the `incident` profile
(assignee, verdict, src_url). One row per OCSF attribute; see table.py for the words and docs/ocsf.md for the prose."""

from __future__ import annotations

import re
from typing import Any

from shared.graph.versions import normalize_version
from shared.ocsf import evidence
from shared.ocsf.enums import ALERT_SEVERITY, ALERT_STATUS, CLASSIFICATION
from shared.ocsf.table import Item, Row, compact, const, copy, derived, non_empty, text, timestamp, version_uid

CLASS_UID = 2004
CLASS_NAME = "detection_finding"
PROFILES = ("incident",)
ACTIVITY_CREATE, ACTIVITY_UPDATE, ACTIVITY_CLOSE = 1, 2, 3

_TECHNIQUE = re.compile(r"^(T\d{4})(\.\d{3})?$")


def activity_id(item: Item) -> int:
    """Close when resolved; Create when this is the alert's first version (created == last updated); else Update.
    Decided from the object alone, so the same version always renders the same."""
    if str(item.get("status", "")).lower() == "resolved":
        return ACTIVITY_CLOSE
    created, updated = normalize_version(item.get("createdDateTime")), normalize_version(item.get("lastUpdateDateTime"))
    return ACTIVITY_CREATE if created and created == updated else ACTIVITY_UPDATE


def attacks(item: Item) -> list[dict[str, Any]] | None:
    """mitreTechniques such as T1564.001: the parent technique and, for a sub-technique, the sub-technique."""
    out: list[dict[str, Any]] = []
    for technique in item.get("mitreTechniques") or ():
        match = _TECHNIQUE.match(technique) if isinstance(technique, str) else None
        entry = compact({"technique": {"uid": match.group(1)},
                         "sub_technique": {"uid": technique} if match.group(2) else None}) if match else None
        if entry:
            out.append(entry)
    return out or None


def assignee(value: Any) -> dict[str, Any] | None:
    name = text(value)
    return compact({"name": name, "email_addr": name if name and "@" in name else None}) if name else None


TABLE: tuple[Row, ...] = (
    const("category_uid", 2),
    const("class_uid", CLASS_UID),
    derived("activity_id", ("status", "createdDateTime", "lastUpdateDateTime"), activity_id,
            "3 Close when status is resolved; 1 Create when createdDateTime equals lastUpdateDateTime; else 2 Update"),
    derived("type_uid", ("status", "createdDateTime", "lastUpdateDateTime"),
            lambda item: CLASS_UID * 100 + activity_id(item), "class_uid x 100 + activity_id"),
    timestamp("time", "lastUpdateDateTime", "the version's time, epoch milliseconds"),
    derived("severity_id", ("severity",), lambda item: ALERT_SEVERITY.id_of(item.get("severity")),
            "table alertSeverity -> severity_id"),
    derived("severity", ("severity",), lambda item: ALERT_SEVERITY.caption_of(item.get("severity")),
            "the caption of severity_id (Graph's value when Other)"),
    derived("status_id", ("status",), lambda item: ALERT_STATUS.id_of(item.get("status")),
            "table alertStatus -> status_id"),
    derived("status", ("status",), lambda item: ALERT_STATUS.caption_of(item.get("status")), "caption of status_id"),
    derived("verdict_id", ("classification",), lambda item: CLASSIFICATION.id_of(item.get("classification")),
            "table alertClassification -> verdict_id"),
    derived("verdict", ("classification",), lambda item: CLASSIFICATION.caption_of(item.get("classification")),
            "caption of verdict_id"),
    const("is_alert", True, "every alerts_v2 object is an alert"),
    copy("message", "title"),
    timestamp("start_time", "firstActivityDateTime"),
    timestamp("end_time", "lastActivityDateTime"),
    copy("src_url", "incidentWebUrl"),
    derived("assignee", ("assignedTo",), lambda item: assignee(item.get("assignedTo")),
            "name (and email_addr when it is an address)"),
    derived("remediation.desc", ("recommendedActions",), lambda item: text(item.get("recommendedActions")), ""),
    copy("finding_info.uid", "id"),
    copy("finding_info.uid_alt", "providerAlertId"),
    copy("finding_info.title", "title"),
    copy("finding_info.desc", "description"),
    derived("finding_info.types", ("category", "determination"),
            lambda item: non_empty([text(item.get("category")), text(item.get("determination"))]),
            "the ATT&CK tactic category, then the determination"),
    derived("finding_info.attacks", ("mitreTechniques",), attacks,
            "technique.uid T1234; sub_technique.uid T1234.001 for a sub-technique"),
    derived("finding_info.analytic", ("detectorId", "detectionSource"),
            lambda item: compact({"uid": text(item.get("detectorId")), "category": text(item.get("detectionSource")),
                                  "type_id": 0}) if text(item.get("detectorId")) else None,
            "uid = detectorId, category = detectionSource, type_id 0 Unknown (Graph does not say rule or model)"),
    derived("finding_info.product", ("productName",),
            lambda item: {"name": item["productName"], "vendor_name": "Microsoft"}
            if text(item.get("productName")) else None, "name = productName, vendor_name Microsoft"),
    timestamp("finding_info.created_time", "createdDateTime"),
    timestamp("finding_info.modified_time", "lastUpdateDateTime"),
    timestamp("finding_info.first_seen_time", "firstActivityDateTime"),
    timestamp("finding_info.last_seen_time", "lastActivityDateTime"),
    copy("finding_info.src_url", "alertWebUrl"),
    derived("finding_info.related_events", ("incidentId",),
            lambda item: [{"uid": str(item["incidentId"]), "type": "Incident"}] if item.get("incidentId") else None,
            "the incident this alert belongs to"),
    derived("evidences", ("evidence",), lambda item: evidence.evidences(item.get("evidence")),
            "one item per evidence with a typed OCSF home (see the evidence table)"),
    derived("observables", ("evidence",),
            lambda item: evidence.observables(evidence.evidences(item.get("evidence"))),
            "user names and ids, hosts, IPs, URLs, files, hashes and command lines found in the evidence"),
    derived("resources", ("evidence",), lambda item: evidence.resources(item.get("evidence")),
            "Azure, AWS and Google Cloud resources in the evidence, role_id 3 Affected"),
    derived("metadata.uid", ("id", "lastUpdateDateTime"), lambda item: version_uid(item, "lastUpdateDateTime"),
            "id/lastUpdateDateTime: one event per exported version"),
    copy("metadata.tenant_uid", "tenantId"),
    copy("metadata.labels", "systemTags"),
    derived("metadata.product", ("serviceSource",),
            lambda item: compact({"name": "Microsoft Graph security API", "vendor_name": "Microsoft",
                                  "feature": {"name": item["serviceSource"]} if text(item.get("serviceSource"))
                                  else None}),
            "Microsoft Graph security API; feature.name = serviceSource"),
    const("metadata.log_name", "alerts", "the export stream"),
)
