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
    # A context stream (shared/context/streams.py): the context of the users, devices or service principals (this
    # kind) that the other streams' exported records name; read from the directory, not from a Graph collection.
    context: str = ""


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
        # Context streams: versioned by a hash of the record (contextVersion), keyed as alerts name the entity.
        Stream("userContext", "", "contextVersion", 0, RateFamily.DIRECTORY, False, permission="User.Read.All",
               context="user"),
        Stream("deviceContext", "", "contextVersion", 0, RateFamily.DIRECTORY, False, id_field="deviceId",
               permission="Device.Read.All", context="device"),
        Stream("servicePrincipalContext", "", "contextVersion", 0, RateFamily.DIRECTORY, False, id_field="appId",
               permission="Application.Read.All", context="servicePrincipal"),
    )
}

# The streams that export a Graph collection (the others are context streams).
GRAPH_STREAMS: tuple[str, ...] = tuple(name for name, stream in STREAMS.items() if not stream.context)
CONTEXT_STREAMS: tuple[str, ...] = tuple(name for name, stream in STREAMS.items() if stream.context)

# The families that have export streams (DIRECTORY: the context streams, on the identity-and-access budget): one timer
# and one work item per tenant each.
EXPORT_FAMILIES: tuple[RateFamily, ...] = tuple(dict.fromkeys(stream.family for stream in STREAMS.values()))
