"""What the dev host reads from the app itself: its HTTP routes and its other triggers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from local.devhost.routes import RouteTemplate


@dataclass
class HttpRoute:
    function_name: str
    template: RouteTemplate
    methods: frozenset[str] | None  # None: every method
    auth_level: str  # anonymous | function | admin
    trigger_name: str
    user_function: Callable[..., Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)  # OUT bindings other than $return
    inputs: list[dict[str, Any]] = field(default_factory=list)  # other IN bindings (not supported)


def app_functions(app: func.FunctionApp) -> list[Any]:
    """`app.get_functions()` without tripping its "not a unique function name" check on a second call."""
    saved = getattr(app, "functions_bindings", None)
    app.functions_bindings = None
    try:
        return app.get_functions()
    finally:
        app.functions_bindings = saved


def http_routes(app: func.FunctionApp) -> list[HttpRoute]:
    """The app's HTTP-triggered functions, most specific route first."""
    routes = []
    for function in app_functions(app):
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next((b for b in bindings if b.get("type") == "httpTrigger"), None)
        if trigger is None:
            continue
        methods = trigger.get("methods")
        outputs = [b for b in bindings if b.get("direction", "").upper() == "OUT" and b.get("name") != "$return"]
        inputs = [b for b in bindings if b.get("direction", "").upper() == "IN" and b is not trigger]
        routes.append(HttpRoute(
            function_name=function.get_function_name(),
            template=RouteTemplate(trigger.get("route") or function.get_function_name()),
            methods=frozenset(m.upper() for m in methods) if methods else None,
            auth_level=str(trigger.get("authLevel", "FUNCTION")).lower(),
            trigger_name=trigger["name"],
            user_function=function.get_user_function(),
            outputs=outputs,
            inputs=inputs,
        ))
    routes.sort(key=lambda r: r.template.precedence)
    return routes


@dataclass
class TriggerFunction:
    """A function with a trigger other than HTTP (queue, timer, ...)."""

    function_name: str
    trigger: dict[str, Any]  # the trigger binding as function.json has it
    user_function: Callable[..., Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)  # OUT bindings other than $return
    return_binding: dict[str, Any] | None = None  # an OUT binding named $return: gets the return value
    inputs: list[dict[str, Any]] = field(default_factory=list)  # other IN bindings (not supported)

    @property
    def trigger_type(self) -> str:
        return str(self.trigger.get("type"))

    @property
    def trigger_name(self) -> str:
        return str(self.trigger["name"])


def trigger_functions(app: func.FunctionApp) -> list[TriggerFunction]:
    """The app's functions whose trigger is not HTTP."""
    functions = []
    for function in app_functions(app):
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
        if trigger is None or trigger.get("type") == "httpTrigger":
            continue
        outs = [b for b in bindings if b.get("direction", "").upper() == "OUT"]
        functions.append(TriggerFunction(
            function_name=function.get_function_name(),
            trigger=trigger,
            user_function=function.get_user_function(),
            outputs=[b for b in outs if b.get("name") != "$return"],
            return_binding=next((b for b in outs if b.get("name") == "$return"), None),
            inputs=[b for b in bindings if b.get("direction", "").upper() == "IN" and b is not trigger],
        ))
    return functions


def overlapping_routes(routes: list[HttpRoute]) -> list[tuple[HttpRoute, HttpRoute]]:
    """Pairs of routes that might both serve one request (same method, templates that may match one path).

    The dev host picks the most specific template (ASP.NET Core's precedence); whether the Functions host does the
    same or takes the first match in registration order could not be checked here, so an app should have no such
    pair: then the order cannot matter. The dev host warns about each one at start."""
    pairs = []
    for i, first in enumerate(routes):
        for second in routes[i + 1:]:
            shared = (first.methods is None or second.methods is None or first.methods & second.methods)
            if shared and first.template.may_overlap(second.template):
                pairs.append((first, second))
    return pairs
