"""Checks every part of an action request before any Graph call: content type, size, JSON shape, unknown fields,
ids, enum values, classification/determination pairs, lengths, the tenant and the Idempotency-Key header.

Each check raises a Problem (4xx) whose detail a Logic App author can act on: it names the field, what was wrong and
what is allowed. Field errors of one body are collected and reported together.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.actions import vocabulary as v
from shared.problems import Problem

ALERT_FIELDS: tuple[str, ...] = ("status", "assignedTo", "classification", "determination")
INCIDENT_FIELDS: tuple[str, ...] = (*ALERT_FIELDS, "customTags")


@dataclass(frozen=True)
class HttpCall:
    """An HTTP request as the action code sees it: independent of azure.functions, so shared/ stays importable
    without it and unit tests need no host. `headers` has lower-case names."""

    method: str
    url: str
    route_params: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def shown(value: object, limit: int = 60) -> str:
    """A value quoted for an error message: control characters escaped, long values cut."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text if len(text) <= limit else text[:limit] + "..."
    return json.dumps(text, ensure_ascii=True)


def _has_control(text: str, *, allow_newlines: bool = False) -> bool:
    for char in text:
        if allow_newlines and char in "\n\r\t":
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return True
    return False


# --- ids


def entity_id(value: object, what: str) -> str:
    """An alert or incident id from the route, checked against Graph's id shape."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > v.MAX_ENTITY_ID_CHARS
        or not v.ENTITY_ID_RE.fullmatch(value)
    ):
        raise Problem(
            400, f"Invalid {what} id",
            f"{shown(value)} is not a valid {what} id: an id is 1 to {v.MAX_ENTITY_ID_CHARS} letters, digits and "
            "the characters _ : = + @ ~ - . (no '/', '..', '?', '#', '%', spaces, quotes or control characters).",
        )
    return value


def _id_list(body: dict[str, Any], name: str, *, limit: int, guid: bool, what: str) -> list[str]:
    values = body.get(name)
    if not isinstance(values, list) or not values:
        raise Problem(400, "Invalid request body", f"'{name}' must be a non-empty JSON array of {what} ids.",
                      errors=[{"field": name, "message": "required: a non-empty array"}])
    if len(values) > limit:
        raise Problem(400, "Too many ids", f"'{name}' holds {len(values)} ids; at most {limit} are allowed per "
                      "request (ACTIONS_MAX_BULK_IDS). Split the list.",
                      errors=[{"field": name, "message": f"at most {limit} items"}])
    errors = []
    ids: dict[str, None] = {}
    for index, value in enumerate(values):
        ok = isinstance(value, str) and (
            bool(v.GUID_RE.fullmatch(value)) if guid
            else bool(value) and len(value) <= v.MAX_ENTITY_ID_CHARS and bool(v.ENTITY_ID_RE.fullmatch(value))
        )
        if not ok:
            errors.append({"field": f"{name}[{index}]", "message": f"{shown(value)} is not a valid {what} id"})
            continue
        ids[value.lower() if guid else value] = None  # duplicates are dropped, order kept
    if errors:
        hint = "an Entra object id (GUID)" if guid else "1 to 200 letters, digits and _ : = + @ ~ - ."
        listed = "; ".join(e["message"] + f" ({e['field']})" for e in errors[:5])
        more = f" and {len(errors) - 5} more" if len(errors) > 5 else ""
        raise Problem(400, f"Invalid {what} ids", f"Each id must be {hint}: {listed}{more}.", errors=errors[:50])
    return list(ids)


def alert_ids(body: dict[str, Any], limit: int) -> list[str]:
    return _id_list(body, "ids", limit=limit, guid=False, what="alert")


def object_ids(body: dict[str, Any], name: str, limit: int, what: str) -> list[str]:
    return _id_list(body, name, limit=limit, guid=True, what=what)


# --- the body


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_object(call: HttpCall, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object, after the Content-Type and size checks."""
    content_type = call.header("content-type") or ""
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    is_json = media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    if not is_json:
        raise Problem(415, "Unsupported media type", "Send the body as JSON with the header Content-Type: "
                      f"application/json (got {shown(content_type)}).")
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise Problem(415, "Unsupported media type", "The body must be UTF-8 encoded JSON (charset=utf-8).")
    if len(call.body) > max_bytes:
        raise Problem(413, "Body too large", f"The body has {len(call.body)} bytes; at most {max_bytes} are accepted.")
    try:
        text = call.body.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "Malformed JSON", "The body is not valid UTF-8.") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKey as exc:
        raise Problem(400, "Malformed JSON", f"The field {shown(str(exc))} appears twice in the body.") from None
    except (ValueError, RecursionError) as exc:
        where = f" ({exc.msg} at character {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        raise Problem(400, "Malformed JSON", f"The body is not valid JSON{where}.") from None
    if not isinstance(value, dict):
        raise Problem(400, "Malformed JSON", "The body must be a JSON object, e.g. {\"status\": \"resolved\"}.")
    return value


