"""incident (Microsoft Graph security incident) -> OCSF Incident Finding (class 2005), with the `incident` profile
for verdict. One row per OCSF attribute."""

from __future__ import annotations

from typing import Any

from shared.graph.versions import normalize_version
from shared.ocsf.alerts import assignee
from shared.ocsf.enums import ALERT_SEVERITY, CLASSIFICATION, INCIDENT_STATUS
from shared.ocsf.table import Item, Row, compact, const, copy, derived, non_empty, text, timestamp, version_uid

CLASS_UID = 2005
CLASS_NAME = "incident_finding"
PROFILES: tuple[str, ...] = ()
ACTIVITY_CREATE, ACTIVITY_UPDATE, ACTIVITY_CLOSE = 1, 2, 3
UNASSIGNED = "Unassigned"  # Defender's queue of incidents nobody owns
CLOSED = frozenset({"resolved", "redirected"})


def activity_id(item: Item) -> int:
    if str(item.get("status", "")).lower() in CLOSED:
        return ACTIVITY_CLOSE
    created, updated = normalize_version(item.get("createdDateTime")), normalize_version(item.get("lastUpdateDateTime"))
    return ACTIVITY_CREATE if created and created == updated else ACTIVITY_UPDATE


def finding_info_list(item: Item) -> list[dict[str, Any]]:
    """One entry per alert when the export expands them (EXPORT_INCIDENTS_EXPAND_ALERTS); otherwise empty, and
    the alerts name their incident in finding_info.related_events. Required by the class, so never left out."""
    entries: list[dict[str, Any]] = []
    for alert in item.get("alerts") or ():
        entry = None
        if isinstance(alert, dict) and text(alert.get("id")):
            entry = compact({
                "uid": alert["id"],
                "title": text(alert.get("title")),
                "src_url": text(alert.get("alertWebUrl")),
                "product": {"name": alert["productName"], "vendor_name": "Microsoft"}
                if text(alert.get("productName")) else None,
            })
        if entry:
            entries.append(entry)
    return entries


TABLE: tuple[Row, ...] = (
    const("category_uid", 2),
    const("class_uid", CLASS_UID),
    derived("activity_id", ("status", "createdDateTime", "lastUpdateDateTime"), activity_id,
            "3 Close when status is resolved or redirected; 1 Create when createdDateTime equals "
            "lastUpdateDateTime; else 2 Update"),
    derived("type_uid", ("status", "createdDateTime", "lastUpdateDateTime"),
            lambda item: CLASS_UID * 100 + activity_id(item), "class_uid x 100 + activity_id"),
    timestamp("time", "lastUpdateDateTime", "the version's time, epoch milliseconds"),
    derived("severity_id", ("severity",), lambda item: ALERT_SEVERITY.id_of(item.get("severity")),
            "table alertSeverity -> severity_id"),
    derived("severity", ("severity",), lambda item: ALERT_SEVERITY.caption_of(item.get("severity")),
            "caption of severity_id"),
    derived("status_id", ("status",), lambda item: INCIDENT_STATUS.id_of(item.get("status")),
            "table incidentStatus -> status_id"),
    derived("status", ("status",), lambda item: INCIDENT_STATUS.caption_of(item.get("status")),
            "caption of status_id"),
    derived("verdict_id", ("classification",), lambda item: CLASSIFICATION.id_of(item.get("classification")),
            "table alertClassification -> verdict_id"),
    derived("verdict", ("classification",), lambda item: CLASSIFICATION.caption_of(item.get("classification")),
            "caption of verdict_id"),
    copy("message", "displayName"),
    copy("desc", "description"),
    copy("src_url", "incidentWebUrl"),
    timestamp("start_time", "createdDateTime"),
    derived("assignee", ("assignedTo",), lambda item: assignee(item.get("assignedTo")),
            "name (and email_addr when it is an address)"),
    derived("assignee_group", ("assignedTo",),
            lambda item: None if text(item.get("assignedTo")) else {"name": UNASSIGNED},
            f"{{name: {UNASSIGNED!r}}} when assignedTo is empty: the class requires assignee or assignee_group"),
    derived("finding_info_list", ("alerts",), finding_info_list,
            "one {uid, title, src_url, product} per expanded alert; [] when alerts are not expanded"),
    derived("metadata.uid", ("id", "lastUpdateDateTime"), lambda item: version_uid(item, "lastUpdateDateTime"),
            "id/lastUpdateDateTime: one event per exported version"),
    copy("metadata.tenant_uid", "tenantId"),
    derived("metadata.labels", ("customTags", "systemTags"),
            lambda item: non_empty([t for t in (item.get("customTags") or []) + (item.get("systemTags") or [])
                                    if isinstance(t, str)]), "customTags then systemTags"),
    const("metadata.product", {"name": "Microsoft Graph security API", "vendor_name": "Microsoft"}),
    const("metadata.log_name", "incidents", "the export stream"),
)
