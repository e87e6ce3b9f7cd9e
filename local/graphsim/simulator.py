"""``GraphSimulator``: the public object tying data, auth, throttling, faults and the HTTPS server together."""

from __future__ import annotations

import ipaddress
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC
from types import TracebackType
from typing import Any

from ..tls import LocalTls, ensure_local_tls
from . import data
from .auth import TokenService
from .changes import Change, ChangePublisher, parse_changed_resource
from .config import SimConfig
from .control import handle_control
from .faults import FaultInjector
from .handlers import GraphApi, GraphRequest, GraphResponse
from .notifier import DeliveryRecord, Notifier
from .profiles import PROFILES
from .resources import BY_NAME
from .server import SimHTTPServer
from .subscription_api import SubscriptionApi
from .subscriptions import ALERTS, SubscriptionStore
from .tenant import LazyTenants, TenantState
from .throttle import Throttler
from .ticks import TICKS_PER_SECOND, now_ticks


@dataclass(frozen=True)
class RequestRecord:
    """One Graph request as the simulator saw it (headers with lower-case names)."""

    method: str
    path: str  # percent-decoded path, e.g. "/v1.0/security/alerts_v2"
    query: str  # raw query string
    status: int  # 0 when the connection was reset by a fault
    tenant: str | None  # the token's tenant; None if unauthenticated
    headers: dict[str, str]
    request_id: str
    client_request_id: str
    fault: str | None  # "status" | "reset" | "truncate" when a fault knob fired
    duration_s: float
    in_batch: bool  # an inner request of a $batch (logged after the outer one's inner steps run)


