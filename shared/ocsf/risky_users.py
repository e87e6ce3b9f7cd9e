"""riskyUser (Entra ID Protection) -> OCSF User Inventory Info (class 5003, activity 2 Collect).

A riskyUser record is the current risk state of a user, not an event, so it is rendered as the inventory of that
user (the research's option b: the class that describes the data) rather than as a Detection Finding; the risk
detections that raised the risk are Detection Findings of their own. One row per OCSF attribute."""

from __future__ import annotations

from typing import Any

from shared.ocsf.enums import RISK_LEVEL, RISK_SEVERITY
from shared.ocsf.table import Item, Row, compact, const, copy, derived, text, timestamp, version_uid

CLASS_UID = 5003
CLASS_NAME = "user_inventory"
PROFILES: tuple[str, ...] = ()
ACTIVITY_COLLECT = 2


def user(item: Item) -> dict[str, Any] | None:
    name = text(item.get("userPrincipalName"))
    level = text(item.get("riskLevel"))
    return compact({
        "uid": text(item.get("id")),
        "name": name,
        "full_name": text(item.get("userDisplayName")),
        "email_addr": name if name and "@" in name else None,
        "risk_level_id": RISK_LEVEL.id_of(level) if level else None,
        "risk_level": RISK_LEVEL.caption_of(level) if level else None,
        "account": compact({"type_id": 6, "uid": text(item.get("id")), "name": name}),  # 6: Azure AD Account
    }) or {"name": "unknown"}


TABLE: tuple[Row, ...] = (
    const("category_uid", 5),
    const("class_uid", CLASS_UID),
    const("activity_id", ACTIVITY_COLLECT, "always 2 Collect: the current state of the user"),
    const("type_uid", CLASS_UID * 100 + ACTIVITY_COLLECT, "class_uid x 100 + activity_id"),
    timestamp("time", "riskLastUpdatedDateTime", "the version's time, epoch milliseconds"),
    derived("severity_id", ("riskLevel",), lambda item: RISK_SEVERITY.id_of(item.get("riskLevel")),
            "table riskLevel -> severity_id"),
    derived("severity", ("riskLevel",), lambda item: RISK_SEVERITY.caption_of(item.get("riskLevel")),
            "caption of severity_id"),
    derived("user", ("id", "userPrincipalName", "userDisplayName", "riskLevel"), user,
            "uid = id, name = userPrincipalName, full_name = userDisplayName, risk_level_id from riskLevel, "
            "account {type_id 6 Azure AD Account, uid, name}"),
    derived("message", ("riskState",),
            lambda item: f"Risky user {item.get('userPrincipalName') or item.get('id')}: riskLevel "
                         f"{item.get('riskLevel')}, riskState {item.get('riskState')}",
            "\"Risky user <upn>: riskLevel <level>, riskState <state>\" (riskState itself stays in unmapped)"),
    derived("metadata.uid", ("id", "riskLastUpdatedDateTime"),
            lambda item: version_uid(item, "riskLastUpdatedDateTime"),
            "id/riskLastUpdatedDateTime: one event per exported version"),
    const("metadata.product", {"name": "Microsoft Graph Identity Protection API", "vendor_name": "Microsoft"}),
    const("metadata.log_name", "riskyUsers", "the export stream"),
    copy("unmapped.riskState", "riskState", "kept as Graph's value: User Inventory Info has no risk state"),
    copy("unmapped.riskDetail", "riskDetail"),
)
