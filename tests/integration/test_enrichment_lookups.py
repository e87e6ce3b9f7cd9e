"""The enrichment's bulk lookups against the simulator's directory over loopback, through the real Graph client and
`$batch`: the simulator takes up to 15 values per filter and refuses a 16th as Graph does; the client reads an
answer as proof of absence only when it is complete, matches keys whatever their case, quotes values, and falls
back to one lookup per entity where the directory refuses the multi-value filter."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from local.graphsim.directory import directory_of
from shared.context.bulk_lookups import DEVICE_FIELDS, KINDS, USER_FIELDS, bulk_url
from shared.context.enrichment import NOT_FOUND, ContextCache, Enricher, entity_keys
from shared.graph.client import GraphClient
from shared.graph.families import RateFamily

USER_EVIDENCE = "#microsoft.graph.security.userEvidence"
DEVICE_EVIDENCE = "#microsoft.graph.security.deviceEvidence"


def directory(sim):
    return directory_of(sim._tenant(sim.tenants[0]))


def ask(client: GraphClient, *urls: str) -> list[dict[str, Any]]:
    return client.batch([{"id": str(i), "method": "GET", "url": url} for i, url in enumerate(urls)],
                        family=RateFamily.DIRECTORY)


def alert_naming(users: Sequence[str] = (), devices: Sequence[str] = ()) -> dict[str, Any]:
    evidence = [{"@odata.type": USER_EVIDENCE, "userAccount": {"azureAdUserId": u}} for u in users]
    evidence += [{"@odata.type": DEVICE_EVIDENCE, "azureAdDeviceId": d} for d in devices]
    return {"id": str(uuid.uuid4()), "evidence": evidence}


def absent_ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def test_the_simulator_answers_up_to_15_values_and_refuses_a_16th_as_graph_does(make_sim, app_settings):
    sim = make_sim(alerts=50, seed=41)
    client = GraphClient(app_settings(sim), sim.tenants[0])
    users, devices = sorted(directory(sim).users)[:14], sorted(directory(sim).devices)[:16]
    user_kind, device_kind = KINDS["user"], KINDS["device"]
    fifteen_users = [users[0].upper(), *users[1:], absent_ids(1)[0]]  # one upper-cased, one unknown
    answers = ask(client, bulk_url(user_kind, fifteen_users), bulk_url(device_kind, devices[:15]))
    assert [a["status"] for a in answers] == [200, 200]
    assert sorted(u["id"] for u in answers[0]["body"]["value"]) == users  # the unknown one simply absent
    assert all(set(u) == set(USER_FIELDS) for u in answers[0]["body"]["value"])
    assert sorted(d["deviceId"] for d in answers[1]["body"]["value"]) == devices[:15]
    assert all(set(d) <= set(DEVICE_FIELDS) for d in answers[1]["body"]["value"])
    assert "@odata.nextLink" not in answers[0]["body"] and "@odata.nextLink" not in answers[1]["body"]

    sixteen = [f"/users?$filter=id in ({','.join(repr(u) for u in [*users, *absent_ids(2)])})&$select=id",
               "/devices?$filter=" + " or ".join(f"deviceId eq '{d}'" for d in devices) + "&$select=id"]
    for answer in ask(client, *sixteen):
        assert answer["status"] == 400
        assert answer["body"]["error"]["code"] == "Request_UnsupportedQuery"
        assert answer["body"]["error"]["message"] == ("Too many child clauses specified in search filter expression "
                                                      "containing 'OR' operators: 16. Max allowed: 15.")


def test_the_simulator_reads_quoted_values_and_refuses_a_filter_of_another_shape(make_sim, app_settings):
    sim = make_sim(alerts=50, seed=43)
    client = GraphClient(app_settings(sim), sim.tenants[0])
    user = sorted(directory(sim).users)[0]
    quoted, unquoted, other = ask(
        client, bulk_url(KINDS["user"], [user, "o'brien"]),
        f"/users?$filter=id in ('{user}','o'brien')&$select=id",  # a quote not doubled: not a literal list
        "/users?$filter=startswith(displayName,'a')")
    assert quoted["status"] == 200 and [u["id"] for u in quoted["body"]["value"]] == [user]
    assert unquoted["status"] == other["status"] == 400


def test_a_paged_answer_proves_no_absence_and_what_it_did_not_prove_is_asked_again(make_sim, app_settings):
    sim = make_sim(alerts=50, seed=47, directory_page_size=5)
    cache = ContextCache()
    client = GraphClient(app_settings(sim), sim.tenants[0])
    known, unknown = sorted(directory(sim).users)[:10], absent_ids(5)
    alert = alert_naming(users=[*known, *unknown])
    first = Enricher(client, sim.tenants[0], cache)
    context = first.enrich([alert])[0]["bridgeContext"]
    # 15 users in one request; the directory pages past 5: 5 found, the 10 others not proven either way.
    assert first.stats.lookups == 1 and len(context["users"]) == 5 and len(context["missing"]["users"]) == 10
    assert first.stats.failed == 10 and first.stats.not_found == 0
    assert any("@odata.nextLink" in error for error in first.stats.errors)
    unproven = context["missing"]["users"]
    assert all(cache.get(sim.tenants[0], "user", key) is None for key in unproven)  # not cached, neither way
    # The simulator's nextLink is a real one: following it gives the rest.
    answer = ask(client, bulk_url(KINDS["user"], known))[0]["body"]
    rest = client.get(answer["@odata.nextLink"])
    assert "@odata.nextLink" not in rest and sorted(u["id"] for u in answer["value"] + rest["value"]) == known

    sim.config.directory_page_size = 100  # the same tenant, a directory that answers in one page
    second = Enricher(client, sim.tenants[0], cache)
    context = second.enrich([alert])[0]["bridgeContext"]
    assert second.stats.cache_hits == 5 and second.stats.lookups == 1  # only the unproven 10 are asked again
    assert sorted(u["id"] for u in context["users"]) == known and context["missing"]["users"] == unknown
    assert second.stats.not_found == 5 and second.stats.failed == 0
    assert all(cache.get(sim.tenants[0], "user", key) is NOT_FOUND for key in unknown)


def test_a_directory_that_refuses_the_multi_value_filter_gets_one_lookup_per_entity(make_sim, app_settings):
    sim = make_sim(alerts=50, seed=53, directory_filter_values=1)  # a tenant that takes one value per filter
    client = GraphClient(app_settings(sim), sim.tenants[0])
    users = [*sorted(directory(sim).users)[:20], *absent_ids(3)]
    devices = [*sorted(directory(sim).devices)[:14], *absent_ids(2)]
    alerts = [alert_naming(users[:12], devices[:9]), alert_naming(users[12:], devices[9:])]
    enricher = Enricher(client, sim.tenants[0], ContextCache())
    enriched = enricher.enrich(alerts)
    for alert in enriched:
        alert_users, alert_devices = entity_keys(alert)
        context = alert["bridgeContext"]
        assert [u["id"] for u in context["users"]] == [u for u in alert_users if u in directory(sim).users]
        assert [d["deviceId"] for d in context["devices"]] == [d for d in alert_devices if d in directory(sim).devices]
    stats = enricher.stats
    # users: chunks of 15 and 8, devices: one of 15 and one of 1 (a single value passes): 38 entities one by one.
    assert stats.one_by_one == 15 + 8 + 15 and stats.failed == 0 and stats.not_found == 5
    assert stats.lookups == 4 + stats.one_by_one
    assert [e for e in stats.errors if "one by one" in e] == [
        "directory refused the multi-value filter (400 Request_UnsupportedQuery): "
        "its entities were looked up one by one"]
    enricher.enrich([alert_naming(absent_ids(16))])  # a later page, refused again: still said once
    assert stats.one_by_one == 38 + 15 and len([e for e in stats.errors if "one by one" in e]) == 1



def test_a_missing_permission_fails_that_kind_only_and_names_the_permission(make_sim, app_settings):
    sim = make_sim(alerts=50, seed=59, denied_permissions=("User.Read.All",))
    client = GraphClient(app_settings(sim), sim.tenants[0])
    users, devices = sorted(directory(sim).users)[:17], sorted(directory(sim).devices)[:4]
    cache = ContextCache()
    enricher = Enricher(client, sim.tenants[0], cache)
    context = enricher.enrich([alert_naming(users, devices)])[0]["bridgeContext"]
    assert context["users"] == [] and context["missing"] == {"users": users, "devices": []}
    assert [d["deviceId"] for d in context["devices"]] == devices
    assert enricher.stats.failed == 17 and enricher.stats.lookups == 3 and enricher.stats.one_by_one == 0
    assert any("403" in e and "User.Read.All" in e for e in enricher.stats.errors), enricher.stats.errors
    assert all(cache.get(sim.tenants[0], "user", key) is None for key in users)  # asked again once granted
