"""Graph enumerations onto OCSF enumerations, one small table each.

Every Graph enumeration is evolvable: besides its documented members it can carry `unknownFutureValue` or a member
added after this code was written. The rule for all of them: a member in the table maps to its OCSF id; a missing
value, `unknown` and `unknownFutureValue` map to the OCSF "Unknown" id (0); any other string maps to "Other" (99),
and the OCSF caption attribute then carries Graph's string, as OCSF asks for Other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UNKNOWN_MEMBERS = frozenset({"unknown", "unknownfuturevalue"})
OTHER = 99


@dataclass(frozen=True)
class EnumMap:
    name: str  # "Graph enum -> OCSF attribute", for the documentation
    ids: dict[str, int]  # Graph member (any case) -> OCSF id
    captions: dict[int, str]  # OCSF id -> OCSF caption
    unknown: int = 0  # the id for a missing value, unknown and unknownFutureValue
    _lower: dict[str, int] = field(init=False, repr=False, compare=False)  # ids by lower-cased member

    def __post_init__(self) -> None:
        # Graph's documentation writes some members in PascalCase: match them case-insensitively.
        object.__setattr__(self, "_lower", {k.lower(): v for k, v in self.ids.items()})

    def id_of(self, value: Any) -> int:
        if not isinstance(value, str) or not value or value.lower() in UNKNOWN_MEMBERS:
            return self.unknown
        return self._lower.get(value.lower(), OTHER)

    def caption_of(self, value: Any) -> str:
        ocsf_id = self.id_of(value)
        return str(value) if ocsf_id == OTHER else self.captions[ocsf_id]


SEVERITY_CAPTIONS = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal",
                     99: "Other"}
FINDING_STATUS_CAPTIONS = {0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 5: "Archived",
                           6: "Deleted", 99: "Other"}
INCIDENT_STATUS_CAPTIONS = {0: "Unknown", 1: "New", 2: "In Progress", 3: "On Hold", 4: "Resolved", 5: "Closed",
                            99: "Other"}
VERDICT_CAPTIONS = {0: "Unknown", 1: "False Positive", 2: "True Positive", 3: "Disregard", 4: "Suspicious",
                    5: "Benign", 6: "Test", 7: "Insufficient Data", 8: "Security Risk", 9: "Managed Externally",
                    10: "Duplicate", 99: "Other"}
RISK_LEVEL_CAPTIONS = {0: "Info", 1: "Low", 2: "Medium", 3: "High", 4: "Critical", 99: "Other"}

# alerts_v2 and incidents: alertSeverity (Defender has no "critical").
ALERT_SEVERITY = EnumMap("alertSeverity -> severity_id",
                         {"informational": 1, "low": 2, "medium": 3, "high": 4}, SEVERITY_CAPTIONS)
ALERT_STATUS = EnumMap("alertStatus -> status_id (Finding)",
                       {"new": 1, "inProgress": 2, "resolved": 4}, FINDING_STATUS_CAPTIONS)
INCIDENT_STATUS = EnumMap("incidentStatus -> status_id (Incident Finding)",
                          {"active": 1, "inProgress": 2, "awaitingAction": 3, "resolved": 4, "redirected": 5},
                          INCIDENT_STATUS_CAPTIONS)
CLASSIFICATION = EnumMap("alertClassification -> verdict_id",
                         {"falsePositive": 1, "truePositive": 2, "informationalExpectedActivity": 5},
                         VERDICT_CAPTIONS)
EVIDENCE_VERDICT = EnumMap("evidenceVerdict -> evidences[].verdict_id",
                           {"malicious": 2, "suspicious": 4, "noThreatsFound": 5}, VERDICT_CAPTIONS)

# Identity Protection: riskLevel and riskState. "hidden" means Entra ID P2 is missing: the level is not disclosed.
RISK_SEVERITY = EnumMap("riskLevel -> severity_id",
                        {"low": 2, "medium": 3, "high": 4, "hidden": 0, "none": 1}, SEVERITY_CAPTIONS)
RISK_LEVEL = EnumMap("riskLevel -> risk_level_id",
                     {"none": 0, "low": 1, "medium": 2, "high": 3, "hidden": OTHER}, RISK_LEVEL_CAPTIONS, unknown=OTHER)
RISK_STATE = EnumMap("riskState -> status_id (Finding)",
                     {"atRisk": 1, "confirmedCompromised": 2, "dismissed": 3, "confirmedSafe": 3, "remediated": 4,
                      "none": 4}, FINDING_STATUS_CAPTIONS)

ALL = (ALERT_SEVERITY, ALERT_STATUS, INCIDENT_STATUS, CLASSIFICATION, EVIDENCE_VERDICT, RISK_SEVERITY, RISK_LEVEL,
       RISK_STATE)
