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
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from . import catalog as C
from . import enums
from .ticks import TICKS_PER_SECOND, format_ticks

HOUR = 3600 * TICKS_PER_SECOND
MINUTE = 60 * TICKS_PER_SECOND
DAY = 24 * HOUR

Item = dict[str, Any]


def guid(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)  # noqa: UP031 - hot path
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def tenant_ids(seed: int, count: int) -> tuple[str, ...]:
    rng = random.Random(f"tenants:{seed}")
    return tuple(guid(rng) for _ in range(count))


_PRIORITY = {"informational": 10, "low": 30, "medium": 50, "high": 80}  # incident priorityScore is 0-100


@lru_cache(maxsize=4096)
def _stable_guid(text: str) -> str:
    h = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _weighted(table: dict[str, int]) -> tuple[list[str], list[int]]:
    keys = list(table)
    cum, total = [], 0
    for k in keys:
        total += table[k]
        cum.append(total)
    return keys, cum


_SERVICE_KEYS, _SERVICE_CUM = _weighted(C.SERVICE_WEIGHTS)
_FORCED_DETECTIONS = [m for m in enums.DETECTION_SOURCE.members if m != "unknownFutureValue"]
_INVESTIGATION_STATES = enums.INVESTIGATION_STATE.settable()
_FORCED_SERVICES = [m for m in enums.SERVICE_SOURCE.members if m != "unknownFutureValue"]

# Evidence mix per product: (builder name, weight). The first entry is always included once.
_EVIDENCE_MIX: dict[str, dict[str, int]] = {
    "microsoftDefenderForEndpoint": {
        "device": 0,
        "process": 6,
        "file": 4,
        "user": 2,
        "ip": 2,
        "url": 2,
        "registryKey": 1,
        "registryValue": 1,
    },
    "microsoftDefenderForOffice365": {
        "mailbox": 0,
        "analyzedMessage": 6,
        "mailCluster": 2,
        "url": 3,
        "user": 1,
        "file": 1,
        "ip": 1,
    },
    "microsoftDefenderForIdentity": {"user": 0, "device": 3, "ip": 3, "securityGroup": 1, "user_": 2},
    "microsoftDefenderForCloudApps": {
        "cloudApplication": 0,
        "user": 2,
        "ip": 3,
        "cloudLogonSession": 2,
        "oauthApplication": 1,
    },
    "microsoft365Defender": {
        "user": 0,
        "device": 2,
        "process": 3,
        "mailbox": 1,
        "analyzedMessage": 2,
        "ip": 2,
        "url": 2,
        "file": 2,
    },
    "azureAdIdentityProtection": {"user": 0, "ip": 3, "cloudLogonRequest": 2, "cloudLogonSession": 2},
    "microsoftAppGovernance": {"oauthApplication": 0, "cloudApplication": 1, "user": 2, "ip": 1},
    "dataLossPrevention": {"user": 0, "file": 3, "mailbox": 1, "blob": 1, "url": 1},
    "microsoftDefenderForCloud": {
        "azureResource": 0,
        "ip": 3,
        "amazonResource": 1,
        "googleCloudResource": 1,
        "kubernetesPod": 2,
        "container": 2,
        "containerImage": 1,
        "containerRegistry": 1,
        "kubernetesCluster": 1,
        "kubernetesNamespace": 1,
        "kubernetesSecret": 1,
        "kubernetesServiceAccount": 1,
        "kubernetesService": 1,
        "kubernetesController": 1,
        "blob": 2,
        "blobContainer": 1,
    },
    "microsoftSentinel": {
        "ip": 0,
        "user": 3,
        "device": 2,
        "url": 2,
        "dns": 2,
        "azureResource": 1,
        "file": 1,
        "process": 1,
    },
    "microsoftInsiderRiskManagement": {"user": 0, "file": 4, "blob": 1, "url": 1},
    "microsoftThreatIntelligence": {"ip": 0, "url": 2, "file": 2, "dns": 2},
    "microsoftSecurityForAI": {"azureResource": 0, "user": 2, "ip": 1},
    "unknown": {"user": 0, "ip": 1, "url": 1},
}
_EVIDENCE_MIX_TABLES = {
    service: (next(iter(mix)), *_weighted({k.rstrip("_"): w for k, w in mix.items() if w}))
    for service, mix in _EVIDENCE_MIX.items()
}


