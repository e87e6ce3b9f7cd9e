"""Deterministic, realistic Graph data for one tenant (alerts_v2, incidents, Identity Protection resources).

Everything comes from one ``random.Random`` seeded per tenant, so a seed reproduces the same tenant. Entities (users,
devices, files, IPs, apps) are drawn from per-tenant pools so the same user or device recurs across alerts, as in a
real tenant. Timestamps are integer ticks (100 ns) and are written with seven fractional digits.
"""

from __future__ import annotations

import hashlib
import json
import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from . import catalog as C
from . import enums
from .draws import Item, guid, weighted
from .evidence import EvidenceBuilders
from .ticks import TICKS_PER_SECOND, format_ticks

HOUR = 3600 * TICKS_PER_SECOND
MINUTE = 60 * TICKS_PER_SECOND
DAY = 24 * HOUR



def tenant_ids(seed: int, count: int) -> tuple[str, ...]:
    rng = random.Random(f"tenants:{seed}")
    return tuple(guid(rng) for _ in range(count))


_PRIORITY = {"informational": 10, "low": 30, "medium": 50, "high": 80}  # incident priorityScore is 0-100


@lru_cache(maxsize=4096)
def _stable_guid(text: str) -> str:
    h = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


_SERVICE_KEYS, _SERVICE_CUM = weighted(C.SERVICE_WEIGHTS)
_FORCED_DETECTIONS = [m for m in enums.DETECTION_SOURCE.members if m != "unknownFutureValue"]
_INVESTIGATION_STATES = enums.INVESTIGATION_STATE.settable()
_FORCED_SERVICES = [m for m in enums.SERVICE_SOURCE.members if m != "unknownFutureValue"]

