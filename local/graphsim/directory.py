"""Entra directory objects behind the alerts' evidence, and what the context streams ask about them:

- `GET /users?$filter=id in ('…','…')` and `GET /devices?$filter=deviceId eq '…' or deviceId eq '…'` (what the
  inline enrichment asks): at most 15 values by default, as Graph, which refuses a 16th with 400
  Request_UnsupportedQuery "Too many child clauses …"; an unknown id is simply absent from `value`; more matches
  than a page holds are paged with `@odata.nextLink`;
- `GET /users/{id}` (with `$expand=manager`), `/users/{id}/transitiveMemberOf/microsoft.graph.group` (`$count=true`
  with `ConsistencyLevel: eventual`), `/roleManagement/directory/roleAssignments?$filter=principalId eq '…'`
  (`$expand=roleDefinition`), `/reports/authenticationMethods/userRegistrationDetails/{id}`;
- `/deviceManagement/managedDevices?$filter=azureADDeviceId eq '…'`;
- `GET /servicePrincipals/{id}`, `/servicePrincipals(appId='…')` and their `/appRoleAssignments`.

The users, devices and service principals are the tenant's evidence pools (the same azureAdUserId, azureAdDeviceId
and appId the alerts and risk records name), with directory properties drawn from an RNG seeded by the object's id,
so they never disturb the tenant's own RNG (its alerts stay what they were) and are the same on every call. About
one object in 25 is missing from the directory (deleted since the alert), as in a real tenant. Throttled as the
identity-and-access family (resource units: 3,500 per 10 s per app and tenant, the smallest tenant's budget; one GET
with $select costs 1), Intune's managedDevices as its own family (2,000 requests per 20 s per app and tenant). A
permission listed in `SimConfig.denied_permissions` makes the lookups that need it answer 403.
"""

from __future__ import annotations

import random
import re
from typing import Any
from urllib.parse import urlencode

from .data import DAY
from .errors import GraphError, bad_request, not_found
from .ticks import format_ticks

DIRECTORY = "directory"
INTUNE = "intune"
_LITERAL = r"'(?:[^']|'')*'"  # an OData string literal: a quote inside is doubled
_USERS_FILTER = re.compile(rf"^\s*id\s+in\s+\(\s*{_LITERAL}(?:\s*,\s*{_LITERAL})*\s*\)\s*$", re.IGNORECASE)
_DEVICES_FILTER = re.compile(rf"^\s*deviceId\s+eq\s+{_LITERAL}(?:\s+or\s+deviceId\s+eq\s+{_LITERAL})*\s*$",
                             re.IGNORECASE)
