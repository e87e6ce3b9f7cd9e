"""What callers may filter on when they read (the triggers and the list actions): the vocabularies of Graph's
evolvable enums, and the parsing of a filter parameter such as `severity=high,medium` into canonical values.

Reading accepts every member Graph declares, including the ones after `unknownFutureValue` (which Graph returns only
to callers that send `Prefer: include-unknown-enum-members`, as GraphClient always does). A value outside the
vocabulary is refused with the list of allowed ones: a filter value never reaches an OData query or a comparison
unchecked. Members are matched case-insensitively (Graph's own examples use PascalCase) and used in Graph's spelling.

Sources: the enum tables of Graph's security alert and incident resources (alertSeverity, alertStatus,
alertClassification, serviceSource, detectionSource, incidentStatus), as recorded in docs/logic-apps.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.actions.validation import shown
from shared.problems import Problem

SEVERITIES: tuple[str, ...] = ("unknown", "informational", "low", "medium", "high")
ALERT_STATUSES: tuple[str, ...] = ("unknown", "new", "inProgress", "resolved")
INCIDENT_STATUSES: tuple[str, ...] = ("active", "resolved", "inProgress", "redirected", "awaitingAction")
CLASSIFICATIONS: tuple[str, ...] = ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity")
SERVICE_SOURCES: tuple[str, ...] = (
    "unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity", "microsoftDefenderForCloudApps",
    "microsoftDefenderForOffice365", "microsoft365Defender", "azureAdIdentityProtection", "microsoftAppGovernance",
    "dataLossPrevention", "microsoftDefenderForCloud", "microsoftSentinel", "microsoftInsiderRiskManagement",
    "microsoftThreatIntelligence",
)
DETECTION_SOURCES: tuple[str, ...] = (
    "unknown", "microsoftDefenderForEndpoint", "antivirus", "smartScreen", "customTi", "microsoftDefenderForOffice365",
    "automatedInvestigation", "microsoftThreatExperts", "customDetection", "microsoftDefenderForIdentity",
    "cloudAppSecurity", "microsoft365Defender", "azureAdIdentityProtection", "manual", "microsoftDataLossPrevention",
    "appGovernancePolicy", "appGovernanceDetection", "microsoftDefenderForCloud", "microsoftDefenderForIoT",
    "microsoftDefenderForServers", "microsoftDefenderForStorage", "microsoftDefenderForDNS",
    "microsoftDefenderForDatabases", "microsoftDefenderForContainers", "microsoftDefenderForNetwork",
    "microsoftDefenderForAppService", "microsoftDefenderForKeyVault", "microsoftDefenderForResourceManager",
    "microsoftDefenderForApiManagement", "nrtAlerts", "scheduledAlerts", "microsoftDefenderThreatIntelligenceAnalytics",
    "builtInMl", "microsoftSentinel",
)

MAX_VALUES_PER_FILTER = 20  # more than any vocabulary needs; bounds the size of a query


@dataclass(frozen=True)
class EnumFilter:
    """One filterable enum field: its query parameter (named as Graph names the field) and its vocabulary."""

    name: str
    vocabulary: tuple[str, ...]
    summary: str

    def description(self) -> str:
        return f"One or more of {', '.join(self.vocabulary)}, separated by commas (any of them matches)."


SEVERITY = EnumFilter("severity", SEVERITIES, "Severity")
ALERT_STATUS = EnumFilter("status", ALERT_STATUSES, "Status")
INCIDENT_STATUS = EnumFilter("status", INCIDENT_STATUSES, "Status")
CLASSIFICATION = EnumFilter("classification", CLASSIFICATIONS, "Classification")
SERVICE_SOURCE = EnumFilter("serviceSource", SERVICE_SOURCES, "Service source")
DETECTION_SOURCE = EnumFilter("detectionSource", DETECTION_SOURCES, "Detection source")


def enum_values(params: Mapping[str, str], spec: EnumFilter) -> tuple[str, ...]:
    """The canonical values of a comma-separated filter parameter, in the vocabulary's order; () when the parameter
    is absent or empty."""
    raw = params.get(spec.name)
    if raw is None or not raw.strip():
        return ()
    by_lower = {value.lower(): value for value in spec.vocabulary}
    values: dict[str, None] = {}
    unknown = []
    parts = raw.split(",")
    if len(parts) > MAX_VALUES_PER_FILTER:
        raise Problem(400, f"Invalid {spec.name} filter", f"At most {MAX_VALUES_PER_FILTER} values per filter.",
                      errors=[{"field": spec.name, "message": f"at most {MAX_VALUES_PER_FILTER} values"}])
    for part in parts:
        found = by_lower.get(part.strip().lower())
        if found is None:
            unknown.append(part)
        else:
            values[found] = None
    if unknown:
        raise Problem(
            400, f"Invalid {spec.name} filter",
            f"{', '.join(shown(u) for u in unknown[:5])} is not a {spec.name}; allowed: "
            f"{', '.join(spec.vocabulary)} (several separated by commas).",
            errors=[{"field": spec.name, "message": f"{shown(u)} is not allowed", "allowed": list(spec.vocabulary)}
                    for u in unknown[:20]],
        )
    return tuple(value for value in spec.vocabulary if value in values)  # one order, whatever the caller's


def matches(item: Mapping[str, object], field_name: str, wanted: tuple[str, ...]) -> bool:
    """Whether an item's enum field is one of `wanted` (no filter: everything matches). Case-insensitive, because
    Graph's values are matched that way when a caller filters on them."""
    if not wanted:
        return True
    value = item.get(field_name)
    return isinstance(value, str) and value.lower() in {w.lower() for w in wanted}
