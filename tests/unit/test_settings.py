import json

import pytest

from shared.settings import SETTINGS, SettingsError, load_settings

TENANT = "11111111-1111-4111-8111-111111111111"
BASE = {"GRAPH_TENANT_IDS": TENANT, "BRIDGE_STORAGE": "UseDevelopmentStorage=true"}


def load(**overrides):
    return load_settings({**BASE, **overrides})


def problems_of(env):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    return caught.value.problems


def test_defaults_are_the_documented_ones():
    settings = load()
    assert settings.cloud.name == "Global"
    assert settings.graph_root == "https://graph.microsoft.com"
    assert settings.authority_host == "https://login.microsoftonline.com"
    assert settings.graph_scope == "https://graph.microsoft.com/.default"
    assert settings.tenant_ids == (TENANT,)
    assert settings.auth_mode == "managed_identity"
    assert settings.export_streams[0] == "alerts" and len(settings.export_streams) == 6
    assert settings.overlap_minutes == 10 and settings.initial_lookback_days == 7


@pytest.mark.parametrize(
    ("cloud", "graph", "authority"),
    [
        ("USGov", "https://graph.microsoft.us", "https://login.microsoftonline.us"),
        ("usgovdod", "https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
        ("GLOBAL", "https://graph.microsoft.com", "https://login.microsoftonline.com"),
    ],
)
def test_national_clouds_come_from_one_table(cloud, graph, authority):
    settings = load(GRAPH_CLOUD=cloud)
    assert (settings.graph_root, settings.authority_host) == (graph, authority)
    assert settings.graph_scope == f"{graph}/.default"


def test_missing_tenant_names_the_setting():
    problems = problems_of({"BRIDGE_STORAGE": "x"})
    assert any(p.startswith("GRAPH_TENANT_IDS is missing") for p in problems)


def test_unknown_cloud_names_the_setting():
    problems = problems_of({**BASE, "GRAPH_CLOUD": "Mars"})
    assert problems == ["GRAPH_CLOUD='Mars' is invalid: not a known cloud: use Global, USGov or USGovDoD"]


def test_china_is_refused_with_the_reason():
    (problem,) = problems_of({**BASE, "GRAPH_CLOUD": "China"})
    assert problem.startswith("GRAPH_CLOUD='China' is invalid") and "does not offer" in problem


@pytest.mark.parametrize("url", ["http://graph.example", "graph.microsoft.com", "https://", "https://x/?a=b"])
def test_malformed_url_names_the_setting(url):
    (problem,) = problems_of({**BASE, "GRAPH_ENDPOINT": url})
    assert problem.startswith("GRAPH_ENDPOINT=") and "https://" in problem


def test_every_problem_is_reported_at_once_and_secrets_are_not_echoed():
    problems = problems_of({
        "GRAPH_TENANT_IDS": "not-a-guid",
        "GRAPH_AUTH_MODE": "client_secret",
        "GRAPH_CLIENT_ID": "00000000-0000-4000-8000-000000000001",
        "GRAPH_TIMEOUT_SECONDS": "soon",
        "EXPORT_STREAMS": "alerts,nope",
        "EXPORT_CONTAINER": "Bad_Name",
    })
    text = "\n".join(problems)
    for name in ("GRAPH_TENANT_IDS", "GRAPH_CLIENT_SECRET is missing", "GRAPH_TIMEOUT_SECONDS", "EXPORT_STREAMS",
                 "EXPORT_CONTAINER", "BRIDGE_STORAGE is missing"):
        assert name in text
    assert "unknown stream(s) nope" in text


def test_secret_values_never_appear_in_errors_or_repr():
    secret = "super-secret-value-123"
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, "BRIDGE_STORAGE": secret, "GRAPH_CLIENT_SECRET": secret, "GRAPH_TIMEOUT_SECONDS": "x"})
    assert secret not in str(caught.value)
    settings = load(GRAPH_AUTH_MODE="client_secret", GRAPH_CLIENT_ID="00000000-0000-4000-8000-000000000001",
                    GRAPH_CLIENT_SECRET=secret)
    assert secret not in repr(settings)


