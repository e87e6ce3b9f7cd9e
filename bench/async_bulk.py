"""Asynchronous bulk update: a bulk resolve of N alerts through the asynchronous request-reply pattern (202,
Location, the queue-triggered worker), against the time Graph's rate budget allows for the same work.

    ./dev bench async_bulk [--alerts 3000] [--scale 40]

The app runs in the dev host (its queue-triggered job worker included) with Azurite and the Graph simulator in this
process. Graph's budget for the security API is 150 requests a minute per app and tenant, each $batch inner request
counting as one; 3,000 updates therefore need at least 20 minutes. To keep the run short, time is scaled: the
simulator throttles at 150 x SCALE requests a minute and the app paces itself at the same rate
(GRAPH_SECURITY_REQUESTS_PER_MINUTE), so the ratio printed, wall time over the budget's minimum time, is the one a
real run would show. Also printed: whether there is one result per id, the $batch calls (target: N / 20 plus
retries), the alert updates inside them (N plus the ones resent after a 429), 429 answers and the time to the 202.
"""

from __future__ import annotations

import argparse
import sys
import time

import requests


def run(alerts: int, scale: float) -> dict[str, float | bool]:
    import function_app
    from local.devhost import DevHost
    from local.graphsim import SimConfig
    from local.stack import LocalStack

    rate = int(150 * scale)
    config = SimConfig(alerts=alerts + 50, throttle=True, throttle_scale=scale, evidence_kb=0.2)
    with LocalStack(config) as stack:
        assert stack.sim is not None
        ids = [a["id"] for a in stack.sim.alerts(stack.sim.tenants[0])][:alerts]
        env = stack.env(AUDIT_CONTAINER="audit-bench", GRAPH_SECURITY_REQUESTS_PER_MINUTE=str(rate))
        with DevHost(function_app.app, env) as host:
            headers = {"x-functions-key": host.key, "Prefer": "respond-async"}
            since = len(stack.sim.request_log)
            started = time.perf_counter()
            response = requests.post(host.url("alerts/bulk-update"), headers=headers, timeout=60,
                                     json={"ids": ids, "changes": {"status": "resolved"}})
            accepted = time.perf_counter() - started
            while response.status_code == 202:
                time.sleep(0.5)
                response = requests.get(response.headers["Location"], headers=headers, timeout=60)
            seconds = time.perf_counter() - started
            log = stack.sim.request_log[since:]
    updates = [r for r in log if r.in_batch and r.method == "PATCH"]
    body = response.json()
    summary = body.get("summary", {})
    answered = [r.get("id") for r in body.get("results", [])]
    return {
        "status": response.status_code, "updated": summary.get("updated", 0), "seconds": seconds,
        # one result per requested id: as many results as ids, and exactly the ids sent
        "one_per_id": len(answered) == len(ids) and sorted(answered) == sorted(ids),
        "accepted": accepted, "budget_seconds": alerts / rate * 60,
        "batches": sum(1 for r in log if r.path.endswith("/$batch") and not r.in_batch),
        "throttled": sum(1 for r in log if r.status == 429),
        # Every update Graph saw beyond one per alert must be the resend of one Graph throttled.
        "updates_sent": len(updates),
        "updates_throttled": sum(1 for r in updates if r.status == 429),
        "batches_throttled": sum(1 for r in log if r.path.endswith("/$batch") and not r.in_batch and r.status == 429),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev bench async_bulk", description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=3000, help="alerts in the bulk resolve")
    parser.add_argument("--scale", type=float, default=40, help="time scale of Graph's budget (1 = real time)")
    args = parser.parse_args(argv)
    print(f"async bulk resolve of {args.alerts} alerts, Graph budget 150 x {args.scale:g} requests/minute...",
          flush=True)
    r = run(args.alerts, args.scale)
    print(f"HTTP {r['status']}: {r['updated']} updated, one result per id: {'yes' if r['one_per_id'] else 'NO'}; "
          f"202 answered in {r['accepted'] * 1000:.0f} ms; "
          f"{r['batches']} $batch calls (target {-(-args.alerts // 20)} plus retries), {r['throttled']} throttled")
    print(f"alert updates inside the $batch calls: {r['updates_sent']} = {args.alerts} + "
          f"{r['updates_sent'] - args.alerts} resent ({r['updates_throttled']} answered 429; "
          f"{r['batches_throttled']} whole $batch calls answered 429)")
    print(f"wall time {r['seconds']:.1f} s against the budget's minimum {r['budget_seconds']:.1f} s: "
          f"{r['seconds'] / r['budget_seconds']:.2f}x (scaled; at real time about "
          f"{r['seconds'] * args.scale / 60:.0f} min for {r['budget_seconds'] * args.scale / 60:.0f} min of budget)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
