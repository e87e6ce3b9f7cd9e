"""Work items: what a queue message may hold, and one time budget shared by the streams of an item."""

from __future__ import annotations

import json

import pytest

from shared.export.engine import RunSummary
from shared.export.fanout import BadWorkItem, WorkItem, family_streams, run_item
from shared.graph.families import RateFamily
from shared.settings import load_settings

TENANT = "11111111-2222-4333-8444-555555555555"
ENV = {"GRAPH_TENANT_IDS": TENANT, "BRIDGE_STORAGE": "UseDevelopmentStorage=true",
       "EXPORT_TIME_BUDGET_SECONDS": "100"}


def test_a_work_item_round_trips_and_carries_no_credential():
    item = WorkItem(TENANT, RateFamily.IDENTITY_PROTECTION, ("riskyUsers", "riskDetections"), "t1")
    message = item.to_message()
    assert WorkItem.from_message(message) == item
    assert set(json.loads(message)) == {"v", "tenant", "family", "streams", "tick"}


@pytest.mark.parametrize("body", [
    "not json",
    json.dumps({"v": 2, "tenant": TENANT, "family": "security", "streams": ["alerts"], "tick": "t"}),
    json.dumps({"v": 1, "tenant": "contoso", "family": "security", "streams": ["alerts"], "tick": "t"}),
    json.dumps({"v": 1, "tenant": TENANT, "family": "intune", "streams": ["alerts"], "tick": "t"}),
    json.dumps({"v": 1, "tenant": TENANT, "family": "security", "streams": ["riskyUsers"], "tick": "t"}),
    json.dumps({"v": 1, "tenant": TENANT, "family": "security", "streams": [], "tick": "t"}),
    json.dumps({"v": 1, "tenant": TENANT, "family": "security", "streams": ["alerts"]}),
])
def test_a_message_that_is_not_a_work_item_is_refused_with_the_reason(body):
    with pytest.raises(BadWorkItem):
        WorkItem.from_message(body)


def test_family_streams_follow_the_enabled_streams():
    settings = load_settings({**ENV, "EXPORT_STREAMS": "riskyUsers,alerts"})
    assert family_streams(settings, RateFamily.SECURITY) == ("alerts",)
    assert family_streams(settings, RateFamily.IDENTITY_PROTECTION) == ("riskyUsers",)


class TimedEngine:
    """Stands in for the export engine: each run uses up `cost` seconds of the clock."""

    def __init__(self, costs: dict[str, float]) -> None:
        self.now = 0.0
        self.costs = costs
        self.budgets: dict[str, float] = {}

    def clock(self) -> float:
        return self.now

    def run(self, stream: str, tenant: str, *, time_budget_seconds: float) -> RunSummary:
        self.budgets[stream] = time_budget_seconds
        self.now += min(self.costs[stream], time_budget_seconds)
        return RunSummary(stream=stream, tenant=tenant)


def test_the_streams_of_an_item_share_one_time_budget():
    settings = load_settings(ENV)
    engine = TimedEngine({"riskDetections": 40, "riskyUsers": 50, "riskyServicePrincipals": 30,
                          "servicePrincipalRiskDetections": 1})
    item = WorkItem(TENANT, RateFamily.IDENTITY_PROTECTION, family_streams(settings, RateFamily.IDENTITY_PROTECTION),
                    "t1")
    result = run_item(settings, item, engine, clock=engine.clock)  # type: ignore[arg-type]
    # The third stream gets what is left (10 s) and is cut short; the fourth gets less than 5 s: the next item.
    assert engine.budgets == {"riskDetections": 100, "riskyUsers": 60, "riskyServicePrincipals": 10}
    assert [s.stream for s in result.summaries] == ["riskDetections", "riskyUsers", "riskyServicePrincipals"]
    assert engine.now <= 100
