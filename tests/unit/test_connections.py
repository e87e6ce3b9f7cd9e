"""Queue binding connections resolved as the Functions Storage extension resolves them (local/connections.py)."""

from __future__ import annotations

import pytest

from local.connections import ConnectionSettingError, queue_connection

CLIENT_ID = "4f3c2b1a-0d9e-4c8b-a7f6-e5d4c3b2a190"


def test_a_connection_string_wins_and_azurewebjobs_prefix_is_a_fallback():
    assert queue_connection("BRIDGE_STORAGE", {"BRIDGE_STORAGE": "UseDevelopmentStorage=true",
                                               "BRIDGE_STORAGE__queueServiceUri": "https://a.queue.core.windows.net"},
                            "t").connection_string == "UseDevelopmentStorage=true"
    assert queue_connection("Mine", {"AzureWebJobsMine": "cs"}, "t").connection_string == "cs"
    assert queue_connection(None, {"AzureWebJobsStorage": "default"}, "t").connection_string == "default"


def test_identity_based_connections_as_the_bicep_sets_them():
    settings = {"BRIDGE_STORAGE__queueServiceUri": "https://data1.queue.core.windows.net/",
                "BRIDGE_STORAGE__credential": "managedidentity", "BRIDGE_STORAGE__clientId": CLIENT_ID}
    connection = queue_connection("BRIDGE_STORAGE", settings, "t")
    assert connection.connection_string is None and connection.managed_identity
    assert connection.queue_service_uri == "https://data1.queue.core.windows.net/"
    assert connection.client_id == CLIENT_ID
    assert queue_connection("S", {"S__serviceUri": "https://x.queue.core.windows.net"}, "t").queue_service_uri
    assert queue_connection("S", {"S__accountName": "data1"}, "t").queue_service_uri == \
        "https://data1.queue.core.windows.net"


@pytest.mark.parametrize(("settings", "named"), [
    ({}, "BRIDGE_STORAGE__queueServiceUri"),
    ({"BRIDGE_STORAGE__queueServiceUri": "http://data1.queue.core.windows.net"}, "https"),
    ({"BRIDGE_STORAGE__queueServiceUri": "queue.core.windows.net"}, "https"),
    ({"BRIDGE_STORAGE__queueServiceUri": "https://a.queue.core.windows.net?sv=1"}, "https"),
    ({"BRIDGE_STORAGE__accountName": "Not_An_Account"}, "BRIDGE_STORAGE__accountName"),
    ({"BRIDGE_STORAGE__accountName": "data1", "BRIDGE_STORAGE__credential": "secret"}, "managedidentity"),
    ({"BRIDGE_STORAGE__accountName": "data1", "BRIDGE_STORAGE__clientId": CLIENT_ID}, "__credential"),
    ({"BRIDGE_STORAGE__accountName": "data1", "BRIDGE_STORAGE__credential": "managedidentity",
      "BRIDGE_STORAGE__clientId": "not-a-guid"}, "GUID"),
])
def test_bad_settings_are_refused_by_name(settings, named):
    with pytest.raises(ConnectionSettingError) as caught:
        queue_connection("BRIDGE_STORAGE", settings, "queue trigger of f")
    assert named in str(caught.value) and "queue trigger of f" in str(caught.value)


def test_loopback_http_is_allowed_for_azurite():
    connection = queue_connection("S", {"S__queueServiceUri": "http://127.0.0.1:10001/devstoreaccount1"}, "t")
    assert connection.queue_service_uri == "http://127.0.0.1:10001/devstoreaccount1"
