"""Every app setting the product reads, each declared once: its name, default, parser and bounds, and meaning.

A setting is a field of `Settings` whose declaration says everything about it (`setting(...)`); `load_settings`
reads them all from that, the documentation's configuration table is generated from it (`python -m
local.settings_doc`), and the Bicep consistency test checks against it. A few settings are read by the Functions host
rather than by the app (schedules, the identity-based connection's credential type): they are declared once too, in
`HOST_SETTINGS`. An error names the setting and says what is wrong, and all errors are reported together so a
deployment is fixed in one pass.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.graph.clouds import Cloud, cloud_by_name

if TYPE_CHECKING:
    from shared.webhooks.resources import DesiredSubscription

log = logging.getLogger("graph_security_bridge.settings")

AUTH_MODES = ("managed_identity", "client_secret", "certificate", "workload_identity", "managed_identity_federation")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Blob container names: 3-63 chars, lowercase letters, digits and single hyphens, starting with a letter or digit.
CONTAINER_RE = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
QUEUE_RE = CONTAINER_RE
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
EXPORT_FORMATS = ("graph", "ocsf")

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


Parser = Callable[[str], Any]


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # the text used when the setting is absent or blank; None: required
    help: str
    group: str
    parse: Parser | None = None  # text -> value; raises ValueError saying what is expected. None: read by the host
    secret: bool = False
    # The boolean field that must be true for this setting to be checked (a draft value must not stop the app
    # while its feature is off); off, the default applies.
    only_when: str | None = None

    @property
    def required(self) -> bool:
        return self.default is None


def setting(name: str, default: str | None, parse: Parser, help: str, group: str, *, secret: bool = False,
            only_when: str | None = None) -> Any:
    """Declare a field of `Settings` as the app setting `name`."""
    declared = Setting(name, default, help, group, parse, secret, only_when)
    return field(repr=not secret, metadata={"setting": declared})


# --- parsers: each takes the setting's text and returns the value, or raises ValueError saying what is expected


def text(value: str) -> str:
    return value


def boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError("expected true or false")


def bounded(convert: Callable[[str], float], what: str, low: float, high: float) -> Parser:
    """A number `convert` reads (int or float) from `low` to `high`; `what` names the kind in the error."""

    def parse(value: str) -> float:
        try:
            result = convert(value)
        except ValueError:
            raise ValueError(f"expected {what}") from None
        if not low <= result <= high:
            raise ValueError(f"expected a number from {low:g} to {high:g}")
        return result

    return parse


def integer(low: int, high: int) -> Parser:
    return bounded(int, "a whole number", low, high)


def number(low: float, high: float) -> Parser:
    return bounded(float, "a number", low, high)


def choice(*options: str) -> Parser:
    def parse(value: str) -> str:
        lowered = value.lower()
        if lowered not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return lowered

    return parse


def optional_guid(value: str) -> str:
    if value and not GUID_RE.fullmatch(value):
        raise ValueError("expected a GUID")
    return value


def https_url(*, allow_loopback_http: bool = False) -> Parser:
    """An absolute https URL without query or fragment, trailing slash removed; empty stays empty."""

    def parse(value: str) -> str:
        if not value:
            return ""
        parts = urlsplit(value)
        # Plain http only to this machine: the local dev host and simulator; nothing leaves the machine.
        loopback_http = allow_loopback_http and parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
        if (parts.scheme != "https" and not loopback_http) or not parts.hostname:
            raise ValueError("expected an absolute https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("expected a URL without query string or fragment")
        return value.rstrip("/")

    return parse


def storage_name(value: str) -> str:
    if not CONTAINER_RE.fullmatch(value):
        raise ValueError("expected 3-63 lowercase letters, digits or single hyphens")
    return value


def known_cloud(value: str) -> Cloud:
    found = cloud_by_name(value)
    if found is None:
        raise ValueError("not a known cloud: use Global, USGov or USGovDoD")
    if not found.supports_security_apis:
        raise ValueError("Microsoft Graph does not offer the security (alerts_v2, incidents) or Identity Protection "
                         "APIs in this cloud, so there is nothing to export there")
    return found


def tenant_list(value: str) -> tuple[str, ...]:
    tenants = tuple(dict.fromkeys(t.strip().lower() for t in value.split(",") if t.strip()))
    bad = [t for t in tenants if not GUID_RE.fullmatch(t)]
    if bad:
        raise ValueError(f"tenant ids must be GUIDs, got {', '.join(bad)}")
    return tenants


BLOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def blob_name(value: str) -> str:
    if value and (not BLOB_NAME_RE.fullmatch(value) or "//" in value or value.endswith("/")):
        raise ValueError("expected a blob name such as tenants.json (letters, digits, '.', '_', '-', '/')")
    return value


def stream_list(value: str) -> tuple[str, ...]:
    # Imported here: the stream table is the export job's, and settings stay importable without it.
    from shared.export.streams import STREAMS

    names = tuple(dict.fromkeys(s.strip() for s in value.split(",") if s.strip()))
    by_lower = {name.lower(): name for name in STREAMS}
    unknown = [n for n in names if n.lower() not in by_lower]
    if unknown:
        raise ValueError(f"unknown stream(s) {', '.join(unknown)}; known: {', '.join(STREAMS)}")
    if not names:
        raise ValueError("name at least one stream")
    return tuple(by_lower[n.lower()] for n in names)


def format_list(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(f.strip().lower() for f in value.split(",") if f.strip()))
    unknown = [n for n in names if n not in EXPORT_FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(EXPORT_FORMATS)}")
    if "graph" not in names:
        raise ValueError("graph must be listed: the graph output is what the checkpoint records, and the other "
                         "formats are written beside it (e.g. graph,ocsf)")
    return names


def supported_ocsf_version(value: str) -> str:
    from shared.ocsf.render import SUPPORTED_VERSIONS

    if value not in SUPPORTED_VERSIONS:
        raise ValueError(f"expected one of {', '.join(SUPPORTED_VERSIONS)} (the OCSF versions the mapping is "
                         "validated against)")
    return value


def subscription_list(value: str) -> tuple[DesiredSubscription, ...]:
    from shared.webhooks.resources import parse_desired

    try:
        parsed = json.loads(value or "[]")
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(parsed, list) or not all(isinstance(item, dict) for item in parsed):
        raise ValueError("expected a JSON list of objects")
    desired = []
    for item in parsed:
        entry = parse_desired(item)
        desired.append(replace(entry, streams=stream_list(",".join(entry.streams))))
    keys = [(d.resource, d.change_type) for d in desired]
    if len(set(keys)) != len(keys):
        raise ValueError("the same resource and changeType are listed twice")
    return tuple(desired)


@dataclass(frozen=True)
class Settings:
    # --- Microsoft Graph and authentication
    cloud: Cloud = setting(
        "GRAPH_CLOUD", "Global", known_cloud,
        "National cloud: Global, USGov or USGovDoD (China does not offer these APIs).", "graph")
    tenant_ids: tuple[str, ...] = setting(
        "GRAPH_TENANT_IDS", "", tenant_list,
        "Comma-separated Entra tenant ids (GUIDs) to export. Required unless GRAPH_TENANT_LIST_BLOB is set.", "graph")
    tenant_list_blob: str = setting(
        "GRAPH_TENANT_LIST_BLOB", "", blob_name,
        "Name of a JSON blob in STATE_CONTAINER that lists the tenants instead of GRAPH_TENANT_IDS (with display "
        "names, streams and schedules per tenant), read on every timer tick: tenants are added without a "
        "redeploy (docs/multi-tenant.md).", "graph")
    auth_mode: str = setting(
        "GRAPH_AUTH_MODE", "managed_identity", choice(*AUTH_MODES),
        "How the app gets Graph tokens: managed_identity, client_secret, certificate, workload_identity or "
        "managed_identity_federation (a multi-tenant app whose only credential is the app's user-assigned managed "
        "identity: no secret; see docs/multi-tenant.md).", "graph")
    client_id: str = setting(
        "GRAPH_CLIENT_ID", "", optional_guid,
        "Client id of the app registration, or of the user-assigned managed identity (empty: system-assigned).",
        "graph")
    client_secret: str = setting(
        "GRAPH_CLIENT_SECRET", "", text, "Client secret (client_secret mode). Use a Key Vault reference.", "graph",
        secret=True)
    client_certificate: str = setting(
        "GRAPH_CLIENT_CERTIFICATE", "", text,
        "PEM (certificate + private key) or base64 PKCS#12 (certificate mode), e.g. a Key Vault reference.",
        "graph", secret=True)
    client_certificate_path: str = setting(
        "GRAPH_CLIENT_CERTIFICATE_PATH", "", text,
        "Path to a PEM or PKCS#12 file (certificate mode), instead of GRAPH_CLIENT_CERTIFICATE.", "graph")
    federated_identity_client_id: str = setting(
        "GRAPH_FEDERATED_IDENTITY_CLIENT_ID", "", optional_guid,
        "Client id of the user-assigned managed identity that is the app registration's federated credential "
        "(managed_identity_federation mode).", "graph")
    federated_token_file: str = setting(
        "GRAPH_FEDERATED_TOKEN_FILE", "", text,
        "Federated token file (workload_identity mode); empty: AZURE_FEDERATED_TOKEN_FILE.", "graph")
    graph_endpoint: str = setting(
        "GRAPH_ENDPOINT", "", https_url(), "Override of the Graph root URL (default: the cloud's).", "graph")
    authority_endpoint: str = setting(
        "GRAPH_AUTHORITY_HOST", "", https_url(), "Override of the token authority URL (default: the cloud's).",
        "graph")
    disable_instance_discovery: bool = setting(
        "GRAPH_DISABLE_INSTANCE_DISCOVERY", "false", boolean,
        "true for a private or local authority that MSAL must not look up in the public cloud.", "graph")
    timeout_seconds: float = setting(
        "GRAPH_TIMEOUT_SECONDS", "60", number(1, 600), "Read timeout of one Graph request (seconds).", "graph")
    max_attempts: int = setting(
        "GRAPH_MAX_ATTEMPTS", "8", integer(1, 20),
        "Attempts per Graph request, the first included, before giving up.", "graph")
    max_retry_wait_seconds: float = setting(
        "GRAPH_MAX_RETRY_WAIT_SECONDS", "180", number(0, 3600),
        "Cap on the total time one request may spend waiting to retry.", "graph")
    security_requests_per_minute: int = setting(
        "GRAPH_SECURITY_REQUESTS_PER_MINUTE", "150", integer(1, 100_000),
        "Client-side budget per tenant for /security calls (Graph's limit: 150 per minute per app per tenant).",
        "graph")
    identity_requests_per_second: float = setting(
        "GRAPH_IDENTITY_REQUESTS_PER_SECOND", "1", number(0.01, 1000),
        "Client-side budget per tenant for Identity Protection calls (Graph's limit: 1 per second per tenant).",
        "graph")
    # --- Storage
    storage_connection_string: str = setting(
        STORAGE_PREFIX, "", text,
        "Connection string of the data storage account (local/Azurite). In Azure leave it empty and set "
        f"{STORAGE_PREFIX}__blobServiceUri instead.", "storage", secret=True)
    blob_service_uri: str = setting(
        f"{STORAGE_PREFIX}__blobServiceUri", "", https_url(),
        "Blob endpoint of the data storage account, reached with the managed identity.", "storage")
    queue_service_uri: str = setting(
        f"{STORAGE_PREFIX}__queueServiceUri", "", https_url(),
        "Queue endpoint of the data storage account (change notifications), reached with the managed identity.",
        "storage")
    storage_client_id: str = setting(
        f"{STORAGE_PREFIX}__clientId", "", text,
        "Client id of the user-assigned managed identity for storage (empty: system-assigned).", "storage")
    export_container: str = setting(
        "EXPORT_CONTAINER", "graph-export", storage_name,
        "Blob container that receives the exported NDJSON.gz files.", "storage")
    state_container: str = setting(
        "STATE_CONTAINER", "graph-state", storage_name,
        "Blob container for checkpoints, leases and subscription state.", "storage")
    audit_container: str = setting(
        "AUDIT_CONTAINER", "graph-audit", storage_name, "Blob container for the audit trail of actions.", "storage")
    # --- Export
    export_streams: tuple[str, ...] = setting(
        "EXPORT_STREAMS",
        "alerts,incidents,riskDetections,riskyUsers,riskyServicePrincipals,servicePrincipalRiskDetections",
        stream_list,
        "Comma-separated streams to export (names from the stream table). Add userContext, deviceContext and "
        "servicePrincipalContext for the context of the entities the other streams name (docs/context.md).",
        "export")
    export_queue: str = setting(
        "EXPORT_QUEUE", "graph-export-work", storage_name,
        "Storage queue of export work items (one per tenant and API family) that the timers fill and the "
        "export_worker function runs.", "export")
    overlap_minutes: int = setting(
        "EXPORT_OVERLAP_MINUTES", "10", integer(0, 24 * 60),
        "Each run re-reads this far behind its cursor to catch Graph's late-indexed changes.", "export")
    initial_lookback_days: int = setting(
        "EXPORT_INITIAL_LOOKBACK_DAYS", "7", integer(0, 3650), "How far back the first run of a stream starts.",
        "export")
    time_budget_seconds: int = setting(
        "EXPORT_TIME_BUDGET_SECONDS", "270", integer(10, 24 * 3600),
        "A run stops cleanly after this long and the next run resumes (keep it under functionTimeout).", "export")
    incidents_expand_alerts: bool = setting(
        "EXPORT_INCIDENTS_EXPAND_ALERTS", "false", boolean,
        "true to export incidents with their alerts ($expand=alerts; slow and error-prone on large tenants).",
        "export")
    gzip_level: int = setting(
        "EXPORT_GZIP_LEVEL", "6", integer(1, 9), "gzip compression level of export blobs (1 fastest .. 9 smallest).",
        "export")
    export_formats: tuple[str, ...] = setting(
        "EXPORT_FORMATS", "graph", format_list,
        "Comma-separated outputs of the export: graph (Graph's objects as returned; always on), and ocsf to also "
        "write each version as an OCSF event under ocsf/ (docs/ocsf.md).", "export")
    enrich: bool = setting(
        "EXPORT_ENRICH", "false", boolean,
        "true to add bridgeContext (the essentials of the users and devices an alert's evidence names) to each "
        "exported alert, looked up with $batch at low priority; needs User.Read.All and Device.Read.All "
        "(docs/enrichment.md).", "export")
    ocsf_version: str = setting(
        "EXPORT_OCSF_VERSION", "1.8.0", supported_ocsf_version,
        "OCSF schema version of the ocsf output, written to metadata.version: 1.6.0, 1.7.0 or 1.8.0.", "export")
    # --- Actions
    actions_enabled: bool = setting(
        "ACTIONS_ENABLED", "true", boolean,
        "false turns off the write actions (the app then needs only read permissions).", "actions")
    actions_max_bulk_ids: int = setting(
        "ACTIONS_MAX_BULK_IDS", "500", integer(1, 5000), "Most alert ids one bulk request may change.", "actions")
    actions_bulk_time_budget_seconds: int = setting(
        "ACTIONS_BULK_TIME_BUDGET_SECONDS", "100", integer(10, 220),
        "Seconds a bulk or risky-user request may work before it answers, the ids not reached reported as "
        "notAttempted (under the 120 s a Consumption Logic App waits; the Functions front end cuts at 230 s).",
        "actions")
    # --- Change notifications
    webhooks_enabled: bool = setting(
        "WEBHOOKS_ENABLED", "false", boolean, "true to keep Graph change-notification subscriptions alive.",
        "webhooks")
    webhook_base_url: str = setting(
        "WEBHOOK_BASE_URL", "", https_url(allow_loopback_http=True),
        "Public https base URL of this function app, e.g. https://myapp.azurewebsites.net.", "webhooks")
    webhook_function_key: str = setting(
        "WEBHOOK_FUNCTION_KEY", "", text,
        "Function key Graph sends back in the notification URL (Key Vault reference).", "webhooks", secret=True)
    webhook_subscriptions: tuple[DesiredSubscription, ...] = setting(
        "WEBHOOK_SUBSCRIPTIONS", "[]", subscription_list,
        'JSON list of desired subscriptions: [{"resource", "changeType", "streams", "lifetimeMinutes"?}] (see '
        '"Change notifications"); checked when WEBHOOKS_ENABLED=true.', "webhooks", only_when="webhooks_enabled")
    webhook_queue: str = setting(
        "WEBHOOK_QUEUE", "graph-notifications", storage_name, "Storage queue that holds accepted notifications.",
        "webhooks")
    # Accepted, but worth an operator's attention (logged by load_settings).
    warnings: tuple[str, ...] = ()

    @property
    def graph_root(self) -> str:
        return self.graph_endpoint or self.cloud.graph_root

    @property
    def authority_host(self) -> str:
        return self.authority_endpoint or self.cloud.authority_host

    @property
    def graph_scope(self) -> str:
        return f"{self.graph_root}/.default"


# Read by the Functions host (binding expressions, identity-based connections), not by the app's code.
HOST_SETTINGS: tuple[Setting, ...] = (
    Setting(f"{STORAGE_PREFIX}__credential", "managedidentity",
            "Credential type of the identity-based storage connection (the Functions convention).", "storage"),
    Setting("EXPORT_SCHEDULE", "0 */5 * * * *", "NCRONTAB schedule of the export timers (read by the host).",
            "export"),
    Setting("SUBSCRIPTION_UPKEEP_SCHEDULE", "0 0 * * * *",
            "NCRONTAB schedule of the subscription upkeep timer (read by the host).", "webhooks"),
)

_FIELDS: tuple[Field[Any], ...] = tuple(f for f in fields(Settings) if "setting" in f.metadata)
_GROUPS = ("graph", "storage", "export", "actions", "webhooks")
# Every setting, grouped as the documentation shows them: the app's in declaration order, then the host's.
SETTINGS: tuple[Setting, ...] = tuple(
    declared
    for group in _GROUPS
    for declared in (*(f.metadata["setting"] for f in _FIELDS), *HOST_SETTINGS)
    if declared.group == group
)
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting. Raises SettingsError naming each bad setting."""
    source = os.environ if env is None else env
    values: dict[str, Any] = {}
    problems: list[str] = []
    for declared_field in _FIELDS:
        declared: Setting = declared_field.metadata["setting"]
        assert declared.parse is not None
        raw = (source.get(declared.name) or "").strip()
        if declared.only_when and not values.get(declared.only_when):
            raw = ""
        if not raw:
            if declared.required:
                problems.append(f"{declared.name} is missing. {declared.help}")
                continue
            raw = declared.default or ""
        try:
            values[declared_field.name] = declared.parse(raw)
        except ValueError as exc:
            shown = "<hidden>" if declared.secret else repr(raw)
            problems.append(f"{declared.name}={shown} is invalid: {exc}")
    problems.extend(_combination_problems(values))
    if problems:
        raise SettingsError(problems)
    settings = Settings(**values)
    warnings = legacy_subscription_warnings(settings.webhook_subscriptions)
    for warning in warnings:
        log.warning(warning)
    return replace(settings, warnings=warnings)


