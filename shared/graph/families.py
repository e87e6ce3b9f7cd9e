"""The API families that Graph throttles separately, and which family a request path belongs to."""

from __future__ import annotations

from enum import StrEnum


class RateFamily(StrEnum):
    """API families that Graph throttles separately (docs/graph-notes.md, "Throttling")."""

    SECURITY = "security"
    IDENTITY_PROTECTION = "identityProtection"
    DIRECTORY = "directory"  # users, devices, ...: identity and access, resource units (enrichment only)


def family_of_path(path: str) -> RateFamily:
    """The rate family of a Graph path such as /security/alerts_v2/123 or /identityProtection/riskyUsers/dismiss."""
    lowered = path.lower().lstrip("/")
    if lowered.startswith("v1.0/") or lowered.startswith("beta/"):
        lowered = lowered.split("/", 1)[1]
    if lowered.startswith("identityprotection"):
        return RateFamily.IDENTITY_PROTECTION
    return RateFamily.SECURITY
