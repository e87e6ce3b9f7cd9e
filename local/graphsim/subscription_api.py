"""The ``/v1.0/subscriptions`` routes (docs/graph-notes.md).

- ``POST /subscriptions``: validate the body, check quotas, run the validation handshake on ``notificationUrl`` (and
  ``lifecycleNotificationUrl``), then create (201). Any failure creates nothing.
- ``GET /subscriptions``, ``GET|PATCH|DELETE /subscriptions/{id}``, ``POST /subscriptions/{id}/reauthorize``.

Subscriptions are scoped to the token's app and tenant: another app's subscriptions are invisible (404).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .config import SimConfig
from .errors import GraphError
from .handlers import GraphRequest, GraphResponse, require_method
from .notifier import Notifier
from .subscriptions import (
    Subscription,
    SubscriptionStore,
    check_client_state,
    check_tls_version,
    check_url,
    invalid,
    parse_change_types,
    parse_expiration,
    parse_resource,
)
from .ticks import now_ticks

_VALIDATION_FAILED = "Subscription validation request failed."
# Properties a PATCH may not change (sending the current value is harmless).
_FIXED = ("resource", "changeType", "clientState", "latestSupportedTlsVersion", "includeResourceData")


def _object(req: GraphRequest) -> dict[str, Any]:
    body = req.json_body()
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def _json(status: int, value: object) -> GraphResponse:
    return GraphResponse(status, json.dumps(value, ensure_ascii=False).encode())


class SubscriptionApi:
    def __init__(self, store: SubscriptionStore, notifier: Notifier, config: SimConfig):
        self.store = store
        self.notifier = notifier
        self.config = config

    def route(self, req: GraphRequest, rest: list[str]) -> GraphResponse:
        """``rest`` is the path below ``subscriptions``. No throttling family: Graph documents none for it."""
        if not rest:
            require_method(req, "GET", "POST")
            return self._create(req) if req.method == "POST" else self._list(req)
        if len(rest) == 1:
            require_method(req, "GET", "PATCH", "DELETE")
            if req.method == "PATCH":
                return self._patch(req, rest[0])
            if req.method == "DELETE":
                return self._delete(req, rest[0])
            sub = self.store.require(rest[0], req.token.tenant, req.token.client_id)
            return _json(200, sub.to_graph(req.base_url, req.version))
        if len(rest) == 2 and rest[1].lower() == "reauthorize":
            require_method(req, "POST")
            return self._reauthorize(req, rest[0])
        raise GraphError(404, f"Resource not found for the segment '{rest[-1]}'.", "NotFound")

    # --- handshake --------------------------------------------------------------------------------------------------

    def handshake(self, url: str, subscription_id: str, name: str) -> None:
        """Graph's reachability check (reference 6.3); 400 ValidationError when the endpoint fails it."""
        token = (
            f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
            + self.config.validation_token_suffix
        )
        problem = self.notifier.validate(url, token, subscription_id)
        if problem is not None:
            raise GraphError(400, f"{_VALIDATION_FAILED} {name}: {problem}", "ValidationError")

    # --- operations -------------------------------------------------------------------------------------------------

    def _list(self, req: GraphRequest) -> GraphResponse:
        subs = self.store.select(req.token.tenant, req.token.client_id)
        context = f"{req.base_url}/{req.version}/$metadata#subscriptions"
        value = [s.to_graph(req.base_url, req.version) for s in subs]
        for item in value:
            del item["@odata.context"]
        return _json(200, {"@odata.context": context, "value": value})

    def _create(self, req: GraphRequest) -> GraphResponse:
        body = _object(req)
        resource = body.get("resource")
        if not isinstance(resource, str) or not resource.strip():
            raise invalid("The property 'resource' is required.")
        target = parse_resource(resource)
        change_types = parse_change_types(body.get("changeType"), target)
        notification_url = check_url(body.get("notificationUrl"), "notificationUrl")
        lifecycle_url = body.get("lifecycleNotificationUrl")
        if lifecycle_url is not None:
            lifecycle_url = check_url(lifecycle_url, "lifecycleNotificationUrl")
        expires = parse_expiration(body.get("expirationDateTime"), target)
        client_state = check_client_state(body.get("clientState"))
        tls_version = check_tls_version(body.get("latestSupportedTlsVersion"))
        if body.get("includeResourceData"):
            raise invalid("Rich notifications (includeResourceData) are not supported for this resource.")
        tenant, app = req.token.tenant, req.token.client_id
        self.store.check_quota(tenant, app)  # before the handshake: a full quota needs no round trip
        sub_id = str(uuid.uuid4())
        self.handshake(notification_url, sub_id, "notificationUrl")
        if lifecycle_url is not None:
            self.handshake(lifecycle_url, sub_id, "lifecycleNotificationUrl")
        sub = Subscription(
            id=sub_id,
            tenant=tenant,
            application_id=app,
            creator_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"graphsim:sp:{tenant}:{app}")),  # the app's SP object id
            resource=resource,
            target=target,
            change_types=change_types,
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            expires=expires,
            client_state=client_state,
            tls_version=tls_version,
            created=now_ticks(),
        )
        self.store.add(sub)
        return _json(201, sub.to_graph(req.base_url, req.version))

    def _patch(self, req: GraphRequest, sub_id: str) -> GraphResponse:
        tenant, app = req.token.tenant, req.token.client_id
        sub = self.store.require(sub_id, tenant, app)
        body = _object(req)
        current = sub.to_graph(req.base_url)
        for name in _FIXED:
            if name in body and body[name] != current[name]:
                raise invalid(f"The property '{name}' of a subscription cannot be updated.")
        if "lifecycleNotificationUrl" in body and body["lifecycleNotificationUrl"] != sub.lifecycle_url:
            raise invalid(
                "The lifecycleNotificationUrl cannot be added or changed on an existing subscription; "
                "delete the subscription and create a new one."
            )
        if "expirationDateTime" not in body and "notificationUrl" not in body:
            raise invalid("Nothing to update: send expirationDateTime or notificationUrl.")
        expires = parse_expiration(body["expirationDateTime"], sub.target) if "expirationDateTime" in body else None
        new_url = None
        if "notificationUrl" in body and body["notificationUrl"] != sub.notification_url:
            new_url = check_url(body["notificationUrl"], "notificationUrl")
            self.handshake(new_url, sub.id, "notificationUrl")
        with self.store.lock:
            sub = self.store.require(sub_id, tenant, app)  # it may have expired or gone during the handshake
            if expires is not None:
                sub.expires = expires
                sub.renewals += 1
                sub.needs_reauthorization = False  # renewing also reauthorizes (reference 6.2)
            if new_url is not None:
                sub.notification_url = new_url
            answer = sub.to_graph(req.base_url, req.version)
        return _json(200, answer)

    def _delete(self, req: GraphRequest, sub_id: str) -> GraphResponse:
        with self.store.lock:
            self.store.require(sub_id, req.token.tenant, req.token.client_id)
            self.store.remove(sub_id)
        return GraphResponse(204)

    def _reauthorize(self, req: GraphRequest, sub_id: str) -> GraphResponse:
        with self.store.lock:
            sub = self.store.require(sub_id, req.token.tenant, req.token.client_id)
            sub.needs_reauthorization = False
            sub.reauthorizations += 1
        return GraphResponse(204)