class TenantGenerator(EvidenceBuilders):
    """Makes the items of one tenant. Keeps its RNG and pools so later additions stay consistent and deterministic."""

    def __init__(
        self,
        seed: int,
        index: int,
        tenant_id: str,
        *,
        anchor: int,
        history_days: float,
        evidence_kb: float,
        extra_field_rate: float,
        alerts_per_incident: float,
        users: int = 120,
        devices: int = 80,
    ):
        self.pool_sizes = (max(users, 1), max(devices, 1))
        self.rng = random.Random(f"tenant:{seed}:{index}")
        self._random = self.rng.random
        self.tenant_id = tenant_id
        self.anchor = anchor
        self.span = max(int(history_days * DAY), MINUTE)
        self.evidence_bytes = max(evidence_kb, 0.05) * 1024
        self.extra_field_rate = extra_field_rate
        self.alerts_per_incident = max(alerts_per_incident, 1.0)
        self.company = C.COMPANIES[index % len(C.COMPANIES)] + (str(index // len(C.COMPANIES)) if index >= 10 else "")
        self.domain = f"{self.company}.com"
        self.netbios = self.company[:15].upper()
        self._alert_seq = 0
        self._incident_seq = self.rng.randrange(1000, 90000)
        self._alert_ids: set[str] = set()
        self._build_pools()
        self._start_evidence()

    # --- pools ------------------------------------------------------------------------------------------------------

    def _build_pools(self) -> None:
        rng = self.rng
        self.users: list[Item] = []
        seen: set[str] = set()
        while len(self.users) < self.pool_sizes[0]:
            first, last = self._pick(C.FIRST_NAMES), self._pick(C.LAST_NAMES)
            alias = f"{first}.{last}".lower()
            if alias in seen:
                alias = f"{alias}{len(self.users)}"
            seen.add(alias)
            self.users.append(
                {
                    "accountName": f"{first[0]}{last}".lower()[:20],
                    "domainName": self.netbios,
                    "userSid": f"S-1-5-21-{rng.getrandbits(31)}-{rng.getrandbits(31)}-{rng.getrandbits(31)}-"
                    f"{1000 + len(self.users)}",
                    "azureAdUserId": guid(rng),
                    "userPrincipalName": f"{alias}@{self.domain}",
                    "displayName": f"{first} {last}",
                }
            )
        self.devices: list[Item] = []
        for i in range(self.pool_sizes[1]):
            platform, build, version = self._pick(C.OS_PLATFORMS)
            host = f"{self._pick(('DESKTOP', 'LAPTOP', 'SRV', 'WKS', 'VM'))}-{rng.getrandbits(24):06X}"
            internal = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            user = self.users[i % len(self.users)]
            self.devices.append(
                {
                    "firstSeenDateTime": format_ticks(self.anchor - self.span - rng.randrange(30 * DAY)),
                    "mdeDeviceId": "%040x" % rng.getrandbits(160),  # noqa: UP031
                    "azureAdDeviceId": guid(rng),
                    "deviceDnsName": f"{host.lower()}.{self.domain}",
                    "hostName": host.lower(),
                    "ntDomain": self.netbios,
                    "dnsDomain": self.domain,
                    "osPlatform": platform,
                    "osBuild": build,
                    "version": version,
                    "healthStatus": self._pick(C.HEALTH),
                    "riskScore": self._pick(C.RISK_SCORES),
                    "rbacGroupId": rng.randrange(1, 40),
                    "rbacGroupName": self._pick(
                        ("Workstations", "Servers", "Finance devices", "Kiosks", "UnassignedGroup")
                    ),
                    "onboardingStatus": self._pick(C.ONBOARDING),
                    "defenderAvStatus": self._pick(C.AV_STATUS),
                    "ipInterfaces": [internal, "fe80::%x:%x:%x:%x" % tuple(rng.getrandbits(16) for _ in range(4))],  # noqa: UP031
                    "loggedOnUsers": [{"accountName": user["accountName"], "domainName": self.netbios}],
                    "lastIpAddress": internal,
                    "lastExternalIpAddress": self._public_ip(),
                    "vmMetadata": None
                    if rng.random() < 0.6
                    else {
                        "vmId": guid(rng),
                        "cloudProvider": "azure",
                        "resourceId": f"/subscriptions/{guid(rng)}/resourceGroups/rg-{self.company}/providers/"
                        f"Microsoft.Compute/virtualMachines/{host.lower()}",
                        "subscriptionId": guid(rng),
                    },
                }
            )
        self.files: list[Item] = []
        for name, folder, publisher in C.FILES:
            for _ in range(3):
                user = self._pick(self.users)
                self.files.append(
                    {
                        "fileName": name,
                        "filePath": folder.replace("{user}", user["accountName"]),
                        "fileSize": rng.randrange(4_000, 40_000_000),
                        "filePublisher": publisher,
                        "sha1": "%040x" % rng.getrandbits(160),  # noqa: UP031
                        "sha256": "%064x" % rng.getrandbits(256),  # noqa: UP031
                        "md5": "%032x" % rng.getrandbits(128),  # noqa: UP031
                        "signer": publisher,
                        "issuer": "Microsoft Windows Production PCA 2011"
                        if publisher == "Microsoft Corporation"
                        else None,
                    }
                )
        self.ips = [self._ip_entry() for _ in range(150)]
        self.urls = [
            f"https://{self._pick(C.BAD_DOMAINS)}/{self._pick(('login', 'doc', 'invoice', 'verify', 'dl'))}/"
            f"{rng.getrandbits(48):012x}?id={rng.getrandbits(32)}"
            for _ in range(120)
        ]
        self.service_principals: list[Item] = []
        for i in range(max(12, len(C.SP_NAMES))):
            name = C.SP_NAMES[i % len(C.SP_NAMES)] + ("" if i < len(C.SP_NAMES) else f" {i}")
            self.service_principals.append(
                {
                    "id": guid(rng),
                    "appId": guid(rng),
                    "displayName": name,
                    "servicePrincipalType": "ManagedIdentity" if rng.random() < 0.3 else "Application",
                }
            )
        self.subscription = guid(rng)

    def _public_ip(self) -> str:
        rng = self.rng
        if rng.random() < 0.08:
            return "2001:db8:%x:%x::%x" % (rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16))  # noqa: UP031
        return f"{self._pick(C.IP_FIRST_OCTETS)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def _ip_entry(self) -> tuple[str, tuple]:
        return self._public_ip(), self._pick(C.COUNTRIES)

    # --- small helpers ----------------------------------------------------------------------------------------------

    # random.choice/choices/sample cost ~1 us each; these are the hot path of generating 100k alerts.
    def _pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self._random() * len(seq))]

    def _pick_weighted(self, keys: Sequence[str], cum: Sequence[int]) -> str:
        return keys[bisect(cum, self._random() * cum[-1])]

    def _pick_some(self, seq: Sequence[Any], n: int) -> list[Any]:
        return [seq[int(self._random() * len(seq))] for _ in range(n)]

    def _ts(self, low: int, high: int) -> int:
        """A tick uniformly in [low, high] (seven random fractional digits)."""
        return low + int(self.rng.random() * max(high - low, 0))

    def _extra(self, item: Item) -> None:
        """Now and then a property the v1.0 schema does not have: clients must carry it through untouched."""
        if self.rng.random() < self.extra_field_rate:
            item["simFutureProperty"] = {"kind": "unknownToSchema", "value": self.rng.randrange(1000)}

    # --- alerts and incidents ---------------------------------------------------------------------------------------

    def _pick_service(self) -> tuple[str, str]:
        k = self._alert_seq
        self._alert_seq += 1
        # The first alerts walk through every member, so even a small tenant has all values (incl. the hidden ones).
        if k < len(_FORCED_DETECTIONS):
            detection = _FORCED_DETECTIONS[k]
            return C.DETECTION_SERVICE[detection], detection
        k -= len(_FORCED_DETECTIONS)
        forced = k < len(_FORCED_SERVICES)
        service = _FORCED_SERVICES[k] if forced else self._pick_weighted(_SERVICE_KEYS, _SERVICE_CUM)
        return service, self._pick(C.SERVICE_DETECTIONS[service])

    def _alert_id(self, service: str) -> tuple[str, str]:
        rng = self.rng
        while True:
            if service == "microsoftDefenderForEndpoint":
                provider = f"{rng.randrange(10**17, 10**18)}_{rng.randrange(-(2**31), 2**31)}"
            else:
                provider = guid(rng)
            alert_id = C.ID_PREFIX[service] + provider
            if alert_id not in self._alert_ids:
                self._alert_ids.add(alert_id)
                return alert_id, provider

    def next_incident_id(self) -> str:
        self._incident_seq += 1
        return str(self._incident_seq)

    def alert(self, incident_id: str, created: int, last_update: int, status: str | None = None) -> Item:
        """One alert of ``incident_id`` created at ``created`` and last updated at ``last_update`` (ticks)."""
        rng = self.rng
        service, detection = self._pick_service()
        alert_id, provider_id = self._alert_id(service)
        title, category, techniques, family = self._pick(C.ALERT_TEMPLATES[service])
        self._device = self._pick(self.devices)
        self._user = self._pick(self.users)
        created_s = format_ticks(created)
        first_activity = created - int(rng.random() * 3 * HOUR)
        last_activity = first_activity + int(rng.random() * (created - first_activity))
        status = status or self._pick_weighted(("new", "inProgress", "resolved", "unknown"), (35, 60, 98, 100))
        severity = self._pick_weighted(("informational", "low", "medium", "high", "unknown"), (10, 35, 75, 99, 100))
        classification, determination = self._verdict() if status == "resolved" else (None, None)
        if status == "inProgress" and rng.random() < 0.3:
            classification, determination = self._verdict()
        evidence = self._evidence_list(service, created_s)
        item: Item = {
            "@odata.type": "#microsoft.graph.security.alert",
            "id": alert_id,
            "serviceSource": service,
            "detectionSource": detection,
            "providerAlertId": provider_id,
            "incidentId": incident_id,
            "status": status,
            "severity": severity,
            "classification": classification,
            "determination": determination,
            "detectorId": _stable_guid(title),
            "tenantId": self.tenant_id,
            "title": title,
            "description": (
                f"{title} involving {self._user['displayName']} on {self._device['hostName']}. "
                f"{C.SERVICE_PRODUCTS[service]} observed activity that matches the {category} tactic. "
                "Review the evidence and the related alerts in the incident to scope the attack."
            ),
            "recommendedActions": C.RECOMMENDED_ACTIONS.get(category, C.DEFAULT_RECOMMENDATION),
            "category": category,
            "categories": [category],
            "assignedTo": self._pick(self.users)["userPrincipalName"]
            if status != "new" and rng.random() < 0.7
            else None,
            "alertWebUrl": f"https://security.microsoft.com/alerts/{alert_id}?tid={self.tenant_id}",
            "incidentWebUrl": f"https://security.microsoft.com/incidents/{incident_id}?tid={self.tenant_id}",
            "actorDisplayName": self._pick(C.ACTORS) if rng.random() < 0.04 else None,
            "threatDisplayName": family,
            "threatFamilyName": family,
            "mitreTechniques": list(techniques),
            "createdDateTime": created_s,
            "lastUpdateDateTime": format_ticks(last_update),
            "firstActivityDateTime": format_ticks(first_activity),
            "lastActivityDateTime": format_ticks(last_activity),
            "resolvedDateTime": format_ticks(last_update) if status == "resolved" else None,
            "comments": self._comments(created, last_update) if status != "new" and rng.random() < 0.15 else [],
            "evidence": evidence,
            "systemTags": ["Defender Experts"] if rng.random() < 0.03 else [],
            "additionalData": self._additional_data(service, detection),
            "customDetails": {"Account": self._user["userPrincipalName"], "Host": self._device["hostName"]}
            if detection in ("customDetection", "scheduledAlerts", "nrtAlerts")
            else {},
            "alertPolicyId": _stable_guid("policy:" + title)
            if service in ("microsoftDefenderForOffice365", "dataLossPrevention", "microsoftInsiderRiskManagement")
            else None,
            "productName": C.SERVICE_PRODUCTS[service],
            "investigationState": self._investigation_state(service, status),
        }
        self._extra(item)
        return item

    def _verdict(self) -> tuple[str, str]:
        classification = self._pick_weighted(
            ("truePositive", "falsePositive", "informationalExpectedActivity", "unknown"), (45, 70, 95, 100)
        )
        options = {
            "truePositive": (
                "multiStagedAttack",
                "maliciousUserActivity",
                "compromisedAccount",
                "malware",
                "phishing",
                "unwantedSoftware",
                "apt",
                "other",
            ),
            "falsePositive": ("notMalicious", "notEnoughDataToValidate", "other"),
            "informationalExpectedActivity": (
                "securityTesting",
                "lineOfBusinessApplication",
                "confirmedActivity",
                "securityPersonnel",
                "other",
            ),
            "unknown": ("unknown",),
        }[classification]
        return classification, self._pick(options)

    def _investigation_state(self, service: str, status: str) -> str:
        if service not in ("microsoftDefenderForEndpoint", "microsoftDefenderForOffice365", "microsoft365Defender"):
            return "unsupportedAlertType"
        if status == "resolved":
            return self._pick(("successfullyRemediated", "benign", "terminatedByUser", "partiallyRemediated"))
        return self._pick(_INVESTIGATION_STATES)

    def _additional_data(self, service: str, detection: str) -> Item:
        if service == "microsoftSentinel":
            return {
                "SentinelAnalyticsRuleId": _stable_guid("rule:" + detection),
                "SearchQueryResults": self.rng.randrange(1, 500),
            }
        if service == "microsoftDefenderForCloud":
            return {"ResourceGroup": f"rg-{self.company}-prod", "SubscriptionId": self.subscription}
        return {}

    def comment(self, text: str, author: str, ticks: int) -> Item:
        return {"comment": text, "createdByDisplayName": author, "createdDateTime": format_ticks(ticks)}

    def _comments(self, low: int, high: int) -> list[Item]:
        rng = self.rng
        texts = (
            "Investigating with the device owner.",
            "Confirmed with the user; credentials reset.",
            "Escalated to tier 2.",
            "Known pentest activity (ticket SEC-4711).",
            "Device isolated.",
        )
        stamps = sorted(self._ts(low, high) for _ in range(rng.randrange(1, 3)))
        return [self.comment(self._pick(texts), self._pick(C.ANALYSTS), ts) for ts in stamps]

    def incident(self, incident_id: str, alerts: list[Item]) -> Item:
        """An incident summarizing ``alerts`` (which already carry ``incidentId``)."""
        rng = self.rng
        created = min(a["createdDateTime"] for a in alerts)
        last_update = max(a["lastUpdateDateTime"] for a in alerts)
        statuses = {a["status"] for a in alerts}
        if statuses == {"resolved"}:
            status = "resolved"
        elif "inProgress" in statuses or "resolved" in statuses:
            status = "inProgress"
        else:
            status = "active"
        roll = rng.random()
        if status != "resolved" and roll < 0.08:
            status = "awaitingAction"  # hidden behind the Prefer header
        redirect = None
        if roll > 0.97:
            status, redirect = "redirected", str(int(incident_id) + rng.randrange(1, 50))
        severity = max((a["severity"] for a in alerts), key=lambda s: enums.ALERT_SEVERITY.index(s) or 0)
        first = alerts[0]
        categories = sorted({a["category"] for a in alerts})
        hosts = {e.get("hostName") for a in alerts for e in a["evidence"] if e.get("hostName")}
        where = "on one endpoint" if len(hosts) == 1 else f"on {len(hosts)} endpoints" if hosts else "in the tenant"
        products = sorted({a["productName"] for a in alerts})
        name = (
            f"Multi-stage incident involving {' & '.join(categories[:3])} {where}"
            if len(alerts) > 1
            else f"{first['title']} {where}"
        )
        item: Item = {
            "@odata.type": "#microsoft.graph.security.incident",
            "id": incident_id,
            "status": status,
            "tenantId": self.tenant_id,
            "displayName": name,
            "description": f"{len(alerts)} correlated alert(s) from {', '.join(products)}.",
            "incidentWebUrl": f"https://security.microsoft.com/incidents/{incident_id}?tid={self.tenant_id}",
            "redirectIncidentId": redirect,
            "createdDateTime": created,
            "lastUpdateDateTime": last_update,
            "assignedTo": first["assignedTo"],
            "classification": first["classification"] if status == "resolved" else None,
            "determination": first["determination"] if status == "resolved" else None,
            "severity": severity,
            "customTags": self._pick(([], [], ["VIP"], ["Pentest"], ["Finance", "Escalated"])),
            "systemTags": ["Defender Experts"] if rng.random() < 0.03 else [],
            "comments": [],
            "lastModifiedBy": self._pick(("API-App:" + _stable_guid(self.tenant_id), "Automation", None)),
            # v1.0 properties newer than the first docs (msgraph-metadata CSDL); derived, so the data stays seeded
            "priorityScore": _PRIORITY.get(severity, 0) + min(len(alerts), 19),
            "resolvingComment": "Resolved after investigation." if status == "resolved" else None,
            "summary": f"{name}. {len(alerts)} alert(s) from {', '.join(products)}." if len(alerts) > 1 else None,
        }
        self._extra(item)
        return item

    def security(self, n_alerts: int) -> Iterator[tuple[Item, list[Item]]]:
        """Yield (incident, its alerts) until ``n_alerts`` alerts spread over the history span exist."""
        rng = self.rng
        made = 0
        mean_extra = self.alerts_per_incident - 0.5
        while made < n_alerts:
            size = 1 + int(rng.expovariate(1.0 / mean_extra)) if mean_extra > 0 else 1
            size = min(size, 40, n_alerts - made)
            start = self.anchor - int(rng.random() * self.span)
            created = sorted(self._ts(start, min(start + 6 * HOUR, self.anchor)) for _ in range(size))
            # A quarter of incidents are closed in one bulk action: their alerts share one lastUpdateDateTime.
            if rng.random() < 0.25:
                bulk = self._ts(created[-1], self.anchor)
                updates = [bulk] * size
                status = "resolved" if rng.random() < 0.7 else "inProgress"
            else:
                updates = [c + int(rng.random() ** 3 * (self.anchor - c)) for c in created]
                status = None
            incident_id = self.next_incident_id()
            group = [self.alert(incident_id, c, u, status) for c, u in zip(created, updates, strict=True)]
            made += size
            yield self.incident(incident_id, group), group

    # --- Identity Protection ----------------------------------------------------------------------------------------

    def risky_users(self, n: int) -> list[Item]:
        rng = self.rng
        users = self.users[: max(0, min(n, len(self.users)))]
        if n > len(self.users):  # very large tenants: mint more users
            users = users + [self._extra_user(i) for i in range(n - len(self.users))]
        out = []
        for user in users:
            state, level, detail = self._user_risk()
            item: Item = {
                "id": user["azureAdUserId"],
                "riskDetail": detail,
                "isDeleted": rng.random() < 0.02,
                "isProcessing": rng.random() < 0.03,
                "riskLastUpdatedDateTime": format_ticks(self.anchor - int(rng.random() * self.span)),
                "riskLevel": level,
                "riskState": state,
                "userDisplayName": user["displayName"],
                "userPrincipalName": user["userPrincipalName"],
            }
            self._extra(item)
            out.append(item)
        return out

    def _extra_user(self, i: int) -> Item:
        rng = self.rng
        return {
            "azureAdUserId": guid(rng),
            "displayName": f"User {i}",
            "userPrincipalName": f"user{i}@{self.domain}",
            "accountName": f"user{i}",
            "domainName": self.netbios,
        }

    def _user_risk(self) -> tuple[str, str, str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.58:
            return "atRisk", self._pick(("low", "medium", "medium", "high")), "none"
        if roll < 0.73:
            return (
                "remediated",
                "none",
                self._pick(
                    (
                        "userPerformedSecuredPasswordChange",
                        "userPerformedSecuredPasswordReset",
                        "adminGeneratedTemporaryPassword",
                        "userPassedMFADrivenByRiskBasedPolicy",
                        "userChangedPasswordOnPremises",
                    )
                ),
            )
        if roll < 0.88:
            return (
                "dismissed",
                "none",
                self._pick(("adminDismissedAllRiskForUser", "m365DAdminDismissedDetection", "aiConfirmedSigninSafe")),
            )
        if roll < 0.94:
            return "confirmedCompromised", "high", "adminConfirmedUserCompromised"
        if roll < 0.98:
            return "confirmedSafe", "none", self._pick(("adminConfirmedSigninSafe", "adminConfirmedAccountSafe"))
        return "atRisk", "hidden", "hidden"

    def _location(self) -> tuple[str, Item]:
        ip, (country, city, state, lat, lon) = self._pick(self.ips)
        return ip, {
            "city": city,
            "state": state,
            "countryOrRegion": country,
            "geoCoordinates": {"altitude": None, "latitude": lat, "longitude": lon},
        }

    def risk_detection(self, user: Item, *, event_type: str | None = None, at: int | None = None) -> Item:
        """One riskDetection for risky user ``user`` (a riskyUser item)."""
        rng = self.rng
        event_type = event_type or self._pick(C.RISK_EVENT_TYPES)
        offline = event_type in (
            "leakedCredentials",
            "investigationsThreatIntelligence",
            "anomalousUserActivity",
            "adminConfirmedUserCompromised",
            "userReportedSuspiciousActivity",
        )
        if at is None:
            activity = self.anchor - int(rng.random() * self.span)
            detected = min(activity + int(rng.random() * (2 * DAY if offline else 5 * MINUTE)), self.anchor)
            updated = detected + int(rng.random() ** 2 * (self.anchor - detected))
        else:
            activity = detected = updated = at
        ip, location = self._location()
        state = user["riskState"] if user["riskState"] != "none" else "atRisk"
        level = user["riskLevel"] if user["riskLevel"] != "none" else self._pick(("low", "medium", "high"))
        detail = user["riskDetail"]
        item: Item = {
            "id": "%064x" % rng.getrandbits(256),  # noqa: UP031
            "riskDetail": detail,
            "activity": "user" if offline else "signin",
            "tokenIssuerType": self._pick_weighted(
                (
                    "AzureAD",
                    "ADFederationServices",
                    "AzureADBackupAuth",
                    "ADFederationServicesMFAAdapter",
                    "NPSExtension",
                ),
                (85, 92, 96, 98, 100),
            ),
            "requestId": None if offline else guid(rng),
            "correlationId": None if offline else guid(rng),
            "riskEventType": event_type,
            "riskState": state,
            "riskLevel": level,
            "source": "MicrosoftCloudAppSecurity" if event_type.startswith("mcas") else "IdentityProtection",
            "detectionTimingType": "offline" if offline else self._pick(("realtime", "nearRealtime")),
            "ipAddress": ip,
            "location": location,
            "activityDateTime": format_ticks(activity),
            "detectedDateTime": format_ticks(detected),
            "lastUpdatedDateTime": format_ticks(updated),
            "userId": user["id"],
            "userDisplayName": user["userDisplayName"],
            "userPrincipalName": user["userPrincipalName"],
            "additionalInfo": json.dumps(
                [
                    {"Key": "userAgent", "Value": self._pick(C.USER_AGENTS)},
                    {"Key": "relatedEventTimeInUtc", "Value": format_ticks(activity)},
                ]
            ),
        }
        self._extra(item)
        return item

    def risk_detections(self, n: int, users: list[Item]) -> list[Item]:
        if not users:
            return []
        return [self.risk_detection(self._pick(users)) for _ in range(n)]

    def risky_service_principals(self, n: int) -> list[Item]:
        rng = self.rng
        out = []
        for i in range(n):
            sp = self.service_principals[i % len(self.service_principals)]
            if i >= len(self.service_principals):
                sp = {**sp, "id": guid(rng), "appId": guid(rng), "displayName": f"{sp['displayName']} {i}"}
            roll = rng.random()
            if roll < 0.6:
                state, level, detail = "atRisk", self._pick(("low", "medium", "high")), "none"
            elif roll < 0.75:
                state, level, detail = "confirmedCompromised", "high", "adminConfirmedServicePrincipalCompromised"
            elif roll < 0.95:
                state, level, detail = "dismissed", "none", "adminDismissedAllRiskForServicePrincipal"
            else:
                state, level, detail = "atRisk", "hidden", "hidden"
            item: Item = {
                "id": sp["id"],
                "riskDetail": detail,
                "appId": sp["appId"],
                "displayName": sp["displayName"],
                "isEnabled": rng.random() < 0.9,
                "isProcessing": rng.random() < 0.05,
                "riskLastUpdatedDateTime": format_ticks(self.anchor - int(rng.random() * self.span)),
                "riskLevel": level,
                "riskState": state,
                "servicePrincipalType": sp["servicePrincipalType"],
            }
            self._extra(item)
            out.append(item)
        return out

    def service_principal_risk_detections(self, n: int, sps: list[Item]) -> list[Item]:
        rng = self.rng
        out = []
        for _ in range(n if sps else 0):
            sp = self._pick(sps)
            activity = self.anchor - int(rng.random() * self.span)
            detected = min(activity + int(rng.random() * HOUR), self.anchor)
            updated = detected + int(rng.random() ** 2 * (self.anchor - detected))
            ip, location = self._location()
            signin = rng.random() < 0.4
            item: Item = {
                "id": "%064x" % rng.getrandbits(256),  # noqa: UP031
                "riskDetail": sp["riskDetail"],
                "activity": "signin" if signin else "servicePrincipal",
                "tokenIssuerType": "AzureAD",
                "activityDateTime": format_ticks(activity),
                "additionalInfo": json.dumps([{"Key": "riskReasons", "Value": ["suspiciousIP"]}]),
                "appId": sp["appId"],
                "correlationId": guid(rng) if signin else None,
                "detectedDateTime": format_ticks(detected),
                "detectionTimingType": "realtime" if signin else "offline",
                "ipAddress": ip,
                "keyIds": [guid(rng)],
                "lastUpdatedDateTime": format_ticks(updated),
                "location": location,
                "requestId": guid(rng) if signin else None,
                "riskEventType": self._pick(C.SP_RISK_EVENT_TYPES),
                "riskLevel": sp["riskLevel"] if sp["riskLevel"] != "none" else "medium",
                "riskState": sp["riskState"],
                "servicePrincipalDisplayName": sp["displayName"],
                "servicePrincipalId": sp["id"],
                "source": "IdentityProtection",
            }
            self._extra(item)
            out.append(item)
        return out