class TenantGenerator:
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
        self._size_estimate: dict[str, list[int]] = {}
        self._mean_size: dict[str, int] = {}
        self._alert_ids: set[str] = set()
        self._build_pools()
        self._builders: dict[str, Callable[[str], Item]] = {
            name[3:]: getattr(self, name) for name in dir(self) if name.startswith("ev_")
        }

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

    # --- evidence ---------------------------------------------------------------------------------------------------

    def _evidence_base(self, odata_type: str, ts: str, roles: list[str]) -> Item:
        verdict = self._pick(("suspicious", "malicious", "suspicious", "noThreatsFound", "unknown"))
        remediation = self._pick(("none", "none", "remediated", "prevented", "blocked", "notFound"))
        return {
            "@odata.type": f"#microsoft.graph.security.{odata_type}",
            "createdDateTime": ts,
            "verdict": verdict,
            "remediationStatus": remediation,
            "remediationStatusDetails": None if remediation == "none" else f"{remediation} by automated investigation",
            "roles": roles,
            "detailedRoles": [],
            "tags": [],
        }

    def ev_user(self, ts: str) -> Item:
        e = self._evidence_base("userEvidence", ts, self._pick(([], ["compromised"], ["attacked"])))
        e["userAccount"] = self._pick(self.users)
        e["stream"] = None
        return e

    def ev_device(self, ts: str) -> Item:
        e = self._evidence_base("deviceEvidence", ts, [])
        e["detailedRoles"] = ["Main device"]
        e.update(self._device)
        e["resourceAccessEvents"] = []
        return e

    def _file_details(self) -> Item:
        return self._pick(self.files)

    def ev_file(self, ts: str) -> Item:
        e = self._evidence_base("fileEvidence", ts, self._pick(([], ["created"], ["loaded"])))
        e["detectionStatus"] = self._pick(C.DETECTION_STATUS)
        e["mdeDeviceId"] = self._device["mdeDeviceId"]
        e["fileDetails"] = self._file_details()
        return e

    def ev_process(self, ts: str) -> Item:
        rng = self.rng
        e = self._evidence_base("processEvidence", ts, [])
        line = self._pick(C.COMMAND_LINES).format(
            b64="%x" % rng.getrandbits(320),  # noqa: UP031
            domain=self._pick(C.BAD_DOMAINS),
            host=self._device["hostName"],
            cmd="whoami",
        )
        e.update(
            {
                "processId": rng.randrange(100, 65000),
                "parentProcessId": rng.randrange(100, 65000),
                "processCommandLine": line,
                "processCreationDateTime": ts,
                "parentProcessCreationDateTime": ts,
                "detectionStatus": self._pick(C.DETECTION_STATUS),
                "mdeDeviceId": self._device["mdeDeviceId"],
                "imageFile": self._file_details(),
                "parentProcessImageFile": self._file_details(),
                "userAccount": self._user,
            }
        )
        return e

    def ev_ip(self, ts: str) -> Item:
        ip, (country, city, state, lat, lon) = self._pick(self.ips)
        e = self._evidence_base("ipEvidence", ts, self._pick(([], ["attacker"], ["commandAndControl"])))
        e.update(
            {
                "ipAddress": ip,
                "countryLetterCode": country,
                "location": {"countryName": country, "city": city, "state": state, "latitude": lat, "longitude": lon},
                "stream": None,
            }
        )
        return e

    def ev_url(self, ts: str) -> Item:
        e = self._evidence_base("urlEvidence", ts, [])
        e["url"] = self._pick(self.urls)
        return e

    def ev_dns(self, ts: str) -> Item:
        # In v1.0 since the 2025 metadata (earlier docs listed it as beta only).
        e = self._evidence_base("dnsEvidence", ts, [])
        e.update({"domainName": self._pick(C.BAD_DOMAINS), "hostIpAddress": {"ipAddress": self._public_ip()},
                  "dnsServerIp": None, "ipAddresses": []})
        return e

    def ev_registryKey(self, ts: str) -> Item:
        e = self._evidence_base("registryKeyEvidence", ts, [])
        e.update(
            {"registryHive": "HKEY_LOCAL_MACHINE", "registryKey": "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run"}
        )
        return e

    def ev_registryValue(self, ts: str) -> Item:
        e = self._evidence_base("registryValueEvidence", ts, [])
        e.update(
            {
                "registryHive": "HKEY_CURRENT_USER",
                "registryKey": "Software\\Microsoft\\Windows\\CurrentVersion\\Run",
                "registryValue": "C:\\Users\\Public\\update.exe -silent",
                "registryValueName": "OneDriveUpdater",
                "registryValueType": "String",
                "mdeDeviceId": self._device["mdeDeviceId"],
            }
        )
        return e

    def ev_mailbox(self, ts: str) -> Item:
        e = self._evidence_base("mailboxEvidence", ts, ["destination"])
        u = self._user
        e.update({"primaryAddress": u["userPrincipalName"], "displayName": u["displayName"], "userAccount": u,
                  "upn": u["userPrincipalName"]})
        return e

    def ev_analyzedMessage(self, ts: str) -> Item:
        rng = self.rng
        e = self._evidence_base("analyzedMessageEvidence", ts, [])
        sender_domain = self._pick(C.BAD_DOMAINS)
        sender = f"{self._pick(('billing', 'it-support', 'noreply', 'hr', 'ceo'))}@{sender_domain}"
        urls = self._pick_some(self.urls, int(self._random() * 4))
        e.update(
            {
                "networkMessageId": guid(rng),
                "internetMessageId": f"<{rng.getrandbits(64):x}.{rng.getrandbits(32):x}@{sender_domain}>",
                "subject": self._pick(C.MAIL_SUBJECTS).format(n=rng.randrange(100, 99999)),
                "language": self._pick(("en", "en", "de", "fr", "es")),
                "senderIp": self._public_ip(),
                "recipientEmailAddress": self._user["userPrincipalName"],
                "antiSpamDirection": "Inbound",
                "deliveryAction": self._pick(C.DELIVERY_ACTIONS),
                "deliveryLocation": self._pick(C.DELIVERY_LOCATIONS),
                "attachmentsCount": rng.randrange(0, 3),
                "urlCount": len(urls),
                "urls": urls,
                "threats": self._pick(([], ["Phish"], ["Malware"], ["Spam", "Phish"])),
                "threatDetectionMethods": sorted(set(self._pick_some(C.THREAT_METHODS, 1 + int(self._random() * 2)))),
                "receivedDateTime": ts,
                "p1Sender": {"displayName": sender.split("@")[0], "emailAddress": sender, "domainName": sender_domain},
                "p2Sender": {"displayName": sender.split("@")[0], "emailAddress": sender, "domainName": sender_domain},
                "urn": f"urn:MailEntity:{rng.getrandbits(128):032x}",
            }
        )
        return e

    def ev_mailCluster(self, ts: str) -> Item:
        rng = self.rng
        e = self._evidence_base("mailClusterEvidence", ts, [])
        n = rng.randrange(2, 6)
        e.update(
            {
                "clusterBy": "Subject;P2SenderDomain",
                "clusterByValue": f"{rng.getrandbits(64):x}",
                "emailCount": n * rng.randrange(1, 40),
                "networkMessageIds": [guid(rng) for _ in range(n)],
                "query": '(Subject:"Invoice overdue") AND (P2SenderDomain:invoice-portal.biz)',
                "urn": f"urn:MailClusterEntity:{rng.getrandbits(128):032x}",
            }
        )
        return e

    def ev_cloudApplication(self, ts: str) -> Item:
        name, app_id = self._pick(C.APPS)
        e = self._evidence_base("cloudApplicationEvidence", ts, [])
        e.update(
            {
                "appId": app_id,
                "displayName": name,
                "instanceId": 0,
                "instanceName": name,
                "saasAppId": app_id,
                "stream": None,
            }
        )
        return e

    def ev_oauthApplication(self, ts: str) -> Item:
        rng = self.rng
        e = self._evidence_base("oauthApplicationEvidence", ts, [])
        # One of the tenant's service principals (the directory serves them), drawn with the RNG calls this evidence
        # always made, so that every later item of the tenant stays what it was.
        drawn, object_id = guid(rng), guid(rng)
        sp = self.service_principals[int(drawn[:8], 16) % len(self.service_principals)]
        self._pick(C.OAUTH_APPS)
        e.update(
            {
                "appId": sp["appId"],
                "displayName": sp["displayName"],
                "objectId": object_id,
                "publisher": self._pick(("Unverified", "Contoso Ltd", "Fabrikam Apps")),
            }
        )
        return e

    def ev_cloudLogonSession(self, ts: str) -> Item:
        rng = self.rng
        e = self._evidence_base("cloudLogonSessionEvidence", ts, [])
        e.update(
            {
                "account": {"@odata.type": "#microsoft.graph.security.userEvidence", "userAccount": self._user},
                "browser": self._pick(("Edge 131", "Chrome 131", "Safari 18", "Firefox 133")),
                "deviceName": self._device["hostName"],
                "operatingSystem": self._device["osPlatform"],
                "previousLogonDateTime": ts,
                "protocol": self._pick(("OAuth2", "SAML", "WS-Federation")),
                "sessionId": guid(rng),
                "startUtcDateTime": ts,
                "userAgent": self._pick(C.USER_AGENTS),
            }
        )
        return e

    def ev_cloudLogonRequest(self, ts: str) -> Item:
        e = self._evidence_base("cloudLogonRequestEvidence", ts, [])
        e["requestId"] = guid(self.rng)
        return e

    def ev_securityGroup(self, ts: str) -> Item:
        e = self._evidence_base("securityGroupEvidence", ts, [])
        e.update(
            {
                "displayName": self._pick(("Domain Admins", "Enterprise Admins", "Backup Operators")),
                "securityGroupId": guid(self.rng),
            }
        )
        e.update({"activeDirectoryObjectGuid": e["securityGroupId"], "friendlyName": e["displayName"],
                  "distinguishedName": f"CN={e['displayName']},CN=Users,DC={self.company},DC=com", "sid": None})
        return e

    def _azure_resource(self) -> Item:
        name_type = self._pick(C.AZURE_TYPES)
        name = f"{name_type[0].split()[0].lower()}-{self.rng.getrandbits(20):05x}"
        return {
            "resourceId": f"/subscriptions/{self.subscription}/resourceGroups/rg-{self.company}-prod/providers/"
            f"{name_type[1]}/{name}",
            "resourceName": name,
            "resourceType": name_type[0],
        }

    def ev_azureResource(self, ts: str) -> Item:
        e = self._evidence_base("azureResourceEvidence", ts, ["attacked"])
        e.update(self._azure_resource())
        return e

    def ev_amazonResource(self, ts: str) -> Item:
        rng = self.rng
        e = self._evidence_base("amazonResourceEvidence", ts, [])
        e.update(
            {
                "amazonAccountId": str(rng.randrange(10**11, 10**12)),
                "amazonResourceId": f"arn:aws:ec2:eu-west-1:{rng.randrange(10**11, 10**12)}:instance/"
                f"i-{rng.getrandbits(64):016x}",
                "resourceName": f"i-{rng.getrandbits(64):016x}",
                "resourceType": self._pick(C.AWS_TYPES),
            }
        )
        return e

    def ev_googleCloudResource(self, ts: str) -> Item:
        rng = self.rng
        e = self._evidence_base("googleCloudResourceEvidence", ts, [])
        e.update(
            {
                "location": "europe-west1",
                "locationType": "regional",
                "projectId": f"{self.company}-prod",
                "projectNumber": rng.randrange(10**11, 10**12),
                "resourceName": f"//compute.googleapis.com/projects/{self.company}-prod/zones/europe-west1-b/"
                f"instances/vm-{rng.getrandbits(24):06x}",
                "resourceType": self._pick(C.GCP_TYPES),
            }
        )
        e["fullResourceName"] = e["resourceName"]
        return e

    def _cluster(self) -> Item:
        return {
            "name": f"aks-{self.company}-prod",
            "platform": "aks",
            "distribution": "AKS",
            "version": "1.30.4",
            "cloudResource": self._azure_resource(),
        }

    def _namespace(self) -> Item:
        return {
            "name": self._pick(("default", "payments", "ingress", "monitoring")),
            "labels": {},
            "cluster": self._cluster(),
        }

    def _image(self) -> Item:
        image = self._pick(C.K8S_IMAGES)
        return {
            "imageId": image,
            "digestImage": {"imageId": f"{image.split(':')[0]}@sha256:{self.rng.getrandbits(256):064x}"},
            "registry": {"registry": image.split("/")[0] if "/" in image else "docker.io"},
        }

    def ev_kubernetesCluster(self, ts: str) -> Item:
        e = self._evidence_base("kubernetesClusterEvidence", ts, [])
        e.update(self._cluster())
        return e

    def ev_kubernetesNamespace(self, ts: str) -> Item:
        e = self._evidence_base("kubernetesNamespaceEvidence", ts, [])
        e.update(self._namespace())
        return e

    def ev_kubernetesPod(self, ts: str) -> Item:
        rng = self.rng
        e = self._evidence_base("kubernetesPodEvidence", ts, ["compromised"])
        e.update(
            {
                "name": f"web-{rng.getrandbits(32):08x}",
                "namespace": self._namespace(),
                "labels": {"app": "web"},
                "podIp": {"ipAddress": f"10.244.{rng.randrange(256)}.{rng.randrange(256)}"},
                "containers": [],
                "initContainers": [],
                "ephemeralContainers": [],
                "serviceAccount": {"name": "default"},
                "controller": None,
            }
        )
        return e

    def ev_container(self, ts: str) -> Item:
        rng = self.rng
        e = self._evidence_base("containerEvidence", ts, [])
        e.update(
            {
                "containerId": f"{rng.getrandbits(256):064x}",
                "name": self._pick(("miner", "web", "sidecar")),
                "image": self._image(),
                "args": ["--donate-level", "1"],
                "command": ["/bin/sh", "-c"],
                "isPrivileged": rng.random() < 0.3,
                "pod": None,
            }
        )
        return e

    def ev_containerImage(self, ts: str) -> Item:
        e = self._evidence_base("containerImageEvidence", ts, [])
        e.update(self._image())
        return e

    def ev_containerRegistry(self, ts: str) -> Item:
        e = self._evidence_base("containerRegistryEvidence", ts, [])
        e["registry"] = f"{self.company}acr.azurecr.io"
        return e

    def ev_kubernetesSecret(self, ts: str) -> Item:
        e = self._evidence_base("kubernetesSecretEvidence", ts, [])
        e.update({"name": "db-credentials", "namespace": self._namespace(), "secretType": "Opaque"})
        return e

    def ev_kubernetesServiceAccount(self, ts: str) -> Item:
        e = self._evidence_base("kubernetesServiceAccountEvidence", ts, [])
        e.update({"name": "deployer", "namespace": self._namespace()})
        return e

    def ev_kubernetesService(self, ts: str) -> Item:
        e = self._evidence_base("kubernetesServiceEvidence", ts, [])
        e.update(
            {
                "name": "web",
                "namespace": self._namespace(),
                "clusterIP": {"ipAddress": "10.0.12.7"},
                "externalIPs": [],
                "labels": {},
                "selector": {"app": "web"},
                "servicePorts": [{"port": 443, "protocol": "tcp", "targetPort": "8443", "name": "https"}],
                "serviceType": "loadBalancer",
            }
        )
        return e

    def ev_kubernetesController(self, ts: str) -> Item:
        e = self._evidence_base("kubernetesControllerEvidence", ts, [])
        e.update({"name": "web", "namespace": self._namespace(), "type": "Deployment", "labels": {}})
        return e

    def _storage(self) -> Item:
        acct = f"st{self.company[:10]}{self.rng.getrandbits(16):04x}"
        return {
            "resourceId": f"/subscriptions/{self.subscription}/resourceGroups/rg-data/providers/"
            f"Microsoft.Storage/storageAccounts/{acct}",
            "resourceName": acct,
            "resourceType": "Storage Account",
        }

    def ev_blobContainer(self, ts: str) -> Item:
        e = self._evidence_base("blobContainerEvidence", ts, [])
        storage = self._storage()
        e.update(
            {
                "name": "exports",
                "url": f"https://{storage['resourceName']}.blob.core.windows.net/exports",
                "storageResource": storage,
            }
        )
        return e

    def ev_blob(self, ts: str) -> Item:
        rng = self.rng
        e = self._evidence_base("blobEvidence", ts, [])
        storage = self._storage()
        url = f"https://{storage['resourceName']}.blob.core.windows.net/exports"
        e.update(
            {
                "blobContainer": {"name": "exports", "url": url, "storageResource": storage},
                "etag": f"0x8DC{rng.getrandbits(48):012X}",
                "name": f"report-{rng.getrandbits(20):05x}.xlsx",
                "url": f"{url}/report.xlsx",
                "fileHashes": [{"algorithm": "sha256", "value": f"{rng.getrandbits(256):064x}"}],
            }
        )
        return e

    def _evidence_list(self, service: str, ts: str) -> list[Item]:
        rng = self.rng
        first, kinds, cum = _EVIDENCE_MIX_TABLES[service]
        # Target size varies a lot between alerts: a few "fat" alerts carry many entities.
        target = self.evidence_bytes * (0.25 + 1.5 * rng.random()) * (3.0 if rng.random() < 0.03 else 1.0)
        out = [self._builders[first](ts)]
        size = self._estimate(first, out[0])
        while len(out) < 150:
            kind = self._pick_weighted(kinds, cum)
            expected = self._mean_size.get(kind, 400)
            if size + expected // 2 > target:  # stop where the total lands closest to the target
                break
            ev = self._builders[kind](ts)
            out.append(ev)
            size += self._estimate(kind, ev)
        return out

    def _estimate(self, kind: str, ev: Item) -> int:
        """Serialized size of an evidence kind: measured for the first few, then the running average."""
        samples = self._size_estimate.setdefault(kind, [])
        if len(samples) < 16:
            samples.append(len(json.dumps(ev, separators=(",", ":"))))
            self._mean_size[kind] = sum(samples) // len(samples)
        return self._mean_size[kind]

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
