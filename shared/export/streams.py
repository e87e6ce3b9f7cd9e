"""The export streams as rows of one table. Adding a stream is adding a row.

`filterable` says whether Graph accepts `$filter=<cursor field> ge <time>` on the resource. Where it does not
(riskyServicePrincipals documents `$filter (eq)` only; servicePrincipalRiskDetections documents `$filter` on
requestId and servicePrincipalId only), the stream takes a snapshot of the collection and the engine keeps only the
versions it has not written yet, with the same cursor and de-duplication rules as a filtered stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.graph.families import RateFamily


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
    # Whether a page may hold fewer items than asked while more match (then only a query that brings nothing new
    # proves the end; shared/export/paging.py). Graph promises full pages nowhere; we assume short ones on Identity
    # Protection (docs/graph-notes.md, "Paging"), at the cost of one more query per run that finds something new.
    short_pages: bool = False
    # Whether Graph is known to take `$orderby=<cursor field> asc` here (incidents: documented; alerts_v2: reported
    # to work, docs/graph-notes.md). Sent only when a nextLink is missing, and dropped if Graph refuses it.
    orderable: bool = False


STREAMS: dict[str, Stream] = {
    stream.name: stream
    for stream in (
        Stream("alerts", "/security/alerts_v2", "lastUpdateDateTime", 1000, RateFamily.SECURITY, True,
               permission="SecurityAlert.Read.All", orderable=True),
        Stream("incidents", "/security/incidents", "lastUpdateDateTime", 1000, RateFamily.SECURITY, True,
               permission="SecurityIncident.Read.All", orderable=True),
        Stream("riskDetections", "/identityProtection/riskDetections", "lastUpdatedDateTime", 500,
               RateFamily.IDENTITY_PROTECTION, True, permission="IdentityRiskEvent.Read.All", short_pages=True),
        Stream("riskyUsers", "/identityProtection/riskyUsers", "riskLastUpdatedDateTime", 500,
               RateFamily.IDENTITY_PROTECTION, True, permission="IdentityRiskyUser.Read.All", short_pages=True),
        Stream("riskyServicePrincipals", "/identityProtection/riskyServicePrincipals", "riskLastUpdatedDateTime",
               500, RateFamily.IDENTITY_PROTECTION, False, permission="IdentityRiskyServicePrincipal.Read.All",
               short_pages=True),
        Stream("servicePrincipalRiskDetections", "/identityProtection/servicePrincipalRiskDetections",
               "lastUpdatedDateTime", 500, RateFamily.IDENTITY_PROTECTION, False,
               permission="IdentityRiskEvent.Read.All", short_pages=True),
    )
}

# The families that have export streams (DIRECTORY serves only enrichment): one timer and one work item per tenant each.
EXPORT_FAMILIES: tuple[RateFamily, ...] = tuple(dict.fromkeys(stream.family for stream in STREAMS.values()))