def only_fields(body: Mapping[str, Any], allowed: tuple[str, ...], where: str = "the body") -> None:
    unknown = [key for key in body if key not in allowed]
    if unknown:
        raise Problem(
            400, "Unknown fields",
            f"{where.capitalize()} has unknown field(s) {', '.join(shown(k) for k in unknown[:10])}; "
            f"allowed: {', '.join(allowed)}. Field names are case-sensitive.",
            errors=[{"field": key, "message": "unknown field"} for key in unknown[:50]],
        )


# --- field values


def _canonical(value: str, allowed: tuple[str, ...]) -> str | None:
    lowered = value.lower()
    return next((a for a in allowed if a.lower() == lowered), None)


def _enum(errors: list[dict[str, Any]], name: str, value: object, allowed: tuple[str, ...]) -> str | None:
    if isinstance(value, str):
        found = _canonical(value, allowed)
        if found is not None:
            return found
    errors.append({"field": name, "message": f"{shown(value)} is not allowed; allowed: {', '.join(allowed)}",
                   "allowed": list(allowed)})
    return None


def _determination(errors: list[dict[str, Any]], value: object) -> str | None:
    if isinstance(value, str):
        lowered = value.lower()
        deprecated = next((msg for name, msg in v.DEPRECATED_DETERMINATIONS.items() if name.lower() == lowered), None)
        if deprecated:
            errors.append({"field": "determination", "message": deprecated, "allowed": list(v.DETERMINATIONS)})
            return None
        if lowered in v.DETERMINATION_ALIASES:
            return v.DETERMINATION_ALIASES[lowered]
    return _enum(errors, "determination", value, v.DETERMINATIONS)


def _text(errors: list[dict[str, Any]], name: str, value: object, limit: int, *, newlines: bool = False) -> str | None:
    if not isinstance(value, str):
        errors.append({"field": name, "message": "must be a string"})
        return None
    text = value.strip()
    if not text:
        errors.append({"field": name, "message": "must not be empty"})
    elif len(text) > limit:
        errors.append({"field": name, "message": f"has {len(text)} characters; at most {limit} are allowed"})
    elif _has_control(text, allow_newlines=newlines):
        errors.append({"field": name, "message": "must not contain control characters"})
    else:
        return text
    return None


def _raise_field_errors(errors: list[dict[str, Any]], title: str = "Invalid request body") -> None:
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise Problem(400, title, detail, errors=errors)


