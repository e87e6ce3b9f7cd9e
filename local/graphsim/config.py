"""Settings of a simulated Graph (all have defaults; ``SimConfig()`` is a small single-tenant Graph)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

DEFAULT_CLIENT_ID = "00000000-0000-4000-8000-00000000c11e"
DEFAULT_CLIENT_SECRET = "graphsim-dev-secret-not-for-production"  # noqa: S105 - a fixed dev credential by design


@dataclass
class SimConfig:
    seed: int = 1
    tenants: int = 1  # tenant GUIDs are derived from the seed
    # Items per tenant.
    alerts: int = 200
    alerts_per_incident: float = 3.0  # incidents are derived from alerts (this many alerts each, on average)
    risk_detections: int = 100
    risky_users: int = 40
    risky_service_principals: int = 10
    service_principal_risk_detections: int = 20
    # The tenant's users and devices (the evidence pools and the directory behind them): alerts name these.
    directory_users: int = 120
    directory_devices: int = 80
    # Graph application permissions the simulated app lacks: the directory lookups that need one answer 403
    # (User.Read.All, Device.Read.All, DeviceManagementManagedDevices.Read.All, RoleManagement.Read.Directory,
    # AuditLog.Read.All, Application.Read.All).
    denied_permissions: tuple[str, ...] = ()
    # Directory lists (GET /users?$filter=id in (…), /devices?$filter=deviceId eq … or …): Graph's default limit on
    # the values of one filter (more: 400 Request_UnsupportedQuery; 1 models a tenant that refuses multi-value
    # filters), and the page size past which an answer is paged with @odata.nextLink (Graph's default: 100).
    directory_filter_values: int = 15
    directory_page_size: int = 100
    history_days: float = 10.0  # timestamps spread over this many days before `anchor`
    anchor: datetime | None = None  # the "now" of generated history; None = wall clock when the simulator is built
    evidence_kb: float = 1.2  # average serialized size of an alert's evidence array (alerts then average ~3 KB)
    extra_field_rate: float = 0.1  # share of items carrying "simFutureProperty", a property unknown to v1.0
    # Paging behaviour (profiles.py): "documented" or "observed" (no nextLink on security lists, $top clamped,
    # $orderby accepted, short pages on identity lists).
    profile: str = "documented"
    # Query options a list refuses with 400 although the profile would take them, e.g. {"alerts": ("$orderby",)}.
    refused_options: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Throttling (docs/graph-notes.md): security 150 requests/60 s per app per tenant; Identity Protection
    # 1 request/s per tenant. throttle_scale multiplies the rate (windows shrink): 20 = twenty times faster.
    throttle: bool = True
    throttle_scale: float = 1.0
    # Auth.
    token_expires_in: int = 3600
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    client_certificates: tuple[str, ...] = ()  # PEM certificates whose keys may sign client assertions
    app_display_name: str = "Graph Security Bridge (simulated app)"  # author of comments made with app tokens
    # Server.
    host: str = "127.0.0.1"
    port: int = 0
    request_log_size: int = 10_000  # also the size of the delivery log
    # Subscriptions and change notifications (docs/graph-notes.md).
    subscriptions_per_app_tenant: int = 100  # quotas: over them, POST /subscriptions gets 403
    subscriptions_per_tenant: int = 1000
    validation_timeout: float = 10.0  # seconds the receiver has to answer the validation handshake
    validation_token_suffix: str = ""  # appended to every validationToken (e.g. HTML, to test escaping)
    notification_timeout: float = 3.0  # seconds a receiver has to answer a notification POST
    notification_batch_size: int = 100  # most notifications in one POST
    notification_max_attempts: int = 3  # attempts per POST (Graph retries for up to 4 hours)
    notification_retry_delay: float = 1.0  # seconds between attempts (Graph waits about 10 minutes)
