"""Route templates as the Functions host (ASP.NET Core) reads them, and overlap between routes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class _Segment:
    literal: str | None = None
    name: str = ""
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: tuple[Callable[[str], bool], ...] = ()

    @property
    def precedence(self) -> int:
        """ASP.NET Core's inbound precedence, lower is more specific: literal, constrained, plain, catch-all."""
        if self.literal is not None:
            return 1
        if self.catch_all:
            return 5
        return 3 if self.constraints else 4


def _constraint(spec: str) -> Callable[[str], bool]:
    name, _, argument = spec.partition("(")
    argument = argument[:-1] if argument.endswith(")") else argument
    name = name.strip().lower()
    if name == "int":
        return lambda s: re.fullmatch(r"-?\d+", s) is not None and -(2**31) <= int(s) < 2**31
    if name == "long":
        return lambda s: re.fullmatch(r"-?\d+", s) is not None and -(2**63) <= int(s) < 2**63
    if name == "bool":
        return lambda s: s.lower() in ("true", "false")
    if name == "guid":
        return lambda s: re.fullmatch(r"\{?[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}\}?", s) is not None
    if name == "alpha":
        return lambda s: re.fullmatch(r"[A-Za-z]+", s) is not None
    if name in ("minlength", "maxlength", "length"):
        numbers = [int(n) for n in argument.split(",")]
        low, high = {
            "minlength": (numbers[0], None), "maxlength": (0, numbers[0]),
            "length": (numbers[0], numbers[-1]),
        }[name]
        return lambda s: len(s) >= low and (high is None or len(s) <= high)
    if name == "regex":
        pattern = re.compile(argument, re.IGNORECASE)  # ASP.NET: IsMatch, not anchored
        return lambda s: pattern.search(s) is not None
    raise ValueError(f"route constraint {spec!r} is not supported by the dev host")


def _split_constraints(text: str) -> list[str]:
    """`id:regex(^a:b$):maxlength(9)` -> ["regex(^a:b$)", "maxlength(9)"] (colons inside parentheses kept)."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


class RouteTemplate:
    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self.segments: list[_Segment] = []
        for raw in self.template.split("/") if self.template else []:
            if raw.startswith("{") and raw.endswith("}"):
                self.segments.append(self._parameter(raw[1:-1]))
            elif "{" in raw or "}" in raw:
                raise ValueError(f"route segment {raw!r} mixes text and parameters: not supported by the dev host")
            else:
                self.segments.append(_Segment(literal=raw))
        for i, segment in enumerate(self.segments[:-1]):
            if segment.catch_all:
                raise ValueError(f"catch-all parameter must be last in route {template!r}")
            if segment.optional and not all(s.optional or s.default is not None for s in self.segments[i + 1:]):
                raise ValueError(f"optional parameter {segment.name!r} must be at the end of route {template!r}")

    @staticmethod
    def _parameter(body: str) -> _Segment:
        body = body.replace("{{", "{").replace("}}", "}")  # braces in a regex constraint are doubled
        catch_all = body.startswith("*")
        body = body.lstrip("*")
        default = None
        if "=" in body:
            body, default = body.split("=", 1)
        optional = body.endswith("?")
        body = body.rstrip("?")
        name, *constraints = _split_constraints(body)
        if not name:
            raise ValueError("route parameter without a name")
        return _Segment(name=name, optional=optional or catch_all, catch_all=catch_all, default=default,
                        constraints=tuple(_constraint(c) for c in constraints))

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(s.precedence for s in self.segments)

    def _lengths(self) -> tuple[int, float]:
        """The fewest and the most path segments this template matches."""
        required = sum(1 for s in self.segments if not (s.optional or s.default is not None or s.catch_all))
        most = float("inf") if any(s.catch_all for s in self.segments) else len(self.segments)
        return required, most

    def may_overlap(self, other: RouteTemplate) -> bool:
        """Whether one path might match both templates (constraints ignored, so "might"): then which function
        serves it depends on the host's route order."""
        low = max(self._lengths()[0], other._lengths()[0])
        high = min(self._lengths()[1], other._lengths()[1])
        if low > high:
            return False
        for mine, theirs in zip(self.segments, other.segments, strict=False):
            if mine.catch_all or theirs.catch_all:
                return True
            both_literal = mine.literal is not None and theirs.literal is not None
            if both_literal and str(mine.literal).lower() != str(theirs.literal).lower():
                return False
        return True

    def match(self, parts: list[str]) -> dict[str, str] | None:
        values: dict[str, str] = {}
        for i, segment in enumerate(self.segments):
            if segment.catch_all:
                rest = "/".join(parts[i:])
                if rest:
                    if not all(check(rest) for check in segment.constraints):
                        return None
                    values[segment.name] = rest
                elif segment.default is not None:
                    values[segment.name] = segment.default
                return values
            if i >= len(parts):
                if segment.default is not None:
                    values[segment.name] = segment.default
                    continue
                if segment.optional:
                    continue
                return None
            part = parts[i]
            if segment.literal is not None:
                if part.lower() != segment.literal.lower():
                    return None
                continue
            if not part or not all(check(part) for check in segment.constraints):
                return None
            values[segment.name] = part
        return values if len(parts) <= len(self.segments) else None
