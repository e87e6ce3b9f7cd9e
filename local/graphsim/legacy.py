"""The legacy security ``alert`` (``/security/alerts``, namespace ``microsoft.graph``) as far as subscriptions need it.

The simulator does not serve ``GET /security/alerts`` (the legacy API is retired, docs/graph-notes.md),
but Graph's only subscribable security resource is the legacy alert (section 6.1). Subscriptions on
``security/alerts?$filter=...`` are therefore matched against a legacy *view* of the simulator's v2 alerts: four
properties derived from each alert, filterable with ``eq``/``ne`` joined by ``and``/``or``. The filter itself is parsed
and type-checked by the same OData code as every other collection (``odata.compile_filter``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .enums import GraphEnum
from .errors import GraphError
from .odata import Compare, Junction, Node, Not, compile_filter, parse_filter
from .resources import SECURITY, Prop, ResourceSpec

# Legacy enums (section 3): status uses ``newAlert`` where v2 uses ``new``.
LEGACY_ALERT_STATUS = GraphEnum("alertStatus", ("unknown", "newAlert", "inProgress", "resolved", "unknownFutureValue"))
LEGACY_ALERT_SEVERITY = GraphEnum(
    "alertSeverity", ("unknown", "informational", "low", "medium", "high", "unknownFutureValue")
)

_V2_TO_LEGACY_STATUS = {"new": "newAlert"}  # inProgress, resolved, unknown keep their names

# v2 serviceSource -> the legacy vendorInformation/provider keyword (section 3, "Provider $filter keywords").
# Sources without a legacy keyword keep their v2 name.
LEGACY_PROVIDERS: dict[str, str] = {
    "microsoftDefenderForEndpoint": "Microsoft Defender ATP",
    "azureAdIdentityProtection": "IPC",
    "microsoftDefenderForCloudApps": "MCAS",
    "microsoftDefenderForIdentity": "Azure Advanced Threat Protection",
    "microsoftDefenderForCloud": "ASC",
    "microsoftSentinel": "Azure Sentinel",
    "microsoftDefenderForOffice365": "Office 365 Security and Compliance",
}

_LEGACY_PROPS = frozenset(
    [
        "id",
        "azureTenantId",
        "title",
        "description",
        "category",
        "severity",
        "status",
        "feedback",
        "assignedTo",
        "closedDateTime",
        "comments",
        "tags",
        "confidence",
        "createdDateTime",
        "eventDateTime",
        "lastModifiedDateTime",
        "recommendedActions",
        "sourceMaterials",
        "incidentIds",
        "detectionIds",
        "userStates",
        "hostStates",
        "fileStates",
        "processes",
        "networkConnections",
        "cloudAppStates",
        "malwareStates",
        "registryKeyStates",
        "vulnerabilityStates",
        "securityResources",
        "triggers",
        "vendorInformation",
        "activityGroupName",
    ]
)

# Not registered in resources.ALL: nothing serves it, it only types subscription filters.
LEGACY_ALERTS = ResourceSpec(
    name="legacyAlerts",
    path="security/alerts",
    family=SECURITY,
    type_name="microsoft.graph.alert",
    odata_type="#microsoft.graph.alert",
    cursor="lastModifiedDateTime",  # not filterable here, so no filter ever becomes a cursor range
    filterable=(
        Prop("severity", "enum", LEGACY_ALERT_SEVERITY),
        Prop("status", "enum", LEGACY_ALERT_STATUS),
        Prop("category", "string"),
        Prop("vendorInformation/provider", "string"),
    ),
    properties=_LEGACY_PROPS | {"vendorInformation/provider"},
    evolvable=(),
    max_top=1000,
    default_top=1000,
    options=frozenset({"$filter"}),
)

SUPPORTED = "eq/ne comparisons on severity, status, category and vendorInformation/provider, joined by and/or"

AlertPredicate = Callable[[dict[str, Any]], bool]


def _only_eq_ne(node: Node) -> None:
    if isinstance(node, Compare):
        if node.op not in ("eq", "ne"):
            raise GraphError(400, f"The operator '{node.op}' is not supported here.", "InvalidRequest")
    elif isinstance(node, Not):
        raise GraphError(400, "The operator 'not' is not supported here.", "InvalidRequest")
    elif isinstance(node, Junction):
        for item in node.items:
            _only_eq_ne(item)


def compile_alert_filter(text: str) -> AlertPredicate:
    """A predicate over v2 alert dicts for a legacy ``$filter``; raises GraphError 400 when it is not supported."""
    _only_eq_ne(parse_filter(text))
    compiled = compile_filter(LEGACY_ALERTS, text)
    predicate = compiled.predicate
    if predicate is None:  # cannot happen without a cursor range, but keep the type honest
        return lambda alert: True
    return lambda alert: predicate(legacy_fields(alert))


def legacy_fields(alert: dict[str, Any]) -> tuple[Any, ...]:
    """The legacy view of a v2 alert, in ``LEGACY_ALERTS.filterable`` order (enums as member positions)."""
    status = alert.get("status")
    severity = alert.get("severity")
    source = alert.get("serviceSource")
    return (
        LEGACY_ALERT_SEVERITY.index(severity) if severity else None,
        LEGACY_ALERT_STATUS.index(_V2_TO_LEGACY_STATUS.get(status, status)) if status else None,
        alert.get("category"),
        LEGACY_PROVIDERS.get(source, source) if source else None,
    )