class GraphSimulator:
    """A Microsoft Graph look-alike on loopback HTTPS. See local/graphsim/README.md."""

    def __init__(self, config: SimConfig | None = None, *, tls: LocalTls | None = None):
        self.config = config or SimConfig()
        self.tls = tls or ensure_local_tls()
        cfg = self.config
        _check_config(cfg)
        anchor = now_ticks() if cfg.anchor is None else _to_ticks(cfg.anchor)
        self.tenants: tuple[str, ...] = data.tenant_ids(cfg.seed, cfg.tenants)
        self._state = LazyTenants(self.tenants, cfg, anchor)
        self.tokens = TokenService(
            self.tenants, cfg.client_id, cfg.client_secret, cfg.token_expires_in, cfg.client_certificates
        )
        self.throttler = Throttler(cfg.throttle, cfg.throttle_scale)
        self.faults = FaultInjector(cfg.seed)
        self.subscription_store = SubscriptionStore(cfg)
        self.notifier = Notifier(cfg)
        self.publisher = ChangePublisher(self.subscription_store, self.notifier, cfg)
        self.api = GraphApi(
            self._state,
            self.throttler,
            cfg,
            log_inner=self._record_inner,
            subscriptions=SubscriptionApi(self.subscription_store, self.notifier, cfg),
        )
        self._log: deque[RequestRecord] = deque(maxlen=cfg.request_log_size)
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None
        self._lifecycle = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------------------------------------

    def start(self) -> GraphSimulator:
        with self._lifecycle:
            if self._server is not None:
                return self
            server = SimHTTPServer((self.config.host, self.config.port), self, self.tls.server_context())
            host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
            self._base_url = f"https://{host}:{server.server_port}"
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"graphsim:{server.server_port}",
                daemon=True,
            )
            self._thread.start()
            self.notifier.start()
        return self

    def stop(self) -> None:
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self.notifier.stop()
        server.shutdown()
        server.server_close()
        server.close_all_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> GraphSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the simulator is not started; call start() first")
        return self._base_url

    # --- credentials and counters -----------------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        return self.config.client_secret

    @property
    def token_requests(self) -> int:
        """POSTs to the token endpoint (successful or not)."""
        return self.tokens.requests

    @property
    def throttled_count(self) -> dict[str, int]:
        """429 answers per API family: {"security": n, "identityProtection": m}."""
        return dict(self.throttler.throttled)

    @property
    def request_log(self) -> list[RequestRecord]:
        return list(self._log)

    def expire_tokens(self) -> None:
        """Expire every issued token now: the next Graph call with one gets 401."""
        self.tokens.expire_all()

    def withdraw_consent(self, tenant: str) -> None:
        """As if the tenant's admin never consented (or removed the enterprise app): its token requests fail with
        AADSTS700016, as Entra answers for an app without a service principal in the tenant."""
        self._tenant(tenant)  # KeyError for an unknown tenant
        self.tokens.unconsented.add(tenant)

    def add_federated_credential(self, issuer: str, subject: str, audience: str, public_key_pem: str | bytes) -> None:
        """A federated identity credential of the app: assertions with this issuer, subject and audience, signed by
        the issuer's key (PEM public key), are accepted as client credentials in every tenant."""
        self.tokens.add_federated_credential(issuer, subject, audience, public_key_pem)

    def register_client_certificate(self, pem: str | bytes) -> None:
        """Accept client assertions signed by this certificate's key (and check signatures from now on)."""
        self.tokens.register_certificate(pem)

    # --- data -------------------------------------------------------------------------------------------------------

    def _tenant(self, tenant: str) -> TenantState:
        try:
            return self._state[tenant]
        except KeyError:
            raise KeyError(f"unknown tenant {tenant!r}; known: {self.tenants}") from None

    def add_alerts(self, tenant: str, count: int, *, same_timestamp: bool = False) -> list[str]:
        """New alerts (new ids), newer than anything in the tenant; ``same_timestamp`` gives them one timestamp.
        Subscriptions on matching legacy alerts get ``created`` notifications."""
        ids = self._tenant(tenant).add_alerts(count, same_timestamp=same_timestamp)
        self._alerts_changed(tenant, ids, "created")
        return ids

    def update_alerts(
        self, tenant: str, ids: list[str] | None = None, *, count: int | None = None, same_timestamp: bool = False
    ) -> list[str]:
        """Bump lastUpdateDateTime (and move status on) for ``ids`` or ``count`` random alerts; returns the ids.
        Subscriptions on matching legacy alerts get ``updated`` notifications."""
        changed = self._tenant(tenant).update_alerts(ids, count=count, same_timestamp=same_timestamp)
        self._alerts_changed(tenant, changed, "updated")
        return changed

    def _alerts_changed(self, tenant: str, ids: list[str], change_type: str) -> int:
        # Benchmarks add thousands of alerts: only decode them when some subscription may match.
        if not ids or not self.publisher.wants(tenant, ALERTS, change_type):
            return 0
        state = self._tenant(tenant)
        with state.lock:
            records = [state.collection("alerts").get(i) for i in ids]
        changes = [Change(ALERTS, r.id, r.to_dict(full=True)) for r in records if r is not None]
        return self.publisher.publish(tenant, changes, change_type)

    def alerts(self, tenant: str) -> list[dict[str, Any]]:
        return self.items(tenant, "alerts")

    def items(self, tenant: str, resource: str) -> list[dict[str, Any]]:
        """Current items of a resource, newest first, with full enum values."""
        if resource not in BY_NAME:
            raise KeyError(f"unknown resource {resource!r}; known: {sorted(BY_NAME)}")
        return self._tenant(tenant).items(resource)

    # --- subscriptions and notifications ----------------------------------------------------------------------------

    def subscriptions(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every live subscription (of ``tenant``, or of all tenants), oldest first, with test-only fields:
        ``tenantId``, ``createdDateTime``, ``needsReauthorization``, ``reauthorizations``, ``renewals``."""
        if tenant is not None:
            self._tenant(tenant)
        return [s.snapshot() for s in self.subscription_store.select(tenant)]

    def expire_subscription(self, subscription_id: str) -> None:
        """As if its expirationDateTime passed now: it is gone (404, no notifications, no lifecycle event)."""
        if self.subscription_store.remove(subscription_id) is None:
            raise KeyError(f"unknown subscription {subscription_id!r}")

    def notify(self, tenant: str, resource: str, change_type: str = "updated") -> int:
        """Raise a change on ``users/<id>``, ``groups/<id>`` or ``security/alerts/<id>`` for the tenant's matching
        subscriptions (the item itself, or its collection). Returns the number of notifications queued."""
        state = self._tenant(tenant)
        kind, item_id = parse_changed_resource(resource)
        alert = None
        if kind == ALERTS:
            with state.lock:
                record = state.collection("alerts").get(item_id)
            alert = record.to_dict(full=True) if record is not None else None
        return self.publisher.publish(tenant, [Change(kind, item_id, alert)], change_type)

    def send_lifecycle(self, subscription_id: str, event: str) -> None:
        """Queue a lifecycle notification: ``reauthorizationRequired`` (pauses change notifications until the app
        reauthorizes or renews), ``subscriptionRemoved`` (also deletes the subscription) or ``missed``."""
        self.publisher.lifecycle(subscription_id, event)

    @property
    def deliveries(self) -> list[DeliveryRecord]:
        """Every outbound POST attempt (validation, notification, lifecycle), oldest first."""
        return self.notifier.records

    @property
    def dropped_notifications(self) -> dict[str, int]:
        """Change notifications dropped per subscription because it was waiting for reauthorization."""
        with self.subscription_store.lock:
            return dict(self.subscription_store.dropped)

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued, in flight or waiting for a retry; False if ``timeout`` passes first."""
        return self.notifier.wait_idle(timeout)

    # --- faults and throttling --------------------------------------------------------------------------------------

    def set_faults(self, **knobs: Any) -> None:
        """Replace all fault rules with one rule made of ``knobs`` (see faults.FaultRule)."""
        self.faults.set(**knobs)

    def add_faults(self, **knobs: Any) -> None:
        """Add one more fault rule next to the existing ones."""
        self.faults.add(**knobs)

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset_throttle(self) -> None:
        """Forget all throttling windows and zero throttled_count."""
        self.throttler.reset()

    # --- hooks for the server ---------------------------------------------------------------------------------------

    def _control(self, method: str, parts: list[str], query: dict[str, str], body: bytes) -> tuple[int, Any]:
        return handle_control(self, method, parts, query, body)

    def _record(
        self,
        method: str,
        path: str,
        query: str,
        status: int,
        tenant: str | None,
        headers: dict[str, str],
        request_id: str,
        client_request_id: str,
        fault: str | None,
        duration_s: float,
        *,
        in_batch: bool,
    ) -> None:
        self._log.append(
            RequestRecord(
                method, path, query, status, tenant, headers, request_id, client_request_id, fault, duration_s, in_batch
            )
        )

    def _record_inner(self, req: GraphRequest, resp: GraphResponse) -> None:
        self._record(
            req.method,
            f"/{req.version}/{req.path}",
            req.query,
            resp.status,
            req.token.tenant,
            req.headers,
            req.request_id,
            req.client_request_id,
            None,
            0.0,
            in_batch=True,
        )


def _check_config(cfg: SimConfig) -> None:
    if cfg.profile not in PROFILES:
        raise ValueError(f"SimConfig.profile must be one of {', '.join(PROFILES)}, not {cfg.profile!r}")
    if cfg.tenants < 1:
        raise ValueError("SimConfig.tenants must be at least 1")
    for name in (
        "alerts",
        "risk_detections",
        "risky_users",
        "risky_service_principals",
        "service_principal_risk_detections",
    ):
        if getattr(cfg, name) < 0:
            raise ValueError(f"SimConfig.{name} must not be negative")
    for name in ("subscriptions_per_app_tenant", "subscriptions_per_tenant", "notification_batch_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"SimConfig.{name} must be at least 1")
    if cfg.notification_max_attempts < 1:
        raise ValueError("SimConfig.notification_max_attempts must be at least 1")
    for name in ("validation_timeout", "notification_timeout", "notification_retry_delay"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"SimConfig.{name} must not be negative")
    # The /_sim control surface has no authentication: never listen beyond loopback.
    if cfg.host != "localhost" and not ipaddress.ip_address(cfg.host).is_loopback:
        raise ValueError(f"SimConfig.host must be a loopback address, not {cfg.host!r}")


def _to_ticks(moment: Any) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * TICKS_PER_SECOND + moment.microsecond * 10
