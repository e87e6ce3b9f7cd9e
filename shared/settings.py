"""Every app setting the product reads, in one table, parsed and checked once.

The table (`SETTINGS`) is the single source of truth: `load_settings` reads it, the README's configuration table and
the Bicep consistency test are checked against it, and `local.settings.example.json` lists it. An error names the
setting and says what is wrong, and all errors are reported together so a deployment is fixed in one pass.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from shared.graph.clouds import Cloud, cloud_by_name

if TYPE_CHECKING:
    from shared.webhooks.resources import DesiredSubscription

T = TypeVar("T")

AUTH_MODES = ("managed_identity", "client_secret", "certificate", "workload_identity", "managed_identity_federation")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Blob container names: 3-63 chars, lowercase letters, digits and single hyphens, starting with a letter or digit.
CONTAINER_RE = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
QUEUE_RE = CONTAINER_RE
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

# Prefix of the storage connection the app's own data uses (exports, checkpoints, audit, notification queue). Either
# BRIDGE_STORAGE holds a connection string (local, Azurite) or BRIDGE_STORAGE__blobServiceUri (and
# __queueServiceUri) point at the account and a managed identity is used, as the Functions host does for its own
# identity-based connections.
STORAGE_PREFIX = "BRIDGE_STORAGE"


class SettingsError(ValueError):
    """One or more settings are missing or invalid. The message names each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str
    group: str
    secret: bool = False
    required: bool = False