def _combination_problems(values: Mapping[str, Any]) -> list[str]:
    """What each setting allows alone but not together (checked on the settings that parsed)."""
    problems = []
    if "tenant_ids" in values and "tenant_list_blob" in values:
        if not values["tenant_ids"] and not values["tenant_list_blob"]:
            problems.append("GRAPH_TENANT_IDS is missing: set it to the tenant ids to export, or set "
                            "GRAPH_TENANT_LIST_BLOB to the blob that lists them.")
        if values["tenant_ids"] and values["tenant_list_blob"]:
            problems.append("GRAPH_TENANT_IDS and GRAPH_TENANT_LIST_BLOB are both set: the tenant list comes from "
                            "one of them (empty GRAPH_TENANT_IDS to use the blob).")
    mode = values.get("auth_mode")
    if mode == "managed_identity_federation" and not values.get("federated_identity_client_id"):
        problems.append("GRAPH_FEDERATED_IDENTITY_CLIENT_ID is missing: GRAPH_AUTH_MODE=managed_identity_federation "
                        "needs the client id of the user-assigned managed identity (a system-assigned identity "
                        "cannot be a federated credential).")
    if mode in ("client_secret", "certificate", "workload_identity", "managed_identity_federation") \
            and not values.get("client_id"):
        problems.append(f"GRAPH_CLIENT_ID is missing: GRAPH_AUTH_MODE={mode} needs the app's client id.")
    if mode == "client_secret" and not values.get("client_secret"):
        problems.append("GRAPH_CLIENT_SECRET is missing: GRAPH_AUTH_MODE=client_secret needs it.")
    if mode == "certificate" and not (values.get("client_certificate") or values.get("client_certificate_path")):
        problems.append("GRAPH_CLIENT_CERTIFICATE (or GRAPH_CLIENT_CERTIFICATE_PATH) is missing: "
                        "GRAPH_AUTH_MODE=certificate needs it.")
    if mode == "managed_identity" and len(values.get("tenant_ids", ())) > 1:
        problems.append("GRAPH_TENANT_IDS lists several tenants, but a managed identity gets tokens only for its own "
                        "tenant: use GRAPH_AUTH_MODE=client_secret or certificate with a multi-tenant app "
                        "registration.")
    if "storage_connection_string" in values and "blob_service_uri" in values \
            and not values["storage_connection_string"] and not values["blob_service_uri"]:
        problems.append(f"{STORAGE_PREFIX} is missing: set {STORAGE_PREFIX} to a connection string, or "
                        f"{STORAGE_PREFIX}__blobServiceUri to the account's blob endpoint (managed identity).")
    if values.get("webhooks_enabled"):
        if not values.get("webhook_base_url"):
            problems.append("WEBHOOK_BASE_URL is missing: WEBHOOKS_ENABLED=true needs the app's public URL.")
        if not values.get("webhook_function_key"):
            problems.append("WEBHOOK_FUNCTION_KEY is missing: WEBHOOKS_ENABLED=true needs the function key that "
                            "Graph sends back in the notification URL.")
    return problems


def legacy_subscription_warnings(desired: tuple[DesiredSubscription, ...]) -> tuple[str, ...]:
    """Subscriptions that stay possible but that Graph has retired (docs/graph-notes.md, "Change notifications")."""
    from shared.webhooks.resources import subscribable_for

    warnings = []
    for entry in desired:
        row = subscribable_for(entry.resource)
        if row is not None and row.retired:
            warnings.append(f"WEBHOOK_SUBSCRIPTIONS: {entry.resource!r} {row.retired}")
    return tuple(warnings)