def triage_changes(body: Mapping[str, Any], kind: str, where: str = "the body") -> dict[str, Any]:
    """The changes of an alert or incident update, in Graph's spelling. `kind` is "alert" or "incident"."""
    fields = ALERT_FIELDS if kind == "alert" else INCIDENT_FIELDS
    only_fields(body, fields, where)
    if not body:
        raise Problem(400, "Nothing to change", f"Send at least one of {', '.join(fields)}.")
    errors: list[dict[str, Any]] = []
    changes: dict[str, Any] = {}
    if "status" in body:
        statuses = v.ALERT_STATUSES if kind == "alert" else v.INCIDENT_STATUSES
        changes["status"] = _enum(errors, "status", body["status"], statuses)
    if "assignedTo" in body:
        if body["assignedTo"] is None:
            changes["assignedTo"] = None  # unassign
        else:
            changes["assignedTo"] = _text(errors, "assignedTo", body["assignedTo"], v.MAX_ASSIGNED_TO_CHARS)
    if "classification" in body or "determination" in body:
        if "classification" not in body or "determination" not in body:
            missing = "classification" if "classification" not in body else "determination"
            errors.append({
                "field": missing,
                "message": "classification and determination are set together: send both "
                "(e.g. truePositive with malware, or unknown with unknown to clear them)",
            })
        else:
            classification = _enum(errors, "classification", body["classification"], v.CLASSIFICATIONS)
            determination = _determination(errors, body["determination"])
            if classification and determination:
                valid = v.DETERMINATIONS_BY_CLASSIFICATION[classification]
                if determination not in valid:
                    errors.append({
                        "field": "determination",
                        "message": f"{determination} does not go with classification {classification}; "
                        f"with {classification} use one of: {', '.join(valid)}",
                        "allowed": list(valid),
                    })
                else:
                    changes["classification"] = classification
                    changes["determination"] = determination
    if "customTags" in body:
        changes["customTags"] = _tags(errors, body["customTags"])
    _raise_field_errors(errors)
    return changes


def _tags(errors: list[dict[str, Any]], value: object) -> list[str] | None:
    if not isinstance(value, list):
        errors.append({"field": "customTags", "message": "must be an array of strings (an empty array clears them)"})
        return None
    if len(value) > v.MAX_CUSTOM_TAGS:
        errors.append({"field": "customTags", "message": f"at most {v.MAX_CUSTOM_TAGS} tags"})
        return None
    tags: dict[str, None] = {}
    for index, item in enumerate(value):
        tag = _text(errors, f"customTags[{index}]", item, v.MAX_CUSTOM_TAG_CHARS)
        if tag is not None:
            tags[tag] = None
    return list(tags)


def comment(body: Mapping[str, Any]) -> str:
    only_fields(body, ("comment",))
    errors: list[dict[str, Any]] = []
    if "comment" not in body:
        errors.append({"field": "comment", "message": "required"})
        text = None
    else:
        text = _text(errors, "comment", body["comment"], v.MAX_COMMENT_CHARS, newlines=True)
    _raise_field_errors(errors)
    assert text is not None
    return text


# --- headers and query


def idempotency_key(call: HttpCall) -> str | None:
    """The Idempotency-Key header (a plain token or a quoted string), or None when absent."""
    raw = call.header("idempotency-key")
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > v.MAX_IDEMPOTENCY_KEY_CHARS or any(not 0x21 <= ord(c) <= 0x7E for c in key):
        raise Problem(400, "Invalid Idempotency-Key",
                      f"The Idempotency-Key header must be 1 to {v.MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII "
                      "characters without spaces, e.g. a GUID or the Logic App run id plus the item id.")
    return key


def tenant(tenant_ids: tuple[str, ...], value: str | None, source: str = "GRAPH_TENANT_IDS") -> str:
    """The tenant a request acts on: ?tenant=, or the only configured one. `source` names the tenant list."""
    if value:
        lowered = value.strip().lower()
        if lowered not in tenant_ids:
            raise Problem(400, "Unknown tenant",
                          f"tenant={shown(value)} is not one of the tenants this app serves ({source}).")
        return lowered
    if len(tenant_ids) == 1:
        return tenant_ids[0]
    raise Problem(400, "Tenant required",
                  f"This app serves several tenants: add ?tenant=<tenant id> (one of {source}).")
