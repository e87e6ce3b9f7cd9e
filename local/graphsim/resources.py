"""What the simulator knows about each Graph collection: path, API family, cursor, filterable properties, caps.

One row per resource, so paging, filtering and throttling code stays generic (as the product's "streams are data").
Sources: docs/graph-notes.md sections 1.1-1.3 (alerts_v2), 2 (incidents), 4 (Identity Protection).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import enums
from .enums import GraphEnum

SECURITY = "security"
IDENTITY = "identityProtection"


@dataclass(frozen=True)
class Prop:
    """A filterable property and how its values compare: ``datetime`` (ticks), ``enum`` (declared order),
    ``string`` (exact) or ``bool``."""

    name: str
    kind: str
    enum: GraphEnum | None = None


def _dt(name: str) -> Prop:
    return Prop(name, "datetime")


def _str(name: str) -> Prop:
    return Prop(name, "string")


def _bool(name: str) -> Prop:
    return Prop(name, "bool")


def _enum(name: str, enum: GraphEnum) -> Prop:
    return Prop(name, "enum", enum)


@dataclass(frozen=True)
class ResourceSpec:
    name: str  # the simulator's name for it (sim.items(tenant, name))
    path: str  # Graph path below the version segment
    family: str  # throttling bucket
    type_name: str  # OData type, used in error messages
    odata_type: str | None  # "@odata.type" written into each item, None if Graph omits it
    cursor: str  # sort and range field (lists are newest first on this field)
    filterable: tuple[Prop, ...]
    properties: frozenset[str]  # every property of the type (for "Could not find a property" vs "not filterable")
    evolvable: tuple[tuple[str, GraphEnum], ...]  # top-level properties whose values may need the Prefer header
    max_top: int
    default_top: int
    options: frozenset[str]  # system query options the docs list for the list operation
    eq_only: bool = False
    expandable: frozenset[str] = frozenset()

    def prop(self, name: str) -> Prop | None:
        for p in self.filterable:
            if p.name == name:
                return p
        return None

    def field_index(self, name: str) -> int:
        return next(i for i, p in enumerate(self.filterable) if p.name == name)


MAX_SKIP = 500  # security-error-codes "Constraints"; applied to every collection here

_ALERT_PROPS = frozenset(
    [
        "id",
        "providerAlertId",
        "incidentId",
        "status",
        "severity",
        "classification",
        "determination",
        "serviceSource",
        "detectionSource",
        "detectorId",
        "tenantId",
        "title",
        "description",
        "recommendedActions",
        "category",
        "categories",
        "assignedTo",
        "alertWebUrl",
        "incidentWebUrl",
        "actorDisplayName",
        "threatDisplayName",
        "threatFamilyName",
        "mitreTechniques",
        "createdDateTime",
        "lastUpdateDateTime",
        "firstActivityDateTime",
        "lastActivityDateTime",
        "resolvedDateTime",
        "comments",
        "evidence",
        "systemTags",
        "additionalData",
        "customDetails",
        "alertPolicyId",
        "productName",
        "investigationState",
    ]
)
_INCIDENT_PROPS = frozenset(
    [
        "id",
        "displayName",
        "description",
        "incidentWebUrl",
        "tenantId",
        "redirectIncidentId",
        "createdDateTime",
        "lastUpdateDateTime",
        "assignedTo",
        "classification",
        "determination",
        "status",
        "severity",
        "customTags",
        "systemTags",
        "comments",
        "lastModifiedBy",
        "priorityScore",
        "resolvingComment",
        "summary",
        "alerts",
    ]
)
_RISK_DETECTION_PROPS = frozenset(
    [
        "id",
        "requestId",
        "correlationId",
        "riskEventType",
        "riskState",
        "riskLevel",
        "riskDetail",
        "source",
        "detectionTimingType",
        "activity",
        "tokenIssuerType",
        "ipAddress",
        "location",
        "activityDateTime",
        "detectedDateTime",
        "lastUpdatedDateTime",
        "userId",
        "userDisplayName",
        "userPrincipalName",
        "additionalInfo",
    ]
)
_RISKY_USER_PROPS = frozenset(
    [
        "id",
        "isDeleted",
        "isProcessing",
        "riskDetail",
        "riskLastUpdatedDateTime",
        "riskLevel",
        "riskState",
        "userDisplayName",
        "userPrincipalName",
        "history",
    ]
)
_RISKY_SP_PROPS = frozenset(
    [
        "id",
        "appId",
        "displayName",
        "isEnabled",
        "isProcessing",
        "riskDetail",
        "riskLastUpdatedDateTime",
        "riskLevel",
        "riskState",
        "servicePrincipalType",
        "history",
    ]
)
_SP_DETECTION_PROPS = frozenset(
    [
        "id",
        "activity",
        "activityDateTime",
        "additionalInfo",
        "appId",
        "correlationId",
        "detectedDateTime",
        "detectionTimingType",
        "ipAddress",
        "keyIds",
        "lastUpdatedDateTime",
        "location",
        "requestId",
        "riskDetail",
        "riskEventType",
        "riskLevel",
        "riskState",
        "servicePrincipalDisplayName",
        "servicePrincipalId",
        "source",
        "tokenIssuerType",
    ]
)

_SECURITY_OPTIONS = frozenset({"$count", "$filter", "$skip", "$top"})
_IDENTITY_OPTIONS = frozenset({"$count", "$filter", "$select", "$skip", "$top"})

ALERTS = ResourceSpec(
    name="alerts",
    path="security/alerts_v2",
    family=SECURITY,
    type_name="microsoft.graph.security.alert",
    odata_type="#microsoft.graph.security.alert",
    cursor="lastUpdateDateTime",
    filterable=(
        _str("assignedTo"),
        _enum("classification", enums.ALERT_CLASSIFICATION),
        _enum("determination", enums.ALERT_DETERMINATION),
        _dt("createdDateTime"),
        _dt("lastUpdateDateTime"),
        _enum("severity", enums.ALERT_SEVERITY),
        _enum("serviceSource", enums.SERVICE_SOURCE),
        _enum("status", enums.ALERT_STATUS),
    ),
    properties=_ALERT_PROPS,
    evolvable=(("serviceSource", enums.SERVICE_SOURCE), ("detectionSource", enums.DETECTION_SOURCE)),
    max_top=1000,
    default_top=100,
    options=_SECURITY_OPTIONS,
)
INCIDENTS = ResourceSpec(
    name="incidents",
    path="security/incidents",
    family=SECURITY,
    type_name="microsoft.graph.security.incident",
    odata_type="#microsoft.graph.security.incident",
    cursor="lastUpdateDateTime",
    filterable=(
        _str("assignedTo"),
        _enum("classification", enums.ALERT_CLASSIFICATION),
        _dt("createdDateTime"),
        _enum("determination", enums.ALERT_DETERMINATION),
        _dt("lastUpdateDateTime"),
        _enum("severity", enums.ALERT_SEVERITY),
        _enum("status", enums.INCIDENT_STATUS),
    ),
    properties=_INCIDENT_PROPS,
    evolvable=(("status", enums.INCIDENT_STATUS),),
    max_top=1000,
    default_top=100,
    options=_SECURITY_OPTIONS | {"$expand"},
    expandable=frozenset({"alerts"}),
)
RISK_DETECTIONS = ResourceSpec(
    name="riskDetections",
    path="identityProtection/riskDetections",
    family=IDENTITY,
    type_name="microsoft.graph.riskDetection",
    odata_type=None,
    cursor="lastUpdatedDateTime",
    filterable=(
        _dt("lastUpdatedDateTime"),
        _dt("detectedDateTime"),
        _dt("activityDateTime"),
        _str("riskEventType"),
        _enum("riskLevel", enums.RISK_LEVEL),
        _enum("riskState", enums.RISK_STATE),
        _str("userId"),
        _str("userPrincipalName"),
        _str("id"),
        _str("ipAddress"),
        _str("source"),
    ),
    properties=_RISK_DETECTION_PROPS,
    evolvable=(
        ("riskDetail", enums.RISK_DETAIL),
        ("activity", enums.ACTIVITY_TYPE),
        ("tokenIssuerType", enums.TOKEN_ISSUER_TYPE),
    ),
    max_top=500,
    default_top=20,
    options=_IDENTITY_OPTIONS,
)
RISKY_USERS = ResourceSpec(
    name="riskyUsers",
    path="identityProtection/riskyUsers",
    family=IDENTITY,
    type_name="microsoft.graph.riskyUser",
    odata_type=None,
    cursor="riskLastUpdatedDateTime",
    filterable=(
        _dt("riskLastUpdatedDateTime"),
        _enum("riskLevel", enums.RISK_LEVEL),
        _enum("riskState", enums.RISK_STATE),
        _enum("riskDetail", enums.RISK_DETAIL),
        _str("userPrincipalName"),
        _str("userDisplayName"),
        _str("id"),
        _bool("isDeleted"),
        _bool("isProcessing"),
    ),
    properties=_RISKY_USER_PROPS,
    evolvable=(("riskDetail", enums.RISK_DETAIL),),
    max_top=500,
    default_top=20,
    options=_IDENTITY_OPTIONS,
)
RISKY_SERVICE_PRINCIPALS = ResourceSpec(
    name="riskyServicePrincipals",
    path="identityProtection/riskyServicePrincipals",
    family=IDENTITY,
    type_name="microsoft.graph.riskyServicePrincipal",
    odata_type=None,
    cursor="riskLastUpdatedDateTime",
    filterable=(
        _dt("riskLastUpdatedDateTime"),
        _enum("riskLevel", enums.RISK_LEVEL),
        _enum("riskState", enums.RISK_STATE),
        _str("id"),
        _str("appId"),
    ),
    properties=_RISKY_SP_PROPS,
    evolvable=(("riskDetail", enums.RISK_DETAIL),),
    max_top=500,
    default_top=20,
    options=_IDENTITY_OPTIONS,
    eq_only=True,
)
SERVICE_PRINCIPAL_RISK_DETECTIONS = ResourceSpec(
    name="servicePrincipalRiskDetections",
    path="identityProtection/servicePrincipalRiskDetections",
    family=IDENTITY,
    type_name="microsoft.graph.servicePrincipalRiskDetection",
    odata_type=None,
    cursor="lastUpdatedDateTime",
    filterable=(_str("requestId"), _str("servicePrincipalId"), _str("id")),
    properties=_SP_DETECTION_PROPS,
    evolvable=(
        ("riskDetail", enums.RISK_DETAIL),
        ("activity", enums.ACTIVITY_TYPE),
        ("tokenIssuerType", enums.TOKEN_ISSUER_TYPE),
    ),
    max_top=500,
    default_top=20,
    options=_IDENTITY_OPTIONS,
    eq_only=True,
)

ALL: tuple[ResourceSpec, ...] = (
    ALERTS,
    INCIDENTS,
    RISK_DETECTIONS,
    RISKY_USERS,
    RISKY_SERVICE_PRINCIPALS,
    SERVICE_PRINCIPAL_RISK_DETECTIONS,
)
BY_NAME: dict[str, ResourceSpec] = {r.name: r for r in ALL}
# Graph path segments are case-insensitive.
BY_PATH: dict[str, ResourceSpec] = {r.path.lower(): r for r in ALL}
