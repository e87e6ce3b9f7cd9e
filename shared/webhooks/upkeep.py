"""Keeping the desired Graph subscriptions alive: create, renew, recreate, delete (docs/graph-notes.md).

Desired = WEBHOOK_SUBSCRIPTIONS x the tenant list (shared/tenants.py; nothing when WEBHOOKS_ENABLED is false, so
turning webhooks off and letting the upkeep run once removes them). Each reconcile:
- creates what is missing, with a fresh random clientState (written to the state before Graph is asked, because a
  first notification can overtake Graph's answer);
- renews a subscription once less than half its lifetime is left (renewing also reauthorizes it), and recreates it
  when Graph no longer knows it (404) or it has expired;
- deletes subscriptions no longer desired, and subscriptions of ours that the state does not know (a create whose
  answer was lost, a lost state blob): Graph's list is matched on the notification URL.
Secrets (clientState, the function key in the notification URL) never reach a log line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from shared.graph.versions import from_datetime, normalize_version, to_datetime
from shared.redact import redact_url_secrets as redact
from shared.webhooks.resources import DesiredSubscription
from shared.webhooks.state import SubscriptionRecord, SubscriptionState, SubscriptionStore

if TYPE_CHECKING:
    from shared.graph.client import GraphClient
    from shared.settings import Settings

log = logging.getLogger("graph_security_bridge.webhooks")

ROUTE_PREFIX = "api"  # host.json extensions.http.routePrefix (a test keeps them in step)
NOTIFICATION_ROUTE = "webhooks/notifications"
LIFECYCLE_ROUTE = "webhooks/lifecycle"
EXPIRY_MARGIN = timedelta(minutes=5)  # ask a little less than the maximum: clocks differ, Graph refuses more
CLIENT_STATE_BYTES = 48  # 64 URL-safe characters; Graph allows 128
STALE_PENDING = timedelta(minutes=10)  # far above Graph's 10 s handshake and our retries


def _parse(text: str | None) -> datetime | None:
    """Graph's expirationDateTime (any offset, up to 7 fractional digits) as an aware datetime."""
    version = normalize_version(text)
    return to_datetime(version) if version else None