def test_managed_identity_cannot_span_tenants():
    other = "22222222-2222-4222-8222-222222222222"
    (problem,) = problems_of({**BASE, "GRAPH_TENANT_IDS": f"{TENANT},{other}"})
    assert "managed identity" in problem
    settings = load(GRAPH_TENANT_IDS=f"{TENANT}, {other.upper()}", GRAPH_AUTH_MODE="client_secret",
                    GRAPH_CLIENT_ID="00000000-0000-4000-8000-000000000001", GRAPH_CLIENT_SECRET="s")
    assert settings.tenant_ids == (TENANT, other)


def test_identity_based_storage_is_enough_without_a_connection_string():
    settings = load_settings({"GRAPH_TENANT_IDS": TENANT,
                              "BRIDGE_STORAGE__blobServiceUri": "https://acct.blob.core.windows.net"})
    assert settings.blob_service_uri == "https://acct.blob.core.windows.net"
    assert settings.storage_connection_string == ""


def test_stream_names_are_case_insensitive_and_canonical():
    assert load(EXPORT_STREAMS="RiskyUsers, alerts").export_streams == ("riskyUsers", "alerts")


def test_a_subscription_on_the_retired_legacy_alerts_api_is_accepted_with_a_warning(caplog):
    on = {"WEBHOOKS_ENABLED": "true", "WEBHOOK_BASE_URL": "https://app.example", "WEBHOOK_FUNCTION_KEY": "k"}
    legacy = json.dumps([{"resource": "security/alerts?$filter=status eq 'newAlert'", "streams": ["alerts"]},
                         {"resource": "users", "changeType": "updated", "streams": ["riskyUsers"]}])
    with caplog.at_level("WARNING", logger="graph_security_bridge.settings"):
        settings = load(WEBHOOK_SUBSCRIPTIONS=legacy, **on)
    assert len(settings.webhook_subscriptions) == 2
    (warning,) = settings.warnings
    assert "security/alerts" in warning and "retired" in warning
    assert [r.getMessage() for r in caplog.records] == [warning]
    assert load(WEBHOOK_SUBSCRIPTIONS=json.dumps([{"resource": "users", "changeType": "updated",
                                                    "streams": ["riskyUsers"]}]), **on).warnings == ()


def test_webhook_subscriptions_are_validated():
    on = {"WEBHOOKS_ENABLED": "true", "WEBHOOK_BASE_URL": "https://app.example", "WEBHOOK_FUNCTION_KEY": "k"}
    good = json.dumps([{"resource": "security/alerts?$filter=status eq 'newAlert'", "changeType": "created,updated",
                        "streams": ["alerts"]}])
    (desired,) = load(WEBHOOK_SUBSCRIPTIONS=good, **on).webhook_subscriptions
    assert desired.streams == ("alerts",) and desired.change_type == "created,updated"
    assert desired.lifetime_minutes == 43_200  # the legacy alert's maximum (docs/graph-notes.md)
    (problem,) = problems_of({**BASE, **on, "WEBHOOK_SUBSCRIPTIONS": "[{"})
    assert problem.startswith("WEBHOOK_SUBSCRIPTIONS=") and "not valid JSON" in problem
    (problem,) = problems_of({**BASE, **on, "WEBHOOK_SUBSCRIPTIONS": '[{"resource": "users", "streams": ["nope"]}]'})
    assert "unknown stream" in problem
    # With webhooks off, a draft list does not stop the app (and nothing is subscribed).
    assert load(WEBHOOK_SUBSCRIPTIONS="[{").webhook_subscriptions == ()


ON = {"WEBHOOKS_ENABLED": "true", "WEBHOOK_BASE_URL": "https://app.example", "WEBHOOK_FUNCTION_KEY": "k"}


