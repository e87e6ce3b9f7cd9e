"""Graph alert evidence onto OCSF `evidences[]`, `observables[]` and `resources[]`.

One Graph evidence becomes at most one `evidences[]` item, built around the typed OCSF object that fits it (`user`,
`device`, `process`, `file`, `src_endpoint`, `url`, `email`, `reg_key`, `reg_value`); OCSF rejects an item without one.
Cloud resources (Azure, AWS, Google Cloud) become `resources[]`. Evidence kinds with no typed OCSF home (Kubernetes,
containers, mail clusters, cloud applications, ...) are not rendered here; they stay whole in `raw_data`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from shared.ocsf.enums import EVIDENCE_VERDICT
from shared.ocsf.table import Item, compact, epoch_ms, non_empty, present, text

EVIDENCE_PREFIX = "#microsoft.graph.security."

# observable.type_id (OCSF 1.8.0)
OBS_HOSTNAME, OBS_IP, OBS_USER_NAME, OBS_EMAIL, OBS_URL, OBS_FILE_NAME, OBS_HASH = 1, 2, 4, 5, 6, 7, 8
OBS_PROCESS_NAME, OBS_RESOURCE_UID, OBS_COMMAND_LINE, OBS_USER_AGENT, OBS_USER_UID, OBS_DEVICE_UID = 9, 10, 13, 16, \
    31, 47

OS_TYPES = (("windows", 100), ("linux", 200), ("android", 201), ("macos", 300), ("ios", 301), ("ipados", 302))
HASH_ALGORITHMS = (("md5", 1), ("sha1", 2), ("sha256", 3))


def os_type_id(platform: str) -> int:
    lowered = platform.lower().replace(" ", "")
    return next((type_id for prefix, type_id in OS_TYPES if lowered.startswith(prefix)), 0)


def user_of(account: Any) -> dict[str, Any] | None:
    """A Graph userAccount as an OCSF user (type_id 1 User: Graph's evidence does not say more)."""
    if not isinstance(account, dict):
        return None
    name = text(account.get("userPrincipalName")) or text(account.get("accountName"))
    user = compact({
        "uid": text(account.get("azureAdUserId")),
        "uid_alt": text(account.get("userSid")),
        "name": name,
        "full_name": text(account.get("displayName")),
        "domain": text(account.get("domainName")),
        "email_addr": name if name and "@" in name else None,
    })
    return user if user and ("uid" in user or "name" in user) else None


def file_of(details: Any) -> dict[str, Any] | None:
    if not isinstance(details, dict) or not text(details.get("fileName")):
        return None  # OCSF requires file.name
    path = text(details.get("filePath"))
    name = details["fileName"]
    hashes = non_empty(
        {"algorithm_id": algorithm_id, "value": details[field]}
        for field, algorithm_id in HASH_ALGORITHMS if text(details.get(field))
    )
    return compact({
        "name": name,
        "type_id": 1,  # Regular File
        "path": f"{path.rstrip(chr(92))}\\{name}" if path and "\\" in path else (f"{path.rstrip('/')}/{name}"
                                                                                  if path else None),
        "parent_folder": path,
        "size": details.get("fileSize") if isinstance(details.get("fileSize"), int) else None,
        "hashes": hashes,
        "company_name": text(details.get("filePublisher")),
    })


def device_of(ev: Item) -> dict[str, Any] | None:
    platform = text(ev.get("osPlatform"))
    ips = [ip for ip in ev.get("ipInterfaces") or [] if isinstance(ip, str) and "." in ip and ":" not in ip]
    device = compact({
        "type_id": 0,  # Unknown: Graph's deviceEvidence does not say desktop, server or virtual
        "uid": text(ev.get("mdeDeviceId")),
        "uid_alt": text(ev.get("azureAdDeviceId")),
        "hostname": text(ev.get("deviceDnsName")) or text(ev.get("hostName")),
        "name": text(ev.get("hostName")),
        "domain": text(ev.get("ntDomain")),
        "ip": ips[0] if ips else None,
        "first_seen_time": epoch_ms(ev.get("firstSeenDateTime")),
        "os": compact({"name": platform, "type_id": os_type_id(platform),
                       "build": str(ev["osBuild"]) if ev.get("osBuild") is not None else None,
                       "version": text(ev.get("version"))}) if platform else None,
    })
    return device if device and len(device) > 1 else None


def process_of(ev: Item) -> dict[str, Any] | None:
    image = file_of(ev.get("imageFile"))
    parent_image = file_of(ev.get("parentProcessImageFile"))
    parent = compact({"pid": ev.get("parentProcessId") if isinstance(ev.get("parentProcessId"), int) else None,
                      "created_time": epoch_ms(ev.get("parentProcessCreationDateTime")),
                      "file": parent_image, "name": parent_image["name"] if parent_image else None})
    process = compact({
        "pid": ev.get("processId") if isinstance(ev.get("processId"), int) else None,
        "cmd_line": text(ev.get("processCommandLine")),
        "created_time": epoch_ms(ev.get("processCreationDateTime")),
        "file": image,
        "name": image["name"] if image else None,
        "user": user_of(ev.get("userAccount")),
        "parent_process": parent if parent and "pid" in parent else None,
    })
    return process if process and "pid" in process else None


def endpoint_of(ev: Item) -> dict[str, Any] | None:
    location: dict[str, Any] = ev["location"] if isinstance(ev.get("location"), dict) else {}
    return compact({
        "ip": text(ev.get("ipAddress")),
        "location": compact({"country": text(ev.get("countryLetterCode")), "city": text(location.get("city")),
                             "region": text(location.get("state")),
                             "lat": location.get("latitude") if isinstance(location.get("latitude"), float) else None,
                             "long": location.get("longitude")
                             if isinstance(location.get("longitude"), float) else None}),
    }) if text(ev.get("ipAddress")) else None


def email_of(ev: Item) -> dict[str, Any] | None:
    sender: dict[str, Any] = ev["p1Sender"] if isinstance(ev.get("p1Sender"), dict) else {}
    recipient = text(ev.get("recipientEmailAddress"))
    return compact({
        "uid": text(ev.get("networkMessageId")),
        "message_uid": text(ev.get("internetMessageId")),
        "subject": text(ev.get("subject")),
        "from": text(sender.get("emailAddress")),
        "to": [recipient] if recipient else None,
        "x_originating_ip": [ev["senderIp"]] if text(ev.get("senderIp")) else None,
    })


def _registry_path(ev: Item) -> str | None:
    hive, key = text(ev.get("registryHive")), text(ev.get("registryKey"))
    return "\\".join(part for part in (hive, key) if part) or None


def _typed(kind: str, ev: Item) -> dict[str, Any] | None:
    """The typed part of an evidences[] item for one Graph evidence kind, or None when OCSF has no home for it."""
    if kind == "userEvidence":
        return compact({"user": user_of(ev.get("userAccount"))})
    if kind == "deviceEvidence":
        return compact({"device": device_of(ev)})
    if kind == "processEvidence":
        return compact({"process": process_of(ev)})
    if kind == "fileEvidence":
        return compact({"file": file_of(ev.get("fileDetails"))})
    if kind == "ipEvidence":
        return compact({"src_endpoint": endpoint_of(ev)})
    if kind == "urlEvidence":
        return compact({"url": compact({"url_string": text(ev.get("url"))})})
    if kind == "mailboxEvidence":
        user = user_of(ev.get("userAccount")) or {}
        address = text(ev.get("primaryAddress"))
        return compact({"user": compact({**user, "email_addr": address or user.get("email_addr"),
                                         "name": user.get("name") or address})})
    if kind == "analyzedMessageEvidence":
        return compact({"email": email_of(ev)})
    if kind == "registryKeyEvidence":
        path = _registry_path(ev)
        return {"reg_key": {"path": path}} if path else None
    if kind == "registryValueEvidence":
        path = _registry_path(ev)
        return compact({"reg_value": compact({"path": path, "name": text(ev.get("registryValueName")),
                                              "data": text(ev.get("registryValue")),
                                              "type": text(ev.get("registryValueType"))}) if path else None})
    return None


def kind_of(ev: Item) -> str:
    odata_type = ev.get("@odata.type")
    return odata_type.removeprefix(EVIDENCE_PREFIX) if isinstance(odata_type, str) else ""


def evidences(evidence: Any) -> list[dict[str, Any]] | None:
    items = []
    for ev in evidence if isinstance(evidence, list) else ():
        if not isinstance(ev, dict):
            continue
        typed = _typed(kind_of(ev), ev)
        if not typed:
            continue
        items.append({**typed, "name": kind_of(ev), "verdict_id": EVIDENCE_VERDICT.id_of(ev.get("verdict")),
                      "verdict": EVIDENCE_VERDICT.caption_of(ev.get("verdict"))})
    return items or None


_RESOURCE_FIELDS: dict[str, tuple[str, str]] = {  # kind -> (uid field, name field)
    "azureResourceEvidence": ("resourceId", "resourceName"),
    "amazonResourceEvidence": ("amazonResourceId", "resourceName"),
    "googleCloudResourceEvidence": ("resourceName", "resourceName"),
}


def resources(evidence: Any) -> list[dict[str, Any]] | None:
    """Cloud resources named by the evidence, as affected resources (role_id 3)."""
    out = []
    for ev in evidence if isinstance(evidence, list) else ():
        if isinstance(ev, dict) and kind_of(ev) in _RESOURCE_FIELDS:
            uid_field, name_field = _RESOURCE_FIELDS[kind_of(ev)]
            resource = compact({"uid": text(ev.get(uid_field)), "name": text(ev.get(name_field)),
                                "type": text(ev.get("resourceType")), "role_id": 3})
            if resource and ("uid" in resource or "name" in resource):
                out.append(resource)
    return out or None


def _observable(name: str, type_id: int, value: Any) -> dict[str, Any] | None:
    return {"name": name, "type_id": type_id, "value": str(value)} if present(value) is not None else None


_OBSERVED: dict[str, Callable[[dict[str, Any]], list[dict[str, Any] | None]]] = {
    "user": lambda u: [_observable("evidences.user.name", OBS_USER_NAME, u.get("name")),
                       _observable("evidences.user.uid", OBS_USER_UID, u.get("uid")),
                       _observable("evidences.user.email_addr", OBS_EMAIL, u.get("email_addr"))],
    "device": lambda d: [_observable("evidences.device.hostname", OBS_HOSTNAME, d.get("hostname")),
                         _observable("evidences.device.uid", OBS_DEVICE_UID, d.get("uid")),
                         _observable("evidences.device.ip", OBS_IP, d.get("ip"))],
    "process": lambda p: [_observable("evidences.process.cmd_line", OBS_COMMAND_LINE, p.get("cmd_line")),
                          _observable("evidences.process.name", OBS_PROCESS_NAME, p.get("name"))],
    "file": lambda f: [_observable("evidences.file.name", OBS_FILE_NAME, f.get("name"))]
    + [_observable("evidences.file.hashes.value", OBS_HASH, h["value"]) for h in f.get("hashes", ())],
    "src_endpoint": lambda e: [_observable("evidences.src_endpoint.ip", OBS_IP, e.get("ip"))],
    "url": lambda u: [_observable("evidences.url.url_string", OBS_URL, u.get("url_string"))],
    "email": lambda m: [_observable("evidences.email.from", OBS_EMAIL, m.get("from"))],
}


def observables(items: list[dict[str, Any]] | None,
                extra: Sequence[dict[str, Any] | None] = ()) -> list[dict[str, Any]] | None:
    """One observable per distinct (type, value) found in the evidences, so a SIEM can pivot without walking them."""
    out: dict[tuple[int, str], dict[str, Any]] = {}
    candidates = list(extra)
    for item in items or ():
        for key, observe in _OBSERVED.items():
            if key in item:
                candidates.extend(observe(item[key]))
    for candidate in candidates:
        if candidate is not None:
            out.setdefault((candidate["type_id"], candidate["value"]), candidate)
    return list(out.values()) or None
