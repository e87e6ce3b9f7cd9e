"""Evidence of simulated alerts: one builder per evidence type of alerts_v2 (`ev_<kind>`), the mix of kinds per
product, and the sizing that makes an alert's evidence land near the configured size.

A mixin of TenantGenerator: the builders draw from the tenant's RNG and entity pools (users, devices, files, IPs,
apps), so the same user or device recurs across alerts as in a real tenant.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any

from . import catalog as C
from .draws import Item, guid, weighted

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
    service: (next(iter(mix)), *weighted({k.rstrip("_"): w for k, w in mix.items() if w}))
    for service, mix in _EVIDENCE_MIX.items()
}


class EvidenceBuilders:
    # Provided by TenantGenerator: its RNG, entity pools and drawing helpers.
    rng: random.Random
    _random: Callable[[], float]
    company: str
    evidence_bytes: float
    users: list[Item]
    files: list[Item]
    ips: list[Any]
    urls: list[str]
    service_principals: list[Item]
    subscription: str
    _device: Item
    _user: Item

    def _pick(self, seq: Sequence[Any]) -> Any: ...
    def _pick_some(self, seq: Sequence[Any], n: int) -> list[Any]: ...
    def _pick_weighted(self, keys: Sequence[str], cum: Sequence[int]) -> str: ...
    def _public_ip(self) -> str: ...

    def _start_evidence(self) -> None:
        self._size_estimate: dict[str, list[int]] = {}
        self._mean_size: dict[str, int] = {}
        self._builders: dict[str, Callable[[str], Item]] = {
            name[3:]: getattr(self, name) for name in dir(self) if name.startswith("ev_")
        }

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
