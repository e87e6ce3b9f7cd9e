"""The context of one user, device or service principal: which Graph lookups make it, and the record they make.

Each kind has a base lookup (without it there is no record) and optional ones, each needing one named application
permission. An optional lookup refused with 403 degrades the record: its fields are left out and the record names
the permission in `unavailable`; a lookup that failed for a passing reason (throttled past the retries, 5xx, no
answer) makes the whole entity wait for the next run, so that a record never loses a field for a transient reason
(that would be a new version, and then another one).

Keys: a user is its Entra object id (`userAccount.azureAdUserId`, `userId`, a riskyUser's `id`); a device its Entra
`deviceId` (`deviceEvidence.azureAdDeviceId`: not the device's object id); a service principal its `appId` (the one
key alerts, risky service principals and their risk detections all carry). Records carry both ids where Graph has
two, so that a SIEM joins on either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.context.lookups import Lookup

USER_FIELDS = ("id", "userPrincipalName", "displayName", "accountEnabled", "userType", "department", "jobTitle",
               "createdDateTime", "onPremisesSyncEnabled")
DEVICE_FIELDS = ("id", "deviceId", "displayName", "operatingSystem", "operatingSystemVersion", "trustType",
                 "isCompliant", "isManaged", "approximateLastSignInDateTime")
INTUNE_FIELDS = ("id", "complianceState", "managedDeviceOwnerType", "managementAgent", "isEncrypted",
                 "lastSyncDateTime")
# The publisher: the tenant that owns the app (appOwnerOrganizationId) and its verified publisher, if any
# (servicePrincipal has no publisherName in v1.0).
SERVICE_PRINCIPAL_FIELDS = ("id", "appId", "displayName", "appDisplayName", "appOwnerOrganizationId",
                            "verifiedPublisher", "servicePrincipalType", "accountEnabled")

# Built-in Entra roles that can take over the tenant or its security, by role template id (the same in every tenant).
PRIVILEGED_ROLE_TEMPLATES = frozenset({
    "62e90394-69f5-4237-9190-012177145e10",  # Global Administrator
    "e8611ab8-c189-46e8-94e1-60213ab1f814",  # Privileged Role Administrator
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",  # Privileged Authentication Administrator
    "194ae4cb-b126-40b2-bd5b-6091b380977d",  # Security Administrator
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",  # Application Administrator
    "158c047a-c907-4556-b7ef-446551a6b5f7",  # Cloud Application Administrator
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",  # Conditional Access Administrator
    "c4e39bd9-1100-46d3-8c65-fb160da0071f",  # Authentication Administrator
    "29232cdf-9323-42fd-ade2-1d097af3e4de",  # Exchange Administrator
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",  # SharePoint Administrator
    "fe930be7-5e62-47db-91af-98c3a49a38b1",  # User Administrator
    "729827e3-9c14-49f7-bb1b-9608f156bbb8",  # Helpdesk Administrator
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",  # Hybrid Identity Administrator
    "3a2c62db-5318-420d-8d74-23affee5d9d5",  # Intune Administrator
})
TRANSIENT = frozenset({0, 408, 429, 500, 502, 503, 504})
# Fields a record carries that are not part of its version: the same context seen again is not a new version.
UNVERSIONED_FIELDS = ("contextVersion", "observedDateTime")


@dataclass(frozen=True)
class Part:
    """One lookup of an entity: its name, URL, the permission it needs and the fields it fills."""

    name: str
    url: str
    permission: str
    fields: tuple[str, ...]
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Kind:
    name: str  # user | device | servicePrincipal
    parts: Callable[[str], tuple[Part, ...]]  # the first is the base lookup
    assemble: Callable[[dict[str, Any]], dict[str, Any] | None]  # bodies by part name -> record (None: not found)


def _q(value: str) -> str:
    return quote(value, safe="")


def user_parts(key: str) -> tuple[Part, ...]:
    user = f"/users/{_q(key)}"
    return (
        Part("profile", f"{user}?$select={','.join(USER_FIELDS)}"
             "&$expand=manager($select=id,userPrincipalName,displayName)", "User.Read.All",
             (*USER_FIELDS, "manager")),
        # The count of the groups the user is in, directly or through nested groups; $top=1 keeps the answer small.
        Part("groups", f"{user}/transitiveMemberOf/microsoft.graph.group?$count=true&$select=id&$top=1",
             "User.Read.All", ("groupCount",), (("ConsistencyLevel", "eventual"),)),
        Part("roles", "/roleManagement/directory/roleAssignments?$filter="
             + _q(f"principalId eq '{key}'") + "&$expand=roleDefinition($select=displayName,templateId)",
             "RoleManagement.Read.Directory", ("directoryRoles", "isPrivileged")),
        Part("mfa", f"/reports/authenticationMethods/userRegistrationDetails/{_q(key)}", "AuditLog.Read.All",
             ("isMfaRegistered", "isMfaCapable", "methodsRegistered")),
    )


def assemble_user(bodies: dict[str, Any]) -> dict[str, Any] | None:
    profile = bodies["profile"]
    if profile is None:
        return None
    record: dict[str, Any] = {f: profile.get(f) for f in USER_FIELDS}
    manager = profile.get("manager")
    record["manager"] = {k: manager.get(k) for k in ("id", "userPrincipalName", "displayName")} \
        if isinstance(manager, dict) else None
    if "groups" in bodies:
        groups = bodies["groups"] or {}
        record["groupCount"] = groups.get("@odata.count", len(groups.get("value") or []))
    if "roles" in bodies:
        roles = []
        for assignment in (bodies["roles"] or {}).get("value") or []:
            definition = assignment.get("roleDefinition") or {}
            roles.append({"displayName": definition.get("displayName"), "templateId": definition.get("templateId"),
                          "scope": assignment.get("directoryScopeId")})
        roles.sort(key=lambda role: (str(role["displayName"]), str(role["scope"])))
        record["directoryRoles"] = roles
        record["isPrivileged"] = any(role["templateId"] in PRIVILEGED_ROLE_TEMPLATES for role in roles)
    if "mfa" in bodies:
        mfa = bodies["mfa"]  # None: no registration details (e.g. a guest never signed in)
        record["isMfaRegistered"] = mfa.get("isMfaRegistered") if mfa else None
        record["isMfaCapable"] = mfa.get("isMfaCapable") if mfa else None
        record["methodsRegistered"] = sorted(mfa.get("methodsRegistered") or []) if mfa else []
    return record


def device_parts(key: str) -> tuple[Part, ...]:
    return (
        Part("device", "/devices?$filter=" + _q(f"deviceId eq '{key}'") + f"&$select={','.join(DEVICE_FIELDS)}",
             "Device.Read.All", DEVICE_FIELDS),
        # Filtering managedDevices on azureADDeviceId is what public tools do; the docs do not list it as filterable.
        Part("intune", "/deviceManagement/managedDevices?$filter=" + _q(f"azureADDeviceId eq '{key}'")
             + f"&$select={','.join(INTUNE_FIELDS)}", "DeviceManagementManagedDevices.Read.All", ("intune",)),
    )


def assemble_device(bodies: dict[str, Any]) -> dict[str, Any] | None:
    found = next(iter((bodies["device"] or {}).get("value") or []), None)
    if not isinstance(found, dict):
        return None
    record: dict[str, Any] = {f: found.get(f) for f in DEVICE_FIELDS}
    if "intune" in bodies:
        managed = next(iter((bodies["intune"] or {}).get("value") or []), None)
        record["intune"] = {f: managed.get(f) for f in INTUNE_FIELDS} if isinstance(managed, dict) else None
    return record


def service_principal_parts(key: str) -> tuple[Part, ...]:
    principal = f"/servicePrincipals(appId='{_q(key)}')"
    return (
        Part("servicePrincipal", f"{principal}?$select={','.join(SERVICE_PRINCIPAL_FIELDS)}", "Application.Read.All",
             SERVICE_PRINCIPAL_FIELDS),
        Part("grants", f"{principal}/appRoleAssignments?$select=appRoleId,resourceId,resourceDisplayName",
             "Application.Read.All", ("appRolesGranted",)),
    )


def assemble_service_principal(bodies: dict[str, Any]) -> dict[str, Any] | None:
    found = bodies["servicePrincipal"]
    if found is None:
        return None
    record: dict[str, Any] = {f: found.get(f) for f in SERVICE_PRINCIPAL_FIELDS}
    if "grants" in bodies:
        grants = [{k: g.get(k) for k in ("resourceDisplayName", "resourceId", "appRoleId")}
                  for g in (bodies["grants"] or {}).get("value") or []]
        record["appRolesGranted"] = sorted(grants, key=lambda g: (str(g["resourceId"]), str(g["appRoleId"])))
    return record


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("user", user_parts, assemble_user),
    Kind("device", device_parts, assemble_device),
    Kind("servicePrincipal", service_principal_parts, assemble_service_principal),
)}


@dataclass
class Outcome:
    """What the lookups of one entity made: a record, `not_found`, or `retry` (a passing failure)."""

    record: dict[str, Any] | None = None
    not_found: bool = False
    retry: bool = False
    denied: tuple[str, ...] = ()  # permissions refused (403): their fields are left out
    error: str = ""


def lookups_of(kind: Kind, key: str) -> list[Lookup]:
    return [Lookup((kind.name, key, part.name), part.url, part.headers) for part in kind.parts(key)]


def outcome_of(kind: Kind, key: str, answers: dict[Hashable, dict[str, Any]]) -> Outcome:
    parts = kind.parts(key)
    bodies: dict[str, Any] = {}
    denied: dict[str, list[str]] = {}
    for index, part in enumerate(parts):
        answer = answers[(kind.name, key, part.name)]
        status = int(answer.get("status") or 0)
        body = answer.get("body")
        if status == 200:
            bodies[part.name] = body if isinstance(body, dict) else {}
        elif status == 404:
            if index == 0:
                return Outcome(not_found=True)
            bodies[part.name] = None  # the entity has no such thing (no registration details, say)
        elif status in TRANSIENT:
            return Outcome(retry=True, error=f"{kind.name} {part.name}: {status}")
        elif status in (401, 403):
            if index == 0:
                return Outcome(denied=(part.permission,), error=f"{kind.name} {part.name}: {status} - grant "
                               f"{part.permission} to export {kind.name} context")
            denied.setdefault(part.permission, []).extend(part.fields)
        elif index == 0:  # 400 and the like: this entity cannot be looked up
            return Outcome(not_found=True, error=f"{kind.name} {part.name}: {status}")
        # else: an optional lookup that cannot work for this entity: its fields are left out
    record = kind.assemble(bodies)
    if record is None:
        return Outcome(not_found=True)
    if denied:
        record["unavailable"] = {permission: sorted(set(fields)) for permission, fields in sorted(denied.items())}
    return Outcome(record=record, denied=tuple(sorted(denied)))


def content_version(record: dict[str, Any]) -> str:
    """The version of a context record: a hash of its content (observation time left out), so the same context
    seen again is the same version and is not written again."""
    content = {k: v for k, v in record.items() if k not in UNVERSIONED_FIELDS}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