@dataclass
class UpkeepSummary:
    created: int = 0
    renewed: int = 0
    recreated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SubscriptionManager:
    def __init__(
        self,
        settings: Settings,
        *,
        store: SubscriptionStore | None = None,
        client_factory: Callable[[str], GraphClient] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        from shared.graph.client import GraphClient

        self.settings = settings
        self.store = store or SubscriptionStore.for_settings(settings)
        self._client_factory = client_factory or (lambda tenant: GraphClient(settings, tenant))
        self._clients: dict[str, GraphClient] = {}
        self._clock = clock

    # --- what we want

    def tenant_ids(self) -> tuple[str, ...]:
        """The tenants served. A tenant list that cannot be read stops the upkeep: taking it for "no tenants" would
        delete every subscription."""
        from shared.tenants import current_tenants

        listed = current_tenants(self.settings)
        if listed.error:
            raise RuntimeError(f"subscription upkeep skipped: {listed.error}")
        return listed.ids

    def desired(self) -> dict[str, tuple[str, DesiredSubscription]]:
        if not self.settings.webhooks_enabled:
            return {}
        return {d.key(tenant): (tenant, d) for tenant in self.tenant_ids()
                for d in self.settings.webhook_subscriptions}

    def url(self, route: str) -> str:
        base = f"{self.settings.webhook_base_url.rstrip('/')}/{ROUTE_PREFIX}/{route}"
        key = self.settings.webhook_function_key
        # Graph echoes the query string on every delivery, so the function key travels with it.
        return f"{base}?code={quote(key, safe='')}" if key else base

    def endpoint_hash(self) -> str:
        """Changes when the notification URLs do (a rotated function key, a new base URL): Graph would then call
        an address that no longer answers, so the subscription is recreated."""
        text = f"{self.url(NOTIFICATION_ROUTE)}|{self.url(LIFECYCLE_ROUTE)}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _client(self, tenant: str) -> GraphClient:
        if tenant not in self._clients:
            self._clients[tenant] = self._client_factory(tenant)
        return self._clients[tenant]

    # --- one reconcile pass (the upkeep timer)

    def reconcile(self) -> UpkeepSummary:
        summary = UpkeepSummary()
        desired = self.desired()
        state, _ = self.store.load()
        if not desired and not state.records:
            log.info("subscription upkeep: no subscriptions desired or recorded")
            return summary
        live = self._list_ours(desired)  # tenant -> ids Graph has for our URL (absent: could not list)
        now = self._clock()
        for key, (tenant, wanted) in desired.items():
            record = state.records.get(key)
            try:
                if record is None or not record.subscription_id:
                    self.create(key, tenant, wanted)
                    summary.created += 1
                    continue
                if list(wanted.streams) != record.streams:
                    streams = list(wanted.streams)

                    def set_streams(r: SubscriptionRecord, streams: list[str] = streams) -> None:
                        r.streams = streams

                    self._save(key, set_streams)
                expires = _parse(record.expires_at)
                gone = tenant in live and record.subscription_id not in live[tenant]
                moved = record.endpoint_hash != self.endpoint_hash()
                if gone or moved or expires is None or expires <= now + timedelta(minutes=1):
                    # Graph deletes a subscription that was not renewed in time (or removed it itself).
                    why = ("is gone from Graph" if gone else "points at an old URL or function key" if moved
                           else "has expired")
                    log.info("Subscription %s for %s (tenant %s) %s; recreating it", record.subscription_id,
                             wanted.resource, tenant, why)
                    self.create(key, tenant, wanted)  # deletes the old one (a 404 is fine)
                    live.get(tenant, {}).pop(record.subscription_id, None)  # handled: not a stray
                    summary.recreated += 1
                elif record.renew_due or expires - now < timedelta(minutes=wanted.lifetime_minutes) / 2:
                    if self.renew(key):
                        summary.renewed += 1
                    else:
                        summary.recreated += 1
                else:
                    summary.unchanged += 1
            except Exception as exc:  # one subscription's failure must not stop the others
                summary.failed.append(f"{wanted.resource} (tenant {tenant}): {redact(str(exc))}")
                self._record_error(key, exc)
        for key, record in list(state.records.items()):
            if key not in desired:
                try:
                    self.delete(record)
                    summary.deleted += 1
                    live.get(record.tenant, {}).pop(record.subscription_id or "", None)
                except Exception as exc:
                    summary.failed.append(f"delete {record.resource} (tenant {record.tenant}): {redact(str(exc))}")
        summary.deleted += self._delete_strays(live)
        log.info("subscription upkeep %s", json.dumps(summary.as_dict()))
        return summary

    # --- single operations (also used by the lifecycle handling)

    def create(self, key: str, tenant: str, wanted: DesiredSubscription) -> str:
        """Create the subscription for `key`; once Graph has it, it replaces the record's current one (which is
        then deleted). Returns Graph's id.

        The new clientState is recorded as *pending* first, so that the webhook trusts it from the moment Graph
        knows it, while the current subscription keeps working. If two creates overlap (the upkeep and a lifecycle
        event), the later one to start wins and the other deletes what it made: a record never holds one create's
        id with the other's clientState."""
        client_state = secrets.token_urlsafe(CLIENT_STATE_BYTES)
        endpoint = self.endpoint_hash()

        def pending(state: SubscriptionState) -> None:
            record = state.records.get(key)
            if record is None:
                record = state.records[key] = SubscriptionRecord(
                    key=key, tenant=tenant, resource=wanted.resource, change_type=wanted.change_type,
                    streams=list(wanted.streams), client_state="")
            record.pending_client_state = client_state
            record.pending_since = from_datetime(self._clock())

        self.store.update(pending)
        expires = self._clock() + timedelta(minutes=wanted.lifetime_minutes) - EXPIRY_MARGIN
        body = {
            "changeType": wanted.change_type,
            "notificationUrl": self.url(NOTIFICATION_ROUTE),
            "lifecycleNotificationUrl": self.url(LIFECYCLE_ROUTE),
            "resource": wanted.resource,
            "expirationDateTime": from_datetime(expires),
            "clientState": client_state,
            "latestSupportedTlsVersion": "v1_2",
        }
        try:
            created = self._client(tenant).request("POST", "/subscriptions", json_body=body).body or {}
            subscription_id = str(created.get("id") or "")
            if not subscription_id:
                raise RuntimeError("Graph created a subscription but did not say its id")
        except Exception:
            def abandon(record: SubscriptionRecord) -> None:
                if record.pending_client_state == client_state:
                    record.pending_client_state = record.pending_since = None

            self._save(key, abandon)
            raise
        outcome: dict[str, str | None] = {}

        def done(state: SubscriptionState) -> None:
            outcome.clear()
            record = state.records.get(key)
            if record is None or record.pending_client_state != client_state:
                outcome["lost"] = "yes"  # another create started after ours, or the subscription is undesired
                return
            outcome["replaced"] = record.subscription_id
            record.subscription_id = subscription_id
            record.client_state = client_state
            record.pending_client_state = record.pending_since = None
            record.expires_at = str(created.get("expirationDateTime") or from_datetime(expires))
            record.created_at = record.renewed_at = from_datetime(self._clock())
            record.last_error = None
            record.endpoint_hash = endpoint
            record.renew_due = False
            record.resource, record.change_type, record.streams = (
                wanted.resource, wanted.change_type, list(wanted.streams))

        self.store.update(done)
        if outcome.get("lost"):
            log.info("A newer create for %s (tenant %s) superseded subscription %s; deleting it", wanted.resource,
                     tenant, subscription_id)
            self._delete_id(tenant, subscription_id)
            return subscription_id
        log.info("Created subscription %s for %s (tenant %s), expires %s", subscription_id, wanted.resource,
                 tenant, from_datetime(expires))
        replaced = outcome.get("replaced")
        if replaced and replaced != subscription_id:
            self._delete_id(tenant, replaced)
        return subscription_id

    def renew(self, key: str) -> bool:
        """Extend the subscription to its full lifetime (this also reauthorizes it). Recreates it if Graph no longer
        knows it. Returns True if renewed, False if it had to be recreated."""
        from shared.graph.client import GraphError

        desired = self.desired()
        state, _ = self.store.load()
        record = state.records.get(key)
        if key not in desired or record is None:
            raise KeyError(f"no desired subscription {key}")
        tenant, wanted = desired[key]
        if not record.subscription_id:
            self.create(key, tenant, wanted)
            return False
        expires = self._clock() + timedelta(minutes=wanted.lifetime_minutes) - EXPIRY_MARGIN
        try:
            answer = self._client(tenant).request(
                "PATCH", f"/subscriptions/{quote(record.subscription_id, safe='')}",
                json_body={"expirationDateTime": from_datetime(expires)}).body or {}
        except GraphError as exc:
            if exc.status != 404:
                raise
            log.info("Graph no longer knows subscription %s for %s; recreating it", record.subscription_id,
                     wanted.resource)
            self.create(key, tenant, wanted)
            return False

        def renewed(r: SubscriptionRecord) -> None:
            r.expires_at = str(answer.get("expirationDateTime") or from_datetime(expires))
            r.renewed_at = from_datetime(self._clock())
            r.last_error = None
            r.renew_due = False

        self._save(key, renewed)
        log.info("Renewed subscription %s for %s until %s", record.subscription_id, wanted.resource,
                 from_datetime(expires))
        return True

    def recreate(self, key: str) -> str:
        desired = self.desired()
        if key not in desired:
            raise KeyError(f"no desired subscription {key}")
        tenant, wanted = desired[key]
        return self.create(key, tenant, wanted)

    def delete(self, record: SubscriptionRecord) -> None:
        if record.subscription_id:
            self._delete_id(record.tenant, record.subscription_id)
        def drop(state: SubscriptionState) -> None:
            state.records.pop(record.key, None)

        self.store.update(drop)
        log.info("Deleted subscription %s for %s (tenant %s): no longer desired", record.subscription_id,
                 record.resource, record.tenant)

    # --- helpers

    def _delete_id(self, tenant: str, subscription_id: str) -> None:
        from shared.graph.client import GraphError

        try:
            self._client(tenant).request("DELETE", f"/subscriptions/{quote(subscription_id, safe='')}")
        except GraphError as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise

    def _list_ours(self, desired: dict[str, tuple[str, DesiredSubscription]]) -> dict[str, dict[str, dict[str, Any]]]:
        """Graph's subscriptions that point at our notification URL, per tenant, by id. A tenant whose list
        cannot be read is left out: its records are then trusted as they are."""
        ours = urlsplit(self.url(NOTIFICATION_ROUTE))
        tenants = {tenant for tenant, _ in desired.values()} | set(self.tenant_ids())
        live: dict[str, dict[str, dict[str, Any]]] = {}
        for tenant in sorted(tenants):
            try:
                listed = [item for page in self._client(tenant).iter_pages("/subscriptions") for item in page.items]
            except Exception as exc:
                log.warning("Could not list the subscriptions of tenant %s: %s", tenant, redact(str(exc)))
                continue
            live[tenant] = {}
            for item in listed:
                url = urlsplit(str(item.get("notificationUrl") or ""))
                if (url.scheme, url.netloc.lower(), url.path) == (ours.scheme, ours.netloc.lower(), ours.path):
                    live[tenant][str(item.get("id"))] = item
        return live

    def _delete_strays(self, live: dict[str, dict[str, dict[str, Any]]]) -> int:
        """Delete subscriptions of ours that the state does not know: a create whose answer was lost, a state blob
        that was lost, another deployment's leftovers at the same URL."""
        state, _ = self.store.load()
        known = {r.subscription_id for r in state.records.values() if r.subscription_id}
        # A create in flight (the lifecycle handling may be creating one right now) makes a subscription Graph
        # already lists but we cannot name yet: that tenant waits for the next upkeep. A create that has been
        # "in flight" for long died with its process and blocks nothing.
        recent = from_datetime(self._clock() - STALE_PENDING)
        creating = {r.tenant for r in state.records.values() if r.pending_since and r.pending_since > recent}
        deleted = 0
        for tenant, items in live.items():
            if tenant in creating:
                continue
            for subscription_id, item in items.items():
                if subscription_id in known:
                    continue
                try:
                    self._delete_id(tenant, subscription_id)
                    deleted += 1
                    log.info("Deleted stray subscription %s (%s) of tenant %s", subscription_id,
                             item.get("resource"), tenant)
                except Exception as exc:
                    log.warning("Could not delete stray subscription %s: %s", subscription_id, redact(str(exc)))
        return deleted

    def _save(self, key: str, change: Callable[[SubscriptionRecord], None]) -> None:
        def apply(state: SubscriptionState) -> None:
            record = state.records.get(key)
            if record is not None:
                change(record)

        self.store.update(apply)

    def _record_error(self, key: str, exc: Exception) -> None:
        message = redact(str(exc))[:1000]
        log.error("Subscription upkeep failed for %s: %s", key, message)
        try:
            self._save(key, lambda r: setattr(r, "last_error", message))
        except Exception:
            log.exception("Could not record the upkeep error for %s", key)