_MANAGED_FILTER = re.compile(r"^\s*azureADDeviceId\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)
_PRINCIPAL_FILTER = re.compile(r"^\s*principalId\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)
_APP_ID_KEY = re.compile(r"^serviceprincipals\(appid='([^']*)'\)$", re.IGNORECASE)
# (display name, role template id): privileged ones and a few that are not.
ROLES = (
    ("Global Administrator", "62e90394-69f5-4237-9190-012177145e10"),
    ("Security Administrator", "194ae4cb-b126-40b2-bd5b-6091b380977d"),
    ("Privileged Role Administrator", "e8611ab8-c189-46e8-94e1-60213ab1f814"),
    ("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"),
    ("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
    ("Reports Reader", "4a5d8f65-41da-4de4-8968-e035b65339cf"),
    ("Message Center Reader", "790c1fb9-7f7d-4f88-86a1-ef1f95c05c1b"),
)
METHODS = ("microsoftAuthenticatorPush", "softwareOneTimePasscode", "mobilePhone", "fido2", "windowsHelloForBusiness",
           "email")
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Microsoft Graph application roles granted to the simulated service principals (id, value).
GRAPH_ROLES = (
    ("df021288-bdef-4463-88db-98f22de89214", "User.Read.All"),
    ("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All"),
    ("810c84a8-4a9e-49e6-bf7d-12d183f40d01", "Mail.Read"),
    ("9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Application.Read.All"),
)
DEPARTMENTS = ("Finance", "Engineering", "Sales", "IT", "HR", "Legal", "Operations")
JOB_TITLES = ("Analyst", "Engineer", "Manager", "Director", "Accountant", "Administrator", "Consultant")
TRUST_TYPES = ("AzureAd", "ServerAd", "Workplace")


def _rng(kind: str, object_id: str) -> random.Random:
    return random.Random(f"directory:{kind}:{object_id}")


def user_object(account: dict[str, Any], anchor: int) -> dict[str, Any] | None:
    rng = _rng("user", account["azureAdUserId"])
    if rng.random() < 0.04:
        return None
    return {
        "id": account["azureAdUserId"],
        "displayName": account["displayName"],
        "userPrincipalName": account["userPrincipalName"],
        "mail": account["userPrincipalName"],
        "accountEnabled": rng.random() < 0.93,
        "userType": "Guest" if rng.random() < 0.05 else "Member",
        "department": rng.choice(DEPARTMENTS),
        "jobTitle": rng.choice(JOB_TITLES),
        "createdDateTime": format_ticks(anchor - rng.randrange(30, 2000) * DAY)[:19] + "Z",
        "onPremisesSyncEnabled": True if rng.random() < 0.6 else None,
    }


def user_extras(user: dict[str, Any], pool: list[dict[str, Any]], anchor: int) -> dict[str, Any]:
    """What the context lookups read about a user: manager, group count, role assignments, registration details."""
    rng = _rng("user-extras", user["id"])
    manager = pool[rng.randrange(len(pool))] if pool and rng.random() < 0.85 else None
    roles = [] if rng.random() < 0.88 else rng.sample(ROLES, rng.choice((1, 1, 2)))
    registered = rng.random() < 0.8
    methods = sorted(rng.sample(METHODS, rng.randrange(1, 4))) if registered else []
    return {
        "manager": manager if manager is not None and manager["id"] != user["id"] else None,
        "groupIds": [f"{rng.getrandbits(128):032x}" for _ in range(rng.randrange(0, 40))],
        "roles": [(name, template, f"{rng.getrandbits(128):032x}") for name, template in roles],
        "registration": None if user["userType"] == "Guest" and rng.random() < 0.5 else {
            "id": user["id"],
            "userPrincipalName": user["userPrincipalName"],
            "userDisplayName": user["displayName"],
            "userType": user["userType"].lower(),
            "isAdmin": bool(roles),
            "isSsprRegistered": registered and rng.random() < 0.7,
            "isSsprEnabled": True,
            "isSsprCapable": registered,
            "isMfaRegistered": registered,
            "isMfaCapable": registered,
            "isPasswordlessCapable": "fido2" in methods or "windowsHelloForBusiness" in methods,
            "methodsRegistered": methods,
            "isSystemPreferredAuthenticationMethodEnabled": False,
            "systemPreferredAuthenticationMethods": [],
            "userPreferredMethodForSecondaryAuthentication": "push" if registered else "none",
            "lastUpdatedDateTime": format_ticks(anchor - rng.randrange(0, 30) * DAY)[:19] + "Z",
        },
    }


def managed_device(device: dict[str, Any], anchor: int) -> dict[str, Any] | None:
    """The Intune record of an Entra device, if it is enrolled (most joined devices, no registered ones)."""
    rng = _rng("managed", device["deviceId"])
    if device["trustType"] == "Workplace" or rng.random() < 0.25:
        return None
    return {
        "id": f"{rng.getrandbits(128):032x}",
        "azureADDeviceId": device["deviceId"],
        "deviceName": device["displayName"],
        "operatingSystem": device["operatingSystem"],
        "osVersion": device["operatingSystemVersion"],
        "complianceState": rng.choice(("compliant", "compliant", "compliant", "noncompliant", "inGracePeriod")),
        "managedDeviceOwnerType": "company" if rng.random() < 0.85 else "personal",
        "managementAgent": "mdm" if rng.random() < 0.7 else "configurationManagerClientMdm",
        "isEncrypted": rng.random() < 0.9,
        "jailBroken": "False",
        "lastSyncDateTime": format_ticks(anchor - rng.randrange(0, 5) * DAY)[:19] + "Z",
        "enrolledDateTime": format_ticks(anchor - rng.randrange(60, 900) * DAY)[:19] + "Z",
    }


def service_principal_object(sp: dict[str, Any], tenant_id: str) -> dict[str, Any] | None:
    rng = _rng("service-principal", sp["id"])
    if rng.random() < 0.04:
        return None
    verified = rng.random() < 0.5
    return {
        "id": sp["id"],
        "appId": sp["appId"],
        "displayName": sp["displayName"],
        "servicePrincipalType": sp["servicePrincipalType"],
        "accountEnabled": rng.random() < 0.95,
        "appOwnerOrganizationId": tenant_id if rng.random() < 0.6 else f"{rng.getrandbits(128):032x}",
        "appDisplayName": sp["displayName"],
        "verifiedPublisher": {"displayName": "Contoso Ltd", "verifiedPublisherId": str(rng.randrange(10**6, 10**7)),
                              "addedDateTime": "2024-03-01T10:00:00Z"} if verified
        else {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        "appRoleAssignments": [
            {"id": f"{rng.getrandbits(128):032x}", "appRoleId": role_id, "principalId": sp["id"],
             "principalType": "ServicePrincipal", "principalDisplayName": sp["displayName"],
             "resourceId": "5b3b8c4e-9f1a-4c52-8d55-0c1d2b3a4f60", "resourceDisplayName": "Microsoft Graph",
             "createdDateTime": "2025-01-15T08:00:00Z", "deletedDateTime": None}
            for role_id, _ in rng.sample(GRAPH_ROLES, rng.randrange(0, 3))
        ],
    }


def device_object(device: dict[str, Any], anchor: int) -> dict[str, Any] | None:
    rng = _rng("device", device["azureAdDeviceId"])
    if rng.random() < 0.04:
        return None
    trust = rng.choice(TRUST_TYPES)
    return {
        "id": f"{rng.getrandbits(128):032x}",
        "deviceId": device["azureAdDeviceId"],
        "displayName": device["hostName"].upper(),
        "operatingSystem": "Windows" if device["osPlatform"].startswith("Windows") else device["osPlatform"],
        "operatingSystemVersion": str(device.get("version") or ""),
        "trustType": trust,
        "isCompliant": rng.random() < 0.8 if trust != "Workplace" else None,
        "isManaged": trust != "Workplace",
        "accountEnabled": True,
        "approximateLastSignInDateTime": format_ticks(anchor - rng.randrange(0, 20) * DAY)[:19] + "Z",
        "registrationDateTime": format_ticks(anchor - rng.randrange(60, 900) * DAY)[:19] + "Z",
    }


class Directory:
    """The directory of one tenant, built from its generator's pools on first use."""

    def __init__(self, users: list[dict[str, Any]], devices: list[dict[str, Any]], anchor: int,
                 service_principals: list[dict[str, Any]] | None = None, tenant_id: str = "") -> None:
        self.users = {u["id"].lower(): u for u in (user_object(a, anchor) for a in users) if u}
        self.devices = {d["deviceId"].lower(): d for d in (device_object(e, anchor) for e in devices) if d}
        pool = list(self.users.values())
        self.user_extras = {key: user_extras(user, pool, anchor) for key, user in self.users.items()}
        self.managed = {key: m for key, m in ((k, managed_device(d, anchor)) for k, d in self.devices.items()) if m}
        principals = [p for p in (service_principal_object(sp, tenant_id) for sp in service_principals or ()) if p]
        self.service_principals = {p["id"].lower(): p for p in principals}
        self.by_app_id = {p["appId"].lower(): p for p in principals}

    @staticmethod
    def family(segments: list[str]) -> str:
        return INTUNE if segments and segments[0].lower() == "devicemanagement" else DIRECTORY

    def get(self, segments: list[str], params: dict[str, str], headers: dict[str, str] | None = None,
            denied: tuple[str, ...] = (), *, filter_values: int = 15, page_size: int = 100,
            link: str = "") -> dict[str, Any]:
        """The answer to GET /<segments>; GraphError for what Graph would refuse. `filter_values`: the most values
        a users or devices filter may name; `page_size`: the most objects such a list answers at once; `link`: the
        list's absolute URL, for its @odata.nextLink."""
        lower = [s.lower() for s in segments]
        head = lower[0] if lower else ""

        def need(permission: str) -> None:
            if permission in denied:
                raise GraphError(403, "Insufficient privileges to complete the operation.",
                                 "Authorization_RequestDenied")

        if head == "users":
            need("User.Read.All")
            if len(segments) == 1:
                keys = _literals(_USERS_FILTER, params, "id in ('…','…')", filter_values)
                return _page([self.users[k] for k in keys if k in self.users], params, page_size, link)
            return self._user(segments[1:], params, headers or {})
        if head == "devices":
            need("Device.Read.All")
            if len(segments) > 1:
                raise not_found(f"Resource not found for the segment '{segments[1]}'.")
            keys = _literals(_DEVICES_FILTER, params, "deviceId eq '…' or deviceId eq '…'", filter_values)
            return _page([self.devices[k] for k in keys if k in self.devices], params, page_size, link)
        if lower[:2] == ["devicemanagement", "manageddevices"] and len(lower) == 2:
            need("DeviceManagementManagedDevices.Read.All")
            found = self.managed.get(self._filtered(_MANAGED_FILTER, params))
            return {"value": [select(found, params)] if found else []}
        if lower[:3] == ["rolemanagement", "directory", "roleassignments"] and len(lower) == 3:
            need("RoleManagement.Read.Directory")
            return {"value": self._role_assignments(self._filtered(_PRINCIPAL_FILTER, params), params)}
        if lower[:3] == ["reports", "authenticationmethods", "userregistrationdetails"] and len(lower) == 4:
            need("AuditLog.Read.All")
            extras = self.user_extras.get(lower[3])
            if extras is None or extras["registration"] is None:
                raise not_found(f"Resource '{segments[3]}' does not exist.")
            return select(extras["registration"], params)
        if head.startswith("serviceprincipals"):
            need("Application.Read.All")
            return self._service_principal(segments, params)
        raise not_found(f"Resource not found for the segment '{segments[0] if segments else ''}'.")

    @staticmethod
    def _filtered(pattern: re.Pattern[str], params: dict[str, str]) -> str:
        match = pattern.match(params.get("$filter", ""))
        if match is None:
            raise bad_request(f"The simulator lists this collection only with $filter={pattern.pattern[5:-5]}.")
        return match.group(1).lower()

    def _user(self, rest: list[str], params: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        user = self.users.get(rest[0].lower())
        if user is None:
            raise GraphError(404, f"Resource '{rest[0]}' does not exist or one of its queried reference-property "
                             "objects are not present.", "Request_ResourceNotFound")
        extras = self.user_extras[rest[0].lower()]
        if len(rest) == 1:
            item = select(user, params)
            expand = params.get("$expand", "")
            if expand.lower().startswith("manager") and extras["manager"] is not None:
                inner = re.search(r"\$select=([^;)]*)", expand)
                fields = {"$select": inner.group(1)} if inner else {}
                item["manager"] = {"@odata.type": "#microsoft.graph.user", **select(extras["manager"], fields)}
            return item
        if [r.lower() for r in rest[1:]] == ["transitivememberof", "microsoft.graph.group"]:
            counted = params.get("$count", "").lower() == "true"
            if counted and headers.get("consistencylevel", "").lower() != "eventual":
                raise bad_request("$count on this query requires the header 'ConsistencyLevel: eventual'.")
            top = int(params["$top"]) if params.get("$top", "").isdigit() else 100
            groups = [{"@odata.type": "#microsoft.graph.group", "id": g} for g in extras["groupIds"]]
            return {**({"@odata.count": len(groups)} if counted else {}), "value": groups[:top]}
        raise not_found(f"Resource not found for the segment '{rest[-1]}'.")

    def _role_assignments(self, principal: str, params: dict[str, str]) -> list[dict[str, Any]]:
        extras = self.user_extras.get(principal)
        expand = params.get("$expand", "").lower().startswith("roledefinition")
        out = []
        for name, template, assignment in (extras["roles"] if extras else ()):
            item: dict[str, Any] = {"id": assignment, "principalId": principal, "roleDefinitionId": template,
                                    "directoryScopeId": "/"}
            if expand:
                item["roleDefinition"] = {"id": template, "displayName": name, "templateId": template}
            out.append(item)
        return out

    def _service_principal(self, segments: list[str], params: dict[str, str]) -> dict[str, Any]:
        key = _APP_ID_KEY.match(segments[0])
        if key is not None:
            found, rest = self.by_app_id.get(key.group(1).lower()), segments[1:]
        elif segments[0].lower() == "serviceprincipals" and len(segments) >= 2:
            found, rest = self.service_principals.get(segments[1].lower()), segments[2:]
        else:
            raise bad_request("The simulator does not list service principals.")
        if found is None:
            raise GraphError(404, "Resource does not exist or one of its queried reference-property objects are not "
                             "present.", "Request_ResourceNotFound")
        if not rest:
            return select({k: v for k, v in found.items() if k != "appRoleAssignments"}, params)
        if [r.lower() for r in rest] == ["approleassignments"]:
            return {"value": [select(a, params) for a in found["appRoleAssignments"]]}
        raise not_found(f"Resource not found for the segment '{rest[-1]}'.")


def _literals(pattern: re.Pattern[str], params: dict[str, str], shape: str, most: int) -> list[str]:
    """The values a users or devices `$filter` names (lower-cased, in order, without repeats): 400 for a filter of
    another shape, and Graph's 400 for more values than it takes (the error a tenant answers for a 16th)."""
    expression = params.get("$filter", "")
    if not pattern.match(expression):
        raise bad_request(f"The simulator lists this collection only with $filter={shape}.")
    values = [v[1:-1].replace("''", "'").lower() for v in re.findall(_LITERAL, expression)]
    if len(values) > most:
        raise GraphError(400, "Too many child clauses specified in search filter expression containing 'OR' "
                         f"operators: {len(values)}. Max allowed: {most}.", "Request_UnsupportedQuery")
    return list(dict.fromkeys(values))


def _page(found: list[dict[str, Any]], params: dict[str, str], page_size: int, link: str) -> dict[str, Any]:
    """A list answer in the directory's order (not the filter's), paged past `page_size` with a nextLink."""
    found = sorted(found, key=lambda item: str(item["id"]))
    skip = int(params["$skiptoken"]) if params.get("$skiptoken", "").isdigit() else 0
    answer: dict[str, Any] = {"value": [select(item, params) for item in found[skip:skip + page_size]]}
    if skip + page_size < len(found):
        query = {k: v for k, v in params.items() if k != "$skiptoken"} | {"$skiptoken": str(skip + page_size)}
        answer["@odata.nextLink"] = f"{link}?{urlencode(query)}"
    return answer


def select(item: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """`$select`, refusing a property the object does not have, as Graph refuses one its type lacks (every
    simulated object carries all the properties it simulates, nulls included)."""
    wanted = [f.strip() for f in params.get("$select", "").split(",") if f.strip()]
    unknown = [f for f in wanted if f not in item]
    if unknown:
        raise bad_request(f"Could not find a property named '{unknown[0]}' on this type.")
    return {k: v for k, v in item.items() if k in wanted or k == "id"} if wanted else dict(item)


def directory_of(tenant: Any) -> Directory:
    """The tenant's directory, built once (kept on the tenant state)."""
    with tenant.lock:
        directory = getattr(tenant, "directory", None)
        if directory is None:
            directory = tenant.directory = Directory(tenant.gen.users, tenant.gen.devices, tenant.gen.anchor,
                                                     tenant.gen.service_principals, tenant.id)
        return directory
