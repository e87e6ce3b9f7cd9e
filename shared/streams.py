"""The export streams as rows of one table. Adding a stream is adding a row.

`filterable` says whether Graph accepts `$filter=<cursor field> ge <time>` on the resource. Where it does not
(riskyServicePrincipals documents `$filter (eq)` only; servicePrincipalRiskDetections documents `$filter` on
requestId and servicePrincipalId only), the stream takes a snapshot of the collection and the engine keeps only the
versions it has not written yet, with the same cursor and de-duplication rules as a filtered stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RateFamily(StrEnum):
    """API families that Graph throttles separately (graph-api-reference.md section 5.1)."""

    SECURITY = "security"
    IDENTITY_PROTECTION = "identityProtection"
    DIRECTORY = "directory"  # users, devices, ...: identity and access, resource units (enrichment only)


@dataclass(frozen=True)
class Stream:
    name: str
    path: str  # relative to the Graph version root, e.g. "/security/alerts_v2"
    cursor_field: str  # the version timestamp of an item
    page_cap: int  # the largest $top Graph accepts for this resource
    family: RateFamily
    filterable: bool
    id_field: str = "id"
    permission: str = ""  # the least Graph application permission that reads it, for error messages


STREAMS: dict[str, Stream] = {
    stream.name: stream
    for stream in (
        Stream("alerts", "/security/alerts_v2", "lastUpdateDateTime", 1000, RateFamily.SECURITY, True,
               permission="SecurityAlert.Read.All"),
        Stream("incidents", "/security/incidents", "lastUpdateDateTime", 1000, RateFamily.SECURITY, True,
               permission="SecurityIncident.Read.All"),
        Stream("riskDetections", "/identityProtection/riskDetections", "lastUpdatedDateTime", 500,
               RateFamily.IDENTITY_PROTECTION, True, permission="IdentityRiskEvent.Read.All"),
        Stream("riskyUsers", "/identityProtection/riskyUsers", "riskLastUpdatedDateTime", 500,
               RateFamily.IDENTITY_PROTECTION, True, permission="IdentityRiskyUser.Read.All"),
        Stream("riskyServicePrincipals", "/identityProtection/riskyServicePrincipals", "riskLastUpdatedDateTime",
               500, RateFamily.IDENTITY_PROTECTION, False, permission="IdentityRiskyServicePrincipal.Read.All"),
        Stream("servicePrincipalRiskDetections", "/identityProtection/servicePrincipalRiskDetections",
               "lastUpdatedDateTime", 500, RateFamily.IDENTITY_PROTECTION, False,
               permission="IdentityRiskEvent.Read.All"),
    )
}


def family_of_path(path: str) -> RateFamily:
    """The rate family of a Graph path such as /security/alerts_v2/123 or /identityProtection/riskyUsers/dismiss."""
    lowered = path.lower().lstrip("/")
    if lowered.startswith("v1.0/") or lowered.startswith("beta/"):
        lowered = lowered.split("/", 1)[1]
    if lowered.startswith("identityprotection"):
        return RateFamily.IDENTITY_PROTECTION
    return RateFamily.SECURITY
