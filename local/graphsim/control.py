"""The ``/_sim/...`` HTTP control surface, for tests that run the simulator as a separate process.

Dev-only and unauthenticated: the server binds loopback only. Routes:

- ``POST /_sim/alerts/add``      ``{"tenant"?, "count", "same_timestamp"?}``          -> ``{"ids": [...]}``
- ``POST /_sim/alerts/update``   ``{"tenant"?, "ids"? | "count"?, "same_timestamp"?}`` -> ``{"ids": [...]}``
- ``POST /_sim/faults``          knobs as for ``set_faults`` (``"add": true`` to add a rule instead)
- ``POST /_sim/faults/clear``
- ``POST /_sim/throttle/reset``
- ``POST /_sim/tokens/expire``
- ``GET  /_sim/items/{resource}?tenant=``                                           -> ``{"value": [...]}``
- ``GET  /_sim/stats``          token requests, throttled counts, request count
- ``GET  /_sim/subscriptions?tenant=``                 (all tenants without ``tenant``) -> ``{"value": [...]}``
- ``POST /_sim/subscriptions/{id}/expire``
- ``POST /_sim/subscriptions/{id}/lifecycle``  ``{"event"}``
- ``POST /_sim/notify``          ``{"tenant"?, "resource", "changeType"?}``           -> ``{"queued": n}``
- ``GET  /_sim/deliveries``                                                         -> ``{"value": [...]}``
- ``POST /_sim/deliveries/wait`` ``{"timeout"?}``                                    -> ``{"idle": bool}``
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .resources import BY_NAME

if TYPE_CHECKING:
    from .simulator import GraphSimulator


def handle_control(
    sim: GraphSimulator, method: str, parts: list[str], query: dict[str, str], body: bytes
) -> tuple[int, Any]:
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        return 400, {"error": "body is not JSON"}
    if not isinstance(payload, dict):
        return 400, {"error": "body must be a JSON object"}
    route = (method, "/".join(parts))
    if parts[:1] in (["subscriptions"], ["notify"], ["deliveries"]):
        return _notifications(sim, method, parts, query, payload)
    try:
        tenant = payload.pop("tenant", None) or query.get("tenant") or sim.tenants[0]
        if tenant not in sim.tenants:
            return 404, {"error": f"unknown tenant {tenant}"}
        if route == ("POST", "alerts/add"):
            ids = sim.add_alerts(
                tenant, int(payload.get("count", 1)), same_timestamp=bool(payload.get("same_timestamp", False))
            )
            return 200, {"ids": ids}
        if route == ("POST", "alerts/update"):
            ids = sim.update_alerts(
                tenant,
                payload.get("ids"),
                count=payload.get("count"),
                same_timestamp=bool(payload.get("same_timestamp", False)),
            )
            return 200, {"ids": ids}
        if route == ("POST", "faults"):
            if payload.pop("add", False):
                sim.add_faults(**payload)
            else:
                sim.set_faults(**payload)
            return 200, {"ok": True}
        if route == ("POST", "faults/clear"):
            sim.clear_faults()
            return 200, {"ok": True}
        if route == ("POST", "throttle/reset"):
            sim.reset_throttle()
            return 200, {"ok": True}
        if route == ("POST", "tokens/expire"):
            sim.expire_tokens()
            return 200, {"ok": True}
        if method == "GET" and len(parts) == 2 and parts[0] == "items":
            if parts[1] not in BY_NAME:
                return 404, {"error": f"unknown resource {parts[1]}; known: {sorted(BY_NAME)}"}
            return 200, {"value": sim.items(tenant, parts[1])}
        if route == ("GET", "stats"):
            return 200, {
                "token_requests": sim.token_requests,
                "throttled_count": sim.throttled_count,
                "requests": len(sim.request_log),
            }
    except (TypeError, ValueError, KeyError) as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"no control route {method} /_sim/{'/'.join(parts)}"}


def _notifications(
    sim: GraphSimulator, method: str, parts: list[str], query: dict[str, str], payload: dict[str, Any]
) -> tuple[int, Any]:
    """Subscription and delivery routes. Unlike the others, ``tenant`` is optional on reads (all tenants)."""
    tenant = payload.pop("tenant", None) or query.get("tenant")
    if tenant is not None and tenant not in sim.tenants:
        return 404, {"error": f"unknown tenant {tenant}"}
    try:
        if (method, parts) == ("GET", ["subscriptions"]):
            return 200, {"value": sim.subscriptions(tenant)}
        if method == "POST" and len(parts) == 3 and parts[0] == "subscriptions" and parts[2] in ("expire", "lifecycle"):
            if parts[2] == "expire":
                sim.expire_subscription(parts[1])
            else:
                sim.send_lifecycle(parts[1], str(payload.get("event", "")))
            return 200, {"ok": True}
        if (method, parts) == ("POST", ["notify"]):
            resource = payload.get("resource")
            if not isinstance(resource, str):
                return 400, {"error": "'resource' is required"}
            queued = sim.notify(tenant or sim.tenants[0], resource, str(payload.get("changeType", "updated")))
            return 200, {"queued": queued}
        if (method, parts) == ("GET", ["deliveries"]):
            return 200, {"value": [asdict(r) for r in sim.deliveries]}
        if (method, parts) == ("POST", ["deliveries", "wait"]):
            return 200, {"idle": sim.wait_for_deliveries(float(payload.get("timeout", 10.0)))}
    except KeyError as exc:
        return 404, {"error": str(exc.args[0]) if exc.args else "not found"}
    except (TypeError, ValueError) as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"no control route {method} /_sim/{'/'.join(parts)}"}
