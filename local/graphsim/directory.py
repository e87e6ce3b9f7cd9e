"""Entra directory objects behind the alerts' evidence: `GET /users/{id}` and `GET /devices?$filter=deviceId eq '…'`.

The users and devices are the tenant's evidence pools (the same azureAdUserId and azureAdDeviceId the alerts name),
with directory properties drawn from an RNG seeded by the object's id, so they never disturb the tenant's own RNG
(its alerts stay what they were) and are the same on every call. About one object in 25 is missing from the
directory (deleted since the alert), as in a real tenant. Throttled as the identity-and-access family (resource
units: 3,500 per 10 s per app and tenant, the smallest tenant's budget; one GET with $select costs 1).
"""

from __future__ import annotations

import random
import re
from typing import Any

from .data import DAY
from .errors import GraphError, bad_request, not_found
from .ticks import format_ticks

DIRECTORY = "directory"
_DEVICE_FILTER = re.compile(r"^\s*deviceId\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)
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

    def __init__(self, users: list[dict[str, Any]], devices: list[dict[str, Any]], anchor: int) -> None:
        self.users = {u["id"].lower(): u for u in (user_object(a, anchor) for a in users) if u}
        self.devices = {d["deviceId"].lower(): d for d in (device_object(e, anchor) for e in devices) if d}

    def get(self, collection: str, rest: list[str], params: dict[str, str]) -> dict[str, Any]:
        if collection == "users":
            if len(rest) != 1:
                raise not_found(f"Resource not found for the segment '{rest[-1] if rest else 'users'}'.")
            user = self.users.get(rest[0].lower())
            if user is None:
                raise GraphError(404, f"Resource '{rest[0]}' does not exist or one of its queried reference-property "
                                 "objects are not present.", "Request_ResourceNotFound")
            return select(user, params)
        if rest:
            raise not_found(f"Resource not found for the segment '{rest[0]}'.")
        match = _DEVICE_FILTER.match(params.get("$filter", ""))
        if match is None:
            raise bad_request("The simulator lists devices only with $filter=deviceId eq '<id>'.")
        found = self.devices.get(match.group(1).lower())
        return {"value": [select(found, params)] if found else []}


def select(item: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    wanted = [f.strip() for f in params.get("$select", "").split(",") if f.strip()]
    return {k: v for k, v in item.items() if k in wanted or k == "id"} if wanted else item


def directory_of(tenant: Any) -> Directory:
    """The tenant's directory, built once (kept on the tenant state)."""
    with tenant.lock:
        directory = getattr(tenant, "directory", None)
        if directory is None:
            directory = tenant.directory = Directory(tenant.gen.users, tenant.gen.devices, tenant.gen.anchor)
        return directory
