"""Change-notification subscriptions: what a subscription is, which resources and values Graph accepts, and the
store that holds them (docs/graph-notes.md).

A subscription belongs to one app in one tenant. It is gone once its ``expirationDateTime`` has passed on the wall
clock: the store purges expired subscriptions whenever it is read, so they answer 404 and receive nothing.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .config import SimConfig
from .errors import GraphError
from .legacy import SUPPORTED, AlertPredicate, compile_alert_filter
from .ticks import TICKS_PER_SECOND, format_ticks, now_ticks, parse_timestamp

ALERTS, USERS, GROUPS = "alerts", "users", "groups"
CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
TLS_VERSIONS = ("v1_0", "v1_1", "v1_2", "v1_3")
MAX_CLIENT_STATE = 128
# Maximum lifetimes in minutes (reference 6.1, "Lifetimes").
MAX_MINUTES = {ALERTS: 43_200, USERS: 41_760, GROUPS: 41_760}
# The reference lists `updated`,`deleted` for users and groups.
ALLOWED_CHANGES = {ALERTS: frozenset(CHANGE_TYPES), USERS: frozenset({"updated", "deleted"})}
ALLOWED_CHANGES[GROUPS] = ALLOWED_CHANGES[USERS]
CLOCK_SKEW_TICKS = 60 * TICKS_PER_SECOND  # an expiry a little beyond the maximum is still accepted


def invalid(message: str) -> GraphError:
    return GraphError(400, message, "InvalidRequest")


def not_found(subscription_id: str) -> GraphError:
    return GraphError(
        404,
        f"Resource '{subscription_id}' does not exist or one of its queried reference-property objects are not "
        "present.",
        "ResourceNotFound",
    )


# --- resources --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The parsed ``resource`` of a subscription."""

    kind: str  # ALERTS | USERS | GROUPS
    item_id: str | None = None  # a single item, or None for the (filtered) collection
    alert_filter: AlertPredicate | None = field(default=None, compare=False)

    def matches(self, kind: str, item_id: str, alert: dict[str, Any] | None) -> bool:
        if kind != self.kind:
            return False
        if self.item_id is not None:
            return self.item_id.lower() == item_id.lower()
        if self.alert_filter is not None:
            return alert is not None and self.alert_filter(alert)
        return True  # users or groups: the collection covers every member


def parse_resource(resource: str) -> Target:
    """The subscription target for ``resource`` (relative to /v1.0, a leading '/' tolerated), or 400."""
    path, _, query = resource.strip().lstrip("/").partition("?")
    segments = [s for s in path.split("/") if s]
    lower = [s.lower() for s in segments]
    if lower == ["security", "alerts"]:
        if not query:
            raise invalid(
                "The resource 'security/alerts' is too wide: subscribe to 'security/alerts/{id}' or to "
                "'security/alerts?$filter=...'."
            )
        params = parse_qsl(query, keep_blank_values=True)
        names = [k.lower().lstrip("$") for k, _ in params]
        if names != ["filter"]:
            raise invalid(f"Only a $filter may follow 'security/alerts' in a subscription resource, not '{query}'.")
        text = params[0][1]
        if not text.strip():
            raise invalid("The $filter in the subscription resource is empty.")
        try:
            predicate = compile_alert_filter(text)
        except GraphError as exc:
            raise invalid(
                f"The $filter '{text}' is not supported in a subscription: {exc.message} Supported: {SUPPORTED}."
            ) from None
        return Target(ALERTS, None, predicate)
    if len(lower) == 3 and lower[:2] == ["security", "alerts"] and not query:
        return Target(ALERTS, segments[2])
    if lower and lower[0] in (USERS, GROUPS) and len(lower) <= 2 and not query:
        return Target(lower[0], segments[1] if len(segments) == 2 else None)
    raise invalid(
        f"Change notifications are not supported for the resource '{resource}'. Supported: "
        "'security/alerts/{id}', 'security/alerts?$filter=...', 'users', 'users/{id}', 'groups', 'groups/{id}'."
    )


# --- property values --------------------------------------------------------------------------------------------------


def parse_change_types(value: object, target: Target) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.strip():
        raise invalid("The property 'changeType' is required: a comma-separated list of created, updated, deleted.")
    items = [v.strip() for v in value.split(",")]
    unknown = [v for v in items if v not in CHANGE_TYPES]
    if unknown:
        raise invalid(f"Invalid changeType '{unknown[0]}'. Allowed values: {', '.join(CHANGE_TYPES)}.")
    allowed = ALLOWED_CHANGES[target.kind]
    refused = [v for v in items if v not in allowed]
    if refused:
        raise invalid(
            f"The changeType '{refused[0]}' is not supported for '{target.kind}'. "
            f"Allowed values: {', '.join(c for c in CHANGE_TYPES if c in allowed)}."
        )
    return tuple(dict.fromkeys(items))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: object, name: str) -> str:
    """An absolute https URL; plain http only to a loopback host (the local dev host serves HTTP)."""
    if not isinstance(value, str) or not value:
        raise invalid(f"The property '{name}' is required and must be an absolute https URL.")
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise invalid(f"The {name} '{value}' is not a valid URL.") from None
    if not host or parts.scheme.lower() not in ("https", "http"):
        raise invalid(f"The {name} '{value}' must be an absolute https URL.")
    if parts.scheme.lower() == "http" and not _is_loopback(host):
        raise invalid(f"The {name} '{value}' must use https.")
    return value