@pytest.mark.parametrize(("entry", "message"), [
    ({"resource": "security/alerts_v2", "streams": ["alerts"]}, "alerts_v2, incidents and Identity Protection"),
    ({"resource": "security/alerts", "streams": ["alerts"]}, "refuses the whole collection"),
    ({"resource": "users", "changeType": "created", "streams": ["riskyUsers"]}, "updated, deleted"),
    ({"resource": "users", "streams": []}, "non-empty list"),
    ({"resource": "users", "streams": ["riskyUsers"], "lifetime": 5}, "unknown field"),
    ({"resource": "users", "streams": ["riskyUsers"], "lifetimeMinutes": 60}, "at least 180"),
])
def test_webhook_subscription_entries_are_checked_against_what_graph_supports(entry, message):
    (problem,) = problems_of({**BASE, **ON, "WEBHOOK_SUBSCRIPTIONS": json.dumps([entry])})
    assert problem.startswith("WEBHOOK_SUBSCRIPTIONS=") and message in problem


def test_a_resource_graph_adds_later_is_one_entry_with_its_lifetime():
    entry = {"resource": "security/newThing?$filter=x", "streams": ["alerts"], "lifetimeMinutes": 4230}
    (desired,) = load(WEBHOOK_SUBSCRIPTIONS=json.dumps([entry]), **ON).webhook_subscriptions
    assert desired.lifetime_minutes == 4230 and desired.change_type == "updated"
    longer = {"resource": "users", "streams": ["riskyUsers"], "lifetimeMinutes": 100_000}
    assert load(WEBHOOK_SUBSCRIPTIONS=json.dumps([longer]), **ON).webhook_subscriptions[0].lifetime_minutes == 41_760


def test_webhooks_on_need_the_public_url_and_the_function_key():
    problems = problems_of({**BASE, "WEBHOOKS_ENABLED": "true"})
    assert any(p.startswith("WEBHOOK_BASE_URL") for p in problems)
    assert any(p.startswith("WEBHOOK_FUNCTION_KEY") for p in problems)


def test_table_has_unique_names_and_help():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.help.strip() for s in SETTINGS)


def test_export_formats_default_to_graph_alone_and_accept_ocsf():
    assert load().export_formats == ("graph",)
    settings = load(EXPORT_FORMATS=" graph , OCSF ")
    assert settings.export_formats == ("graph", "ocsf") and settings.ocsf_version == "1.8.0"
    assert load(EXPORT_OCSF_VERSION="1.7.0").ocsf_version == "1.7.0"


@pytest.mark.parametrize(("value", "says"), [
    ("graph,parquet", "EXPORT_FORMATS='graph,parquet' is invalid: unknown format(s) parquet; known: graph, ocsf"),
    ("ocsf", "EXPORT_FORMATS='ocsf' is invalid: graph must be listed"),
])
def test_bad_export_formats_name_the_setting(value, says):
    (problem,) = problems_of({**BASE, "EXPORT_FORMATS": value})
    assert problem.startswith(says)


def test_unsupported_ocsf_version_names_the_setting_and_the_choices():
    (problem,) = problems_of({**BASE, "EXPORT_FORMATS": "graph,ocsf", "EXPORT_OCSF_VERSION": "1.2.0"})
    assert problem.startswith("EXPORT_OCSF_VERSION='1.2.0' is invalid: expected one of 1.6.0, 1.7.0, 1.8.0")


def test_each_setting_is_declared_once_and_its_default_parses():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    for declared in SETTINGS:
        if declared.parse is not None and declared.default is not None:
            declared.parse(declared.default)  # raises if a default breaks its own rule


def test_a_setting_of_a_feature_that_is_off_is_not_checked():
    assert load(WEBHOOK_SUBSCRIPTIONS="not json").webhook_subscriptions == ()
    (problem,) = problems_of({**BASE, "WEBHOOK_SUBSCRIPTIONS": "not json", "WEBHOOKS_ENABLED": "true",
                              "WEBHOOK_BASE_URL": "https://app.example", "WEBHOOK_FUNCTION_KEY": "k"})
    assert problem.startswith("WEBHOOK_SUBSCRIPTIONS='not json' is invalid: not valid JSON")
