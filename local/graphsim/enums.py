"""Graph enumerations used by the simulated resources, in declared order.

All of them are *evolvable*: they contain the sentinel ``unknownFutureValue``. Members declared after the sentinel are
only sent to clients that ask for them with ``Prefer: include-unknown-enum-members``; everyone else gets the sentinel
(docs/graph-notes.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GraphEnum:
    name: str
    members: tuple[str, ...]
    sentinel: str = "unknownFutureValue"
    _lower: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lower", {m.lower(): i for i, m in enumerate(self.members)})

    def index(self, value: str) -> int | None:
        """Position of a member, matched case-insensitively (Graph docs show PascalCase values at times)."""
        return self._lower.get(value.lower())

    def canonical(self, value: str) -> str | None:
        i = self.index(value)
        return None if i is None else self.members[i]

    @property
    def sentinel_index(self) -> int:
        return self.members.index(self.sentinel)

    @property
    def hidden(self) -> frozenset[str]:
        """Members that need the Prefer header."""
        return frozenset(self.members[self.sentinel_index + 1 :])

    def compat(self, value: str) -> str:
        """The value as a client without ``Prefer: include-unknown-enum-members`` sees it."""
        i = self.index(value)
        return self.sentinel if i is not None and i > self.sentinel_index else value

    def settable(self) -> tuple[str, ...]:
        """Members a client may write (everything but the sentinel)."""
        return tuple(m for m in self.members if m != self.sentinel)


def _enum(name: str, members: str, sentinel: str = "unknownFutureValue") -> GraphEnum:
    return GraphEnum(name, tuple(members.split()), sentinel)


ALERT_STATUS = _enum("alertStatus", "unknown new inProgress resolved unknownFutureValue")
ALERT_SEVERITY = _enum("alertSeverity", "unknown informational low medium high unknownFutureValue")
ALERT_CLASSIFICATION = _enum(
    "alertClassification", "unknown falsePositive truePositive informationalExpectedActivity unknownFutureValue"
)
ALERT_DETERMINATION = _enum(
    "alertDetermination",
    "unknown apt malware securityPersonnel securityTesting unwantedSoftware other multiStagedAttack "
    "compromisedAccount phishing maliciousUserActivity notMalicious notEnoughDataToValidate confirmedActivity "
    "lineOfBusinessApplication unknownFutureValue",
)
SERVICE_SOURCE = _enum(
    "serviceSource",
    "unknown microsoftDefenderForEndpoint microsoftDefenderForIdentity microsoftDefenderForCloudApps "
    "microsoftDefenderForOffice365 microsoft365Defender azureAdIdentityProtection microsoftAppGovernance "
    "dataLossPrevention unknownFutureValue microsoftDefenderForCloud microsoftSentinel "
    "microsoftInsiderRiskManagement microsoftThreatIntelligence microsoftSecurityForAI",
)
DETECTION_SOURCE = _enum(
    "detectionSource",
    "unknown microsoftDefenderForEndpoint antivirus smartScreen customTi microsoftDefenderForOffice365 "
    "automatedInvestigation microsoftThreatExperts customDetection microsoftDefenderForIdentity cloudAppSecurity "
    "microsoft365Defender azureAdIdentityProtection manual microsoftDataLossPrevention appGovernancePolicy "
    "appGovernanceDetection unknownFutureValue microsoftDefenderForCloud microsoftDefenderForIoT "
    "microsoftDefenderForServers microsoftDefenderForStorage microsoftDefenderForDNS microsoftDefenderForDatabases "
    "microsoftDefenderForContainers microsoftDefenderForNetwork microsoftDefenderForAppService "
    "microsoftDefenderForKeyVault microsoftDefenderForResourceManager microsoftDefenderForApiManagement nrtAlerts "
    "scheduledAlerts microsoftDefenderThreatIntelligenceAnalytics builtInMl microsoftInsiderRiskManagement "
    "microsoftThreatIntelligence microsoftDefenderForAIServices securityCopilot microsoftSentinel",
)
INVESTIGATION_STATE = _enum(
    "investigationState",
    "unknown terminated successfullyRemediated benign failed partiallyRemediated running pendingApproval "
    "pendingResource queued innerFailure preexistingAlert unsupportedOs unsupportedAlertType suppressedAlert "
    "partiallyInvestigated terminatedByUser terminatedBySystem unknownFutureValue",
)
INCIDENT_STATUS = _enum("incidentStatus", "active resolved inProgress redirected unknownFutureValue awaitingAction")
EVIDENCE_VERDICT = _enum("evidenceVerdict", "unknown suspicious malicious noThreatsFound unknownFutureValue")

RISK_LEVEL = _enum("riskLevel", "low medium high hidden none unknownFutureValue")
RISK_STATE = _enum(
    "riskState", "none confirmedSafe remediated dismissed atRisk confirmedCompromised unknownFutureValue"
)
RISK_DETAIL = _enum(
    "riskDetail",
    "none adminGeneratedTemporaryPassword userPerformedSecuredPasswordChange userPerformedSecuredPasswordReset "
    "adminConfirmedSigninSafe aiConfirmedSigninSafe userPassedMFADrivenByRiskBasedPolicy "
    "adminDismissedAllRiskForUser adminConfirmedSigninCompromised hidden adminConfirmedUserCompromised "
    "unknownFutureValue m365DAdminDismissedDetection adminConfirmedServicePrincipalCompromised "
    "adminDismissedAllRiskForServicePrincipal userChangedPasswordOnPremises adminDismissedRiskForSignIn "
    "adminConfirmedAccountSafe microsoftRevokedSessions",
)
RISK_DETECTION_TIMING = _enum("riskDetectionTimingType", "notDefined realtime nearRealtime offline unknownFutureValue")
ACTIVITY_TYPE = _enum("activityType", "signin user unknownFutureValue servicePrincipal")
TOKEN_ISSUER_TYPE = _enum(
    "tokenIssuerType",
    "AzureAD ADFederationServices UnknownFutureValue AzureADBackupAuth ADFederationServicesMFAAdapter NPSExtension",
    sentinel="UnknownFutureValue",
)
