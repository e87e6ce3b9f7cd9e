"""What callers may write: the allowed values, the valid classification/determination pairs, the id shapes and the
size limits. Data only; `validation` applies it and `openapi` publishes it, so the document and the checks agree.

Sources
- Writable alert fields and values: Graph "Update alert" (learn.microsoft.com/graph/api/security-alert-update);
  alertStatus lists `new`, `inProgress`, `resolved` for writing.
- Incident status: incidentStatus (learn.microsoft.com/graph/api/resources/security-incident): `active`,
  `inProgress`, `awaitingAction`, `resolved`. `redirected` is set by Defender when it merges incidents and needs
  a target, so it is not accepted here.
- Classification/determination pairs: the Microsoft Defender XDR "Update alert"/"Update incident" API pages
  (learn.microsoft.com/defender-endpoint/api/update-alert, learn.microsoft.com/defender-xdr/api-update-incidents),
  which group determinations under the portal's three classifications, as the portal's "Classify" pane does:
  True positive: multistage attack, malicious user activity, compromised account, malware, phishing, unwanted
  software, other. Informational, expected activity: security test, line-of-business application, confirmed
  activity, other. False positive: not malicious, not enough data to validate, other. The same pages say `apt` and
  `securityPersonnel` were deprecated in August 2022; Graph's enum still lists them, but no classification takes
  them, so they are refused with a message that says so.
- Graph's own pages name some determinations differently (`compromisedUser`, `clean`, `insufficientData`,
  `confirmedUserActivity`); the enum and the service use the names below, and those aliases are accepted and
  translated. Values are matched case-insensitively (Graph's examples use PascalCase) and sent in camelCase.
- Risky users/service principals: at most 60 ids per confirmCompromised/dismiss call (Graph's
  riskyUsers/riskyServicePrincipals "dismiss" descriptions: "The maximum count of users to dismiss in one call is
  60", "You can dismiss up to 60 service principal accounts in one request"); the same chunk is used for
  confirmCompromised.
- Comment length: Graph answers "Maximum comment length is 1000 characters" for incident comments (a field
  report); the same cap is applied to alert comments.
"""

from __future__ import annotations

import re

ALERT_STATUSES: tuple[str, ...] = ("new", "inProgress", "resolved")
INCIDENT_STATUSES: tuple[str, ...] = ("active", "inProgress", "awaitingAction", "resolved")

CLASSIFICATIONS: tuple[str, ...] = ("unknown", "truePositive", "informationalExpectedActivity", "falsePositive")

DETERMINATIONS_BY_CLASSIFICATION: dict[str, tuple[str, ...]] = {
    "unknown": ("unknown",),
    "truePositive": (
        "multiStagedAttack", "maliciousUserActivity", "compromisedAccount", "malware", "phishing", "unwantedSoftware",
        "other",
    ),
    "informationalExpectedActivity": ("securityTesting", "lineOfBusinessApplication", "confirmedActivity", "other"),
    "falsePositive": ("notMalicious", "notEnoughDataToValidate", "other"),
}

# Every determination a caller may send, in Graph's declared order.
DETERMINATIONS: tuple[str, ...] = (
    "unknown", "malware", "securityTesting", "unwantedSoftware", "other", "multiStagedAttack", "compromisedAccount",
    "phishing", "maliciousUserActivity", "notMalicious", "notEnoughDataToValidate", "confirmedActivity",
    "lineOfBusinessApplication",
)
assert set(DETERMINATIONS) == {d for ds in DETERMINATIONS_BY_CLASSIFICATION.values() for d in ds}

DEPRECATED_DETERMINATIONS: dict[str, str] = {
    "apt": "Microsoft Defender deprecated 'apt' in August 2022; use truePositive with multiStagedAttack or other",
    "securityPersonnel": (
        "Microsoft Defender deprecated 'securityPersonnel' in August 2022; use informationalExpectedActivity with "
        "confirmedActivity or securityTesting"
    ),
}

DETERMINATION_ALIASES: dict[str, str] = {
    "compromiseduser": "compromisedAccount",
    "clean": "notMalicious",
    "insufficientdata": "notEnoughDataToValidate",
    "confirmeduseractivity": "confirmedActivity",
}

# Alert and incident ids: Defender ids are letters, digits and a few separators
# (`da637551227677560813_-961444813`, `2972395`, `fa3d6aa4-...`). Anything that could change the meaning of a URL
# (`/`, `\`, `?`, `#`, `%`, whitespace, control characters, quotes, parentheses, a `.` or `..` segment) is refused;
# the id is percent-encoded into the Graph path all the same.
ID_CHARS = "A-Za-z0-9_:=+@~-"
# The patterns are written for the OpenAPI document (ECMA-262, where `$` is the end of the text). Python code must
# check them with fullmatch: with re.match, `$` also matches before a final newline, so "<id>\n" would pass (and
# Graph ignores an id it does not know, so a security action would report a success that did not happen).
ENTITY_ID_PATTERN = rf"^[{ID_CHARS}]+(\.[{ID_CHARS}]+)*$"
ENTITY_ID_RE = re.compile(ENTITY_ID_PATTERN)
MAX_ENTITY_ID_CHARS = 200

# Risky users and service principals are addressed by Entra object id (a GUID).
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
GUID_RE = re.compile(GUID_PATTERN)

MAX_COMMENT_CHARS = 1000
MAX_ASSIGNED_TO_CHARS = 256
MAX_CUSTOM_TAGS = 50
MAX_CUSTOM_TAG_CHARS = 128
MAX_IDEMPOTENCY_KEY_CHARS = 255
RISKY_CHUNK = 60  # Graph's limit per confirmCompromised/dismiss call
BATCH_CHUNK = 20  # Graph's $batch limit

MAX_BODY_BYTES = 16 * 1024  # single-item requests
MAX_BULK_BODY_BYTES = 1024 * 1024  # lists of ids (up to ACTIONS_MAX_BULK_IDS, at most 5,000)

NOT_ATTEMPTED_DETAIL = ("The request's time budget (ACTIONS_BULK_TIME_BUDGET_SECONDS) ran out before this id; "
                        "send it again.")