def parse_expiration(value: object, target: Target) -> int:
    """Ticks of a requested ``expirationDateTime``: in the future and within the resource's maximum lifetime."""
    if not isinstance(value, str) or not value:
        raise invalid("The property 'expirationDateTime' is required.")
    ticks = parse_timestamp(value)
    if ticks is None:
        ticks = parse_timestamp(value + "Z")  # no offset: Graph reads it as UTC
    if ticks is None:
        raise invalid(f"The expirationDateTime '{value}' is not a valid DateTimeOffset.")
    now = now_ticks()
    if ticks <= now:
        raise invalid(f"Subscription expiration '{value}' is in the past.")
    minutes = MAX_MINUTES[target.kind]
    if ticks > now + minutes * 60 * TICKS_PER_SECOND + CLOCK_SKEW_TICKS:
        raise invalid(f"Subscription expiration can only be {minutes} minutes in the future for this resource.")
    return ticks


def check_client_state(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid("The property 'clientState' must be a string.")
    if len(value) > MAX_CLIENT_STATE:
        raise invalid(f"The clientState is limited to {MAX_CLIENT_STATE} characters; it has {len(value)}.")
    return value


def check_tls_version(value: object) -> str:
    if value is None:
        return "v1_2"
    if value not in TLS_VERSIONS:
        raise invalid(f"Invalid latestSupportedTlsVersion '{value}'. Allowed values: {', '.join(TLS_VERSIONS)}.")
    return str(value)


# --- the subscription -------------------------------------------------------------------------------------------------


@dataclass
class Subscription:
    id: str
    tenant: str
    application_id: str
    creator_id: str
    resource: str  # as the app sent it
    target: Target
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    expires: int  # ticks
    client_state: str | None
    tls_version: str
    created: int  # ticks
    needs_reauthorization: bool = False
    reauthorizations: int = 0  # POST /subscriptions/{id}/reauthorize calls
    renewals: int = 0  # PATCHes that changed expirationDateTime

    @property
    def expiration(self) -> str:
        return format_ticks(self.expires)

    def to_graph(self, base_url: str, version: str = "v1.0") -> dict[str, Any]:
        """The subscription as Graph returns it."""
        return {
            "@odata.context": f"{base_url}/{version}/$metadata#subscriptions/$entity",
            **self._properties(),
        }

    def _properties(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": self.expiration,
            "creatorId": self.creator_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": self.tls_version,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
            "notificationContentType": "application/json",
        }

    def snapshot(self) -> dict[str, Any]:
        """Everything about it, for tests (``sim.subscriptions()``)."""
        return {
            **self._properties(),
            "tenantId": self.tenant,
            "createdDateTime": format_ticks(self.created),
            "needsReauthorization": self.needs_reauthorization,
            "reauthorizations": self.reauthorizations,
            "renewals": self.renewals,
        }


class SubscriptionStore:
    """Every tenant's subscriptions. Callers that read and then change a subscription hold ``lock``."""

    def __init__(self, config: SimConfig):
        self.config = config
        self.lock = threading.RLock()
        self._subs: dict[str, Subscription] = {}
        self.dropped: dict[str, int] = {}  # subscription id -> change notifications dropped while not authorized

    def _purge(self) -> None:
        now = now_ticks()
        for sub_id in [s.id for s in self._subs.values() if s.expires <= now]:
            del self._subs[sub_id]

    def get(self, subscription_id: str, tenant: str | None = None, app: str | None = None) -> Subscription | None:
        with self.lock:
            self._purge()
            sub = self._subs.get(subscription_id)
            if sub is None or (tenant is not None and sub.tenant != tenant):
                return None
            if app is not None and sub.application_id != app:
                return None
            return sub

    def require(self, subscription_id: str, tenant: str, app: str) -> Subscription:
        sub = self.get(subscription_id, tenant, app)
        if sub is None:
            raise not_found(subscription_id)
        return sub

    def select(self, tenant: str | None = None, app: str | None = None) -> list[Subscription]:
        with self.lock:
            self._purge()
            return [
                s
                for s in sorted(self._subs.values(), key=lambda s: s.created)
                if (tenant is None or s.tenant == tenant) and (app is None or s.application_id == app)
            ]

    def check_quota(self, tenant: str, app: str) -> None:
        """403 when the tenant, or this app in the tenant, has reached its quota (reference 6.1)."""
        with self.lock:
            in_tenant = self.select(tenant)
            mine = sum(1 for s in in_tenant if s.application_id == app)
        if mine >= self.config.subscriptions_per_app_tenant:
            raise GraphError(
                403,
                f"Subscription quota exceeded: this application has reached its limit of "
                f"{self.config.subscriptions_per_app_tenant} subscriptions in this tenant.",
                "Forbidden",
            )
        if len(in_tenant) >= self.config.subscriptions_per_tenant:
            raise GraphError(
                403,
                f"Subscription quota exceeded: the tenant has reached its limit of "
                f"{self.config.subscriptions_per_tenant} subscriptions.",
                "Forbidden",
            )

    def add(self, sub: Subscription) -> None:
        with self.lock:
            self.check_quota(sub.tenant, sub.application_id)  # again: another create may have won meanwhile
            self._subs[sub.id] = sub

    def remove(self, subscription_id: str) -> Subscription | None:
        with self.lock:
            self._purge()
            return self._subs.pop(subscription_id, None)

    def count_dropped(self, subscription_id: str, n: int = 1) -> None:
        with self.lock:
            self.dropped[subscription_id] = self.dropped.get(subscription_id, 0) + n