SETTINGS: tuple[Setting, ...] = (
    # --- Microsoft Graph and authentication
    Setting("GRAPH_CLOUD", "Global", "National cloud: Global, USGov or USGovDoD (China does not offer these APIs).",
            "graph"),
    Setting("GRAPH_TENANT_IDS", "",
            "Comma-separated Entra tenant ids (GUIDs) to export. Required unless GRAPH_TENANT_LIST_BLOB is set.",
            "graph"),
    Setting("GRAPH_TENANT_LIST_BLOB", "",
            "Name of a JSON blob in STATE_CONTAINER that lists the tenants instead of GRAPH_TENANT_IDS (with display "
            "names, streams and schedules per tenant), read on every timer tick: tenants are added without a "
            "redeploy (docs/multi-tenant.md).", "graph"),
    Setting("GRAPH_AUTH_MODE", "managed_identity",
            "How the app gets Graph tokens: managed_identity, client_secret, certificate, workload_identity or "
            "managed_identity_federation (a multi-tenant app whose only credential is the app's user-assigned managed "
            "identity: no secret; see docs/multi-tenant.md).", "graph"),
    Setting("GRAPH_CLIENT_ID", "",
            "Client id of the app registration, or of the user-assigned managed identity (empty: system-assigned).",
            "graph"),
    Setting("GRAPH_CLIENT_SECRET", "", "Client secret (client_secret mode). Use a Key Vault reference.", "graph",
            secret=True),
    Setting("GRAPH_CLIENT_CERTIFICATE", "",
            "PEM (certificate + private key) or base64 PKCS#12 (certificate mode), e.g. a Key Vault reference.",
            "graph", secret=True),
    Setting("GRAPH_CLIENT_CERTIFICATE_PATH", "", "Path to a PEM or PKCS#12 file (certificate mode), instead of "
            "GRAPH_CLIENT_CERTIFICATE.", "graph"),
    Setting("GRAPH_FEDERATED_IDENTITY_CLIENT_ID", "",
            "Client id of the user-assigned managed identity that is the app registration's federated credential "
            "(managed_identity_federation mode).", "graph"),
    Setting("GRAPH_FEDERATED_TOKEN_FILE", "",
            "Federated token file (workload_identity mode); empty: AZURE_FEDERATED_TOKEN_FILE.", "graph"),
    Setting("GRAPH_ENDPOINT", "", "Override of the Graph root URL (default: the cloud's).", "graph"),
    Setting("GRAPH_AUTHORITY_HOST", "", "Override of the token authority URL (default: the cloud's).", "graph"),
    Setting("GRAPH_DISABLE_INSTANCE_DISCOVERY", "false",
            "true for a private or local authority that MSAL must not look up in the public cloud.", "graph"),
    Setting("GRAPH_TIMEOUT_SECONDS", "60", "Read timeout of one Graph request (seconds).", "graph"),
    Setting("GRAPH_MAX_ATTEMPTS", "8", "Attempts per Graph request, the first included, before giving up.", "graph"),
    Setting("GRAPH_MAX_RETRY_WAIT_SECONDS", "180", "Cap on the total time one request may spend waiting to retry.",
            "graph"),
    Setting("GRAPH_SECURITY_REQUESTS_PER_MINUTE", "150",
            "Client-side budget per tenant for /security calls (Graph's limit: 150 per minute per app per tenant).",
            "graph"),
    Setting("GRAPH_IDENTITY_REQUESTS_PER_SECOND", "1",
            "Client-side budget per tenant for Identity Protection calls (Graph's limit: 1 per second per tenant).",
            "graph"),
    # --- Storage
    Setting(STORAGE_PREFIX, "",
            "Connection string of the data storage account (local/Azurite). In Azure leave it empty and set "
            f"{STORAGE_PREFIX}__blobServiceUri instead.", "storage", secret=True),
    Setting(f"{STORAGE_PREFIX}__blobServiceUri", "",
            "Blob endpoint of the data storage account, reached with the managed identity.", "storage"),
    Setting(f"{STORAGE_PREFIX}__queueServiceUri", "",
            "Queue endpoint of the data storage account (change notifications), reached with the managed identity.",
            "storage"),
    Setting(f"{STORAGE_PREFIX}__clientId", "",
            "Client id of the user-assigned managed identity for storage (empty: system-assigned).", "storage"),
    Setting(f"{STORAGE_PREFIX}__credential", "managedidentity",
            "Credential type of the identity-based storage connection (the Functions convention).", "storage"),
    Setting("EXPORT_CONTAINER", "graph-export", "Blob container that receives the exported NDJSON.gz files.",
            "storage"),
    Setting("STATE_CONTAINER", "graph-state", "Blob container for checkpoints, leases and subscription state.",
            "storage"),
    Setting("AUDIT_CONTAINER", "graph-audit", "Blob container for the audit trail of actions.", "storage"),
    # --- Export
    Setting("EXPORT_STREAMS",
            "alerts,incidents,riskDetections,riskyUsers,riskyServicePrincipals,servicePrincipalRiskDetections",
            "Comma-separated streams to export (names from the stream table).", "export"),
    Setting("EXPORT_SCHEDULE", "0 */5 * * * *", "NCRONTAB schedule of the export timers (read by the host).",
            "export"),
    Setting("EXPORT_QUEUE", "graph-export-work",
            "Storage queue of export work items (one per tenant and API family) that the timers fill and the "
            "export_worker function runs.", "export"),
    Setting("EXPORT_OVERLAP_MINUTES", "10",
            "Each run re-reads this far behind its cursor to catch Graph's late-indexed changes.", "export"),
    Setting("EXPORT_INITIAL_LOOKBACK_DAYS", "7", "How far back the first run of a stream starts.", "export"),
    Setting("EXPORT_TIME_BUDGET_SECONDS", "270",
            "A run stops cleanly after this long and the next run resumes (keep it under functionTimeout).",
            "export"),
    Setting("EXPORT_INCIDENTS_EXPAND_ALERTS", "false",
            "true to export incidents with their alerts ($expand=alerts; slow and error-prone on large tenants).",
            "export"),
    Setting("EXPORT_GZIP_LEVEL", "6", "gzip compression level of export blobs (1 fastest .. 9 smallest).", "export"),
    Setting("EXPORT_FORMATS", "graph",
            "Comma-separated outputs of the export: graph (Graph's objects as returned; always on), and ocsf to also "
            "write each version as an OCSF event under ocsf/ (docs/ocsf.md).", "export"),
    Setting("EXPORT_ENRICH", "false",
            "true to add bridgeContext (the essentials of the users and devices an alert's evidence names) to each "
            "exported alert, looked up with $batch at low priority; needs User.Read.All and Device.Read.All "
            "(docs/enrichment.md).", "export"),
    Setting("EXPORT_OCSF_VERSION", "1.8.0",
            "OCSF schema version of the ocsf output, written to metadata.version: 1.6.0, 1.7.0 or 1.8.0.", "export"),
    # --- Actions
    Setting("ACTIONS_ENABLED", "true",
            "false turns off the write actions (the app then needs only read permissions).", "actions"),
    Setting("ACTIONS_MAX_BULK_IDS", "500", "Most alert ids one bulk request may change.", "actions"),
    Setting("ACTIONS_BULK_TIME_BUDGET_SECONDS", "100",
            "Seconds a bulk or risky-user request may work before it answers, the ids not reached reported as "
            "notAttempted (under the 120 s a Consumption Logic App waits; the Functions front end cuts at 230 s).",
            "actions"),
    # --- Change notifications
    Setting("WEBHOOKS_ENABLED", "false", "true to keep Graph change-notification subscriptions alive.", "webhooks"),
    Setting("WEBHOOK_BASE_URL", "",
            "Public https base URL of this function app, e.g. https://myapp.azurewebsites.net.", "webhooks"),
    Setting("WEBHOOK_FUNCTION_KEY", "",
            "Function key Graph sends back in the notification URL (Key Vault reference).", "webhooks", secret=True),
    Setting("WEBHOOK_SUBSCRIPTIONS", "[]",
            'JSON list of desired subscriptions: [{"resource", "changeType", "streams", "lifetimeMinutes"?}] (see '
            '"Change notifications"); checked when WEBHOOKS_ENABLED=true.',
            "webhooks"),
    Setting("WEBHOOK_QUEUE", "graph-notifications", "Storage queue that holds accepted notifications.", "webhooks"),
    Setting("SUBSCRIPTION_UPKEEP_SCHEDULE", "0 0 * * * *",
            "NCRONTAB schedule of the subscription upkeep timer (read by the host).", "webhooks"),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    cloud: Cloud
    graph_root: str
    authority_host: str
    disable_instance_discovery: bool
    tenant_ids: tuple[str, ...]
    tenant_list_blob: str
    auth_mode: str
    client_id: str
    client_secret: str = field(repr=False)
    client_certificate: str = field(repr=False)
    client_certificate_path: str
    federated_token_file: str
    federated_identity_client_id: str
    timeout_seconds: float
    max_attempts: int
    max_retry_wait_seconds: float
    security_requests_per_minute: int
    identity_requests_per_second: float
    storage_connection_string: str = field(repr=False)
    blob_service_uri: str
    queue_service_uri: str
    storage_client_id: str
    export_container: str
    state_container: str
    audit_container: str
    export_streams: tuple[str, ...]
    export_queue: str
    overlap_minutes: int
    initial_lookback_days: int
    time_budget_seconds: int
    incidents_expand_alerts: bool
    gzip_level: int
    export_formats: tuple[str, ...]
    ocsf_version: str
    enrich: bool
    actions_enabled: bool
    actions_max_bulk_ids: int
    actions_bulk_time_budget_seconds: int
    webhooks_enabled: bool
    webhook_base_url: str
    webhook_function_key: str = field(repr=False)
    webhook_subscriptions: tuple[DesiredSubscription, ...]
    webhook_queue: str
    warnings: tuple[str, ...] = ()  # accepted, but worth an operator's attention (logged by load_settings)

    @property
    def graph_scope(self) -> str:
        return f"{self.graph_root}/.default"


class _Reader:
    """Reads raw values with defaults and collects every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str:
        setting = SETTINGS_BY_NAME[name]
        value = self.env.get(name)
        if value is None or value.strip() == "":
            if setting.required:
                self.problems.append(f"{name} is missing. {setting.help}")
            return setting.default or ""
        return value.strip()

    def check(self, name: str, parse: Callable[[str], T], fallback: T) -> T:
        value = self.raw(name)
        try:
            return parse(value)
        except ValueError as exc:
            shown = "<hidden>" if SETTINGS_BY_NAME[name].secret else repr(value)
            self.problems.append(f"{name}={shown} is invalid: {exc}")
            return fallback

    def integer(self, name: str, low: int, high: int) -> int:
        def parse(text: str) -> int:
            try:
                number = int(text)
            except ValueError:
                raise ValueError("expected a whole number") from None
            if not low <= number <= high:
                raise ValueError(f"expected a number from {low} to {high}")
            return number

        return self.check(name, parse, low)

    def number(self, name: str, low: float, high: float) -> float:
        def parse(text: str) -> float:
            try:
                number = float(text)
            except ValueError:
                raise ValueError("expected a number") from None
            if not low <= number <= high:
                raise ValueError(f"expected a number from {low:g} to {high:g}")
            return number

        return self.check(name, parse, low)

    def boolean(self, name: str) -> bool:
        def parse(text: str) -> bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError("expected true or false")

        return self.check(name, parse, False)

    def url(self, name: str, *, allow_empty: bool = True, allow_loopback_http: bool = False) -> str:
        def parse(text: str) -> str:
            if not text and allow_empty:
                return ""
            parts = urlsplit(text)
            # Plain http only to this machine: the local dev host and simulator; nothing leaves the machine.
            loopback_http = allow_loopback_http and parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
            if (parts.scheme != "https" and not loopback_http) or not parts.hostname:
                raise ValueError("expected an absolute https:// URL")
            if parts.query or parts.fragment:
                raise ValueError("expected a URL without query string or fragment")
            return text.rstrip("/")

        return self.check(name, parse, "")

    def name_like(self, name: str, pattern: re.Pattern[str], what: str) -> str:
        def parse(text: str) -> str:
            if not pattern.fullmatch(text):
                raise ValueError(what)
            return text

        return self.check(name, parse, SETTINGS_BY_NAME[name].default or "")


def _parse_tenants(text: str) -> tuple[str, ...]:
    tenants = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    bad = [t for t in tenants if not GUID_RE.fullmatch(t)]
    if bad:
        raise ValueError(f"tenant ids must be GUIDs, got {', '.join(bad)}")
    return tenants


BLOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def _parse_blob_name(text: str) -> str:
    name = text.strip()
    if not name:
        return ""
    if not BLOB_NAME_RE.fullmatch(name) or "//" in name or name.endswith("/"):
        raise ValueError("expected a blob name such as tenants.json (letters, digits, '.', '_', '-', '/')")
    return name


def _parse_streams(text: str) -> tuple[str, ...]:
    # Imported here so that settings stay importable without the stream table's dependencies.
    from shared.export.streams import STREAMS

    names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    by_lower = {name.lower(): name for name in STREAMS}
    unknown = [n for n in names if n.lower() not in by_lower]
    if unknown:
        raise ValueError(f"unknown stream(s) {', '.join(unknown)}; known: {', '.join(STREAMS)}")
    if not names:
        raise ValueError("name at least one stream")
    return tuple(by_lower[n.lower()] for n in names)


EXPORT_FORMATS = ("graph", "ocsf")


def _parse_formats(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [n for n in names if n not in EXPORT_FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(EXPORT_FORMATS)}")
    if "graph" not in names:
        raise ValueError("graph must be listed: the graph output is what the checkpoint records, and the other "
                         "formats are written beside it (e.g. graph,ocsf)")
    return names


def _parse_ocsf_version(text: str) -> str:
    from shared.ocsf.render import SUPPORTED_VERSIONS

    if text not in SUPPORTED_VERSIONS:
        raise ValueError(f"expected one of {', '.join(SUPPORTED_VERSIONS)} (the OCSF versions the mapping is "
                         "validated against)")
    return text


def _parse_subscriptions(text: str) -> tuple[DesiredSubscription, ...]:
    import json

    from shared.webhooks.resources import parse_desired

    try:
        value = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("expected a JSON list of objects")
    desired = []
    for item in value:
        entry = parse_desired(item)
        desired.append(replace(entry, streams=_parse_streams(",".join(entry.streams))))
    keys = [(d.resource, d.change_type) for d in desired]
    if len(set(keys)) != len(keys):
        raise ValueError("the same resource and changeType are listed twice")
    return tuple(desired)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting. Raises SettingsError naming each bad setting."""
    reader = _Reader(os.environ if env is None else env)
    cloud_name = reader.raw("GRAPH_CLOUD")
    cloud = cloud_by_name(cloud_name)
    if cloud is None:
        reader.problems.append(f"GRAPH_CLOUD={cloud_name!r} is not a known cloud: use Global, USGov or USGovDoD.")
        cloud = cloud_by_name("Global")
        assert cloud is not None
    elif not cloud.supports_security_apis:
        reader.problems.append(
            f"GRAPH_CLOUD={cloud.name}: Microsoft Graph does not offer the security (alerts_v2, incidents) or "
            "Identity Protection APIs in this cloud, so there is nothing to export there."
        )

    auth_mode = reader.check("GRAPH_AUTH_MODE", _choice(AUTH_MODES), "managed_identity")
    tenants: tuple[str, ...] = reader.check("GRAPH_TENANT_IDS", _parse_tenants, ())
    tenant_list_blob = reader.check("GRAPH_TENANT_LIST_BLOB", _parse_blob_name, "")
    if not tenants and not tenant_list_blob:
        reader.problems.append("GRAPH_TENANT_IDS is missing: set it to the tenant ids to export, or set "
                               "GRAPH_TENANT_LIST_BLOB to the blob that lists them.")
    if tenants and tenant_list_blob:
        reader.problems.append("GRAPH_TENANT_IDS and GRAPH_TENANT_LIST_BLOB are both set: the tenant list comes "
                               "from one of them (empty GRAPH_TENANT_IDS to use the blob).")
    client_id = reader.raw("GRAPH_CLIENT_ID")
    if client_id and not GUID_RE.fullmatch(client_id):
        reader.problems.append(f"GRAPH_CLIENT_ID={client_id!r} is invalid: expected a GUID")
    client_secret = reader.raw("GRAPH_CLIENT_SECRET")
    certificate = reader.raw("GRAPH_CLIENT_CERTIFICATE")
    certificate_path = reader.raw("GRAPH_CLIENT_CERTIFICATE_PATH")
    federated_identity = reader.raw("GRAPH_FEDERATED_IDENTITY_CLIENT_ID")
    if federated_identity and not GUID_RE.fullmatch(federated_identity):
        reader.problems.append(f"GRAPH_FEDERATED_IDENTITY_CLIENT_ID={federated_identity!r} is invalid: expected a GUID")
    if auth_mode == "managed_identity_federation" and not federated_identity:
        reader.problems.append("GRAPH_FEDERATED_IDENTITY_CLIENT_ID is missing: GRAPH_AUTH_MODE="
                               "managed_identity_federation needs the client id of the user-assigned managed identity "
                               "(a system-assigned identity cannot be a federated credential).")
    if auth_mode in ("client_secret", "certificate", "workload_identity", "managed_identity_federation") \
            and not client_id:
        reader.problems.append(f"GRAPH_CLIENT_ID is missing: GRAPH_AUTH_MODE={auth_mode} needs the app's client id.")
    if auth_mode == "client_secret" and not client_secret:
        reader.problems.append("GRAPH_CLIENT_SECRET is missing: GRAPH_AUTH_MODE=client_secret needs it.")
    if auth_mode == "certificate" and not (certificate or certificate_path):
        reader.problems.append(
            "GRAPH_CLIENT_CERTIFICATE (or GRAPH_CLIENT_CERTIFICATE_PATH) is missing: GRAPH_AUTH_MODE=certificate "
            "needs it."
        )
    if auth_mode == "managed_identity" and len(tenants) > 1:
        reader.problems.append(
            "GRAPH_TENANT_IDS lists several tenants, but a managed identity gets tokens only for its own tenant: "
            "use GRAPH_AUTH_MODE=client_secret or certificate with a multi-tenant app registration."
        )

    storage_connection = reader.raw(STORAGE_PREFIX)
    blob_uri = reader.url(f"{STORAGE_PREFIX}__blobServiceUri")
    queue_uri = reader.url(f"{STORAGE_PREFIX}__queueServiceUri")
    if not storage_connection and not blob_uri:
        reader.problems.append(
            f"{STORAGE_PREFIX} is missing: set {STORAGE_PREFIX} to a connection string, or "
            f"{STORAGE_PREFIX}__blobServiceUri to the account's blob endpoint (managed identity)."
        )

    container_rule = "expected 3-63 lowercase letters, digits or single hyphens"
    webhooks_on = reader.boolean("WEBHOOKS_ENABLED")
    settings = Settings(
        cloud=cloud,
        graph_root=reader.url("GRAPH_ENDPOINT") or cloud.graph_root,
        authority_host=reader.url("GRAPH_AUTHORITY_HOST") or cloud.authority_host,
        disable_instance_discovery=reader.boolean("GRAPH_DISABLE_INSTANCE_DISCOVERY"),
        tenant_ids=tenants,
        tenant_list_blob=tenant_list_blob,
        auth_mode=auth_mode,
        client_id=client_id,
        client_secret=client_secret,
        client_certificate=certificate,
        client_certificate_path=certificate_path,
        federated_token_file=reader.raw("GRAPH_FEDERATED_TOKEN_FILE"),
        federated_identity_client_id=federated_identity,
        timeout_seconds=reader.number("GRAPH_TIMEOUT_SECONDS", 1, 600),
        max_attempts=reader.integer("GRAPH_MAX_ATTEMPTS", 1, 20),
        max_retry_wait_seconds=reader.number("GRAPH_MAX_RETRY_WAIT_SECONDS", 0, 3600),
        security_requests_per_minute=reader.integer("GRAPH_SECURITY_REQUESTS_PER_MINUTE", 1, 100_000),
        identity_requests_per_second=reader.number("GRAPH_IDENTITY_REQUESTS_PER_SECOND", 0.01, 1000),
        storage_connection_string=storage_connection,
        blob_service_uri=blob_uri,
        queue_service_uri=queue_uri,
        storage_client_id=reader.raw(f"{STORAGE_PREFIX}__clientId"),
        export_container=reader.name_like("EXPORT_CONTAINER", CONTAINER_RE, container_rule),
        state_container=reader.name_like("STATE_CONTAINER", CONTAINER_RE, container_rule),
        audit_container=reader.name_like("AUDIT_CONTAINER", CONTAINER_RE, container_rule),
        export_streams=reader.check("EXPORT_STREAMS", _parse_streams, ()),
        export_queue=reader.name_like("EXPORT_QUEUE", QUEUE_RE, container_rule),
        overlap_minutes=reader.integer("EXPORT_OVERLAP_MINUTES", 0, 24 * 60),
        initial_lookback_days=reader.integer("EXPORT_INITIAL_LOOKBACK_DAYS", 0, 3650),
        time_budget_seconds=reader.integer("EXPORT_TIME_BUDGET_SECONDS", 10, 24 * 3600),
        incidents_expand_alerts=reader.boolean("EXPORT_INCIDENTS_EXPAND_ALERTS"),
        gzip_level=reader.integer("EXPORT_GZIP_LEVEL", 1, 9),
        export_formats=reader.check("EXPORT_FORMATS", _parse_formats, ("graph",)),
        ocsf_version=reader.check("EXPORT_OCSF_VERSION", _parse_ocsf_version, "1.8.0"),
        enrich=reader.boolean("EXPORT_ENRICH"),
        actions_enabled=reader.boolean("ACTIONS_ENABLED"),
        actions_max_bulk_ids=reader.integer("ACTIONS_MAX_BULK_IDS", 1, 5000),
        actions_bulk_time_budget_seconds=reader.integer("ACTIONS_BULK_TIME_BUDGET_SECONDS", 10, 220),
        webhooks_enabled=webhooks_on,
        webhook_base_url=reader.url("WEBHOOK_BASE_URL", allow_loopback_http=True),
        webhook_function_key=reader.raw("WEBHOOK_FUNCTION_KEY"),
        # Checked only when webhooks are on: a draft list must not stop the export while they are off.
        webhook_subscriptions=(reader.check("WEBHOOK_SUBSCRIPTIONS", _parse_subscriptions, ())
                               if webhooks_on else ()),
        webhook_queue=reader.name_like("WEBHOOK_QUEUE", QUEUE_RE, container_rule),
    )
    if settings.webhooks_enabled and not settings.webhook_base_url:
        reader.problems.append("WEBHOOK_BASE_URL is missing: WEBHOOKS_ENABLED=true needs the app's public URL.")
    if settings.webhooks_enabled and not settings.webhook_function_key:
        reader.problems.append("WEBHOOK_FUNCTION_KEY is missing: WEBHOOKS_ENABLED=true needs the function key that "
                               "Graph sends back in the notification URL.")
    if reader.problems:
        raise SettingsError(reader.problems)
    warnings = legacy_subscription_warnings(settings.webhook_subscriptions)
    for warning in warnings:
        logging.getLogger("graph_security_bridge.settings").warning(warning)
    return replace(settings, warnings=warnings)


def legacy_subscription_warnings(desired: tuple[DesiredSubscription, ...]) -> tuple[str, ...]:
    """Subscriptions that stay possible but that Graph has retired (docs/graph-notes.md, "Change notifications")."""
    from shared.webhooks.resources import subscribable_for

    warnings = []
    for entry in desired:
        row = subscribable_for(entry.resource)
        if row is not None and row.retired:
            warnings.append(f"WEBHOOK_SUBSCRIPTIONS: {entry.resource!r} {row.retired}")
    return tuple(warnings)


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        lowered = text.lower()
        if lowered not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return lowered

    return parse


_cached: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read on first use (never at import time)."""
    global _cached
    if _cached is None:
        _cached = load_settings()
    return _cached


def reset_settings_cache() -> None:
    """Forget the cached settings (tests, and the local runner after it changes the environment)."""
    global _cached
    _cached = None
