"""OData query options as Graph documents them for these collections: ``$filter``, ``$top``, ``$skip``, ``$count``,
``$expand``, ``$select``.

``$filter`` grammar: comparisons ``property op literal`` (eq, ne, gt, ge, lt, le), combined with ``and``/``or``/``not``
and parentheses. A property may be a member path (``vendorInformation/provider``, used by legacy alert
subscriptions). Literals: 'strings' ('' escapes a quote), DateTimeOffset values unquoted with 0-7 fractional digits,
true/false, null, numbers. Anything else (functions, lambdas such as ``evidence/any(...)``) is "Invalid filter clause".
A filter compiles to a predicate over a record's tuple of filterable values, plus an optional tick range on the
resource's cursor property so the store can bisect instead of scanning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from .errors import GraphError, bad_request
from .resources import MAX_SKIP, Prop, ResourceSpec
from .ticks import parse_timestamp

Predicate = Callable[[tuple], bool]

_OPS = ("eq", "ne", "gt", "ge", "lt", "le")
_OP_KIND = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
_EDM = {"datetime": "Edm.DateTimeOffset", "string": "Edm.String", "bool": "Edm.Boolean", "number": "Edm.Decimal"}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lp>\()|(?P<rp>\))
      | (?P<str>'(?:[^']|'')*')
      | (?P<dt>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|z|[+-]\d{2}:\d{2}))
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Literal:
    kind: str  # "string" | "datetime" | "bool" | "null" | "number"
    value: object
    text: str


@dataclass(frozen=True)
class Compare:
    prop: str
    op: str
    literal: Literal


@dataclass(frozen=True)
class Junction:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | Junction | Not


def invalid_filter(detail: str | None = None) -> GraphError:
    return bad_request("Invalid filter clause" + (f": {detail}" if detail else ""))


# --- parsing ---------------------------------------------------------------------------------------------------------


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise invalid_filter(f"Syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise invalid_filter(f"Unexpected end of expression in '{self.text}'.")
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok == ("ident", word):
            self.i += 1
            return True
        return False

    def parse(self) -> Node:
        if not self.tokens:
            raise invalid_filter("The filter is empty.")
        node = self.or_expr()
        if self.peek() is not None:
            raise invalid_filter(f"Syntax error: unexpected '{self.peek()[1]}' in '{self.text}'.")  # type: ignore[index]
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.keyword("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Junction("or", tuple(items))

    def and_expr(self) -> Node:
        items = [self.unary()]
        while self.keyword("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else Junction("and", tuple(items))

    def unary(self) -> Node:
        if self.keyword("not"):
            return Not(self.unary())
        kind, value = self.take()
        if kind == "lp":
            node = self.or_expr()
            if self.take()[0] != "rp":
                raise invalid_filter(f"Syntax error: ')' expected in '{self.text}'.")
            return node
        if kind != "ident" or value in _OPS or value in ("and", "or", "not", "true", "false", "null"):
            raise invalid_filter(f"Syntax error at '{value}' in '{self.text}'.")
        op_kind, op = self.take()
        if op_kind != "ident" or op not in _OPS:
            raise invalid_filter(f"Syntax error: operator expected after '{value}' in '{self.text}'.")
        return Compare(value, op, self.literal())

    def literal(self) -> Literal:
        kind, text = self.take()
        if kind == "str":
            return Literal("string", text[1:-1].replace("''", "'"), text)
        if kind == "dt":
            ticks = parse_timestamp(text)
            if ticks is None:
                raise invalid_filter(f"The DateTimeOffset literal '{text}' is not valid.")
            return Literal("datetime", ticks, text)
        if kind == "num":
            return Literal("number", float(text), text)
        if kind == "ident" and text in ("true", "false"):
            return Literal("bool", text == "true", text)
        if kind == "ident" and text == "null":
            return Literal("null", None, text)
        raise invalid_filter(f"Syntax error: literal expected at '{text}' in '{self.text}'.")


def parse_filter(text: str) -> Node:
    return _Parser(text).parse()


# --- compilation -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledFilter:
    predicate: Predicate | None  # None: every record in the range matches
    low: int | None  # inclusive tick bounds on the cursor property
    high: int | None


def _coerce(spec: ResourceSpec, prop: Prop, cmp: Compare) -> object:
    lit = cmp.literal
    if lit.kind == "null":
        return None
    expected = prop.kind if prop.kind != "enum" else "string"
    if lit.kind != expected:
        left = _EDM.get(prop.kind) or f"{spec.type_name.rsplit('.', 1)[0]}.{prop.enum.name}"  # type: ignore[union-attr]
        raise invalid_filter(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{left}' and '{_EDM.get(lit.kind, lit.kind)}' for operator kind '{_OP_KIND[cmp.op]}'."
        )
    if prop.kind == "enum":
        assert prop.enum is not None
        index = prop.enum.index(str(lit.value))
        if index is None:
            raise invalid_filter(f"The string '{lit.value}' is not a valid enumeration type constant.")
        return index
    return lit.value


def _compare(i: int, op: str, v: object) -> Predicate:
    # None (null) only equals null; ordering comparisons with null are false, as in OData.
    if v is None:
        if op == "eq":
            return lambda f: f[i] is None
        if op == "ne":
            return lambda f: f[i] is not None
        return lambda f: False
    if op == "eq":
        return lambda f: f[i] == v
    if op == "ne":
        return lambda f: f[i] != v
    if op == "gt":
        return lambda f: f[i] is not None and f[i] > v
    if op == "ge":
        return lambda f: f[i] is not None and f[i] >= v
    if op == "lt":
        return lambda f: f[i] is not None and f[i] < v
    return lambda f: f[i] is not None and f[i] <= v


def _check(spec: ResourceSpec, cmp: Compare) -> tuple[Prop, object]:
    prop = spec.prop(cmp.prop)
    if prop is None:
        if cmp.prop not in spec.properties:
            raise bad_request(f"Could not find a property named '{cmp.prop}' on type '{spec.type_name}'.")
        raise invalid_filter(f"Filtering on the property '{cmp.prop}' is not supported for this resource.")
    if spec.eq_only and cmp.op != "eq":
        raise invalid_filter(
            f"The operator '{cmp.op}' is not supported for the property '{cmp.prop}'; only 'eq' is supported."
        )
    return prop, _coerce(spec, prop, cmp)


def _build(spec: ResourceSpec, node: Node) -> Predicate:
    if isinstance(node, Compare):
        prop, value = _check(spec, node)
        return _compare(spec.field_index(prop.name), node.op, value)
    if isinstance(node, Not):
        inner = _build(spec, node.item)
        return lambda f: not inner(f)
    parts = tuple(_build(spec, item) for item in node.items)
    if node.op == "and":
        return lambda f: all(p(f) for p in parts)
    return lambda f: any(p(f) for p in parts)


def _range_of(spec: ResourceSpec, cmp: Compare) -> tuple[int | None, int | None] | None:
    """Inclusive tick bounds if ``cmp`` is a non-null comparison on the cursor property, else None."""
    if cmp.prop != spec.cursor or cmp.literal.kind != "datetime" or cmp.op == "ne":
        return None
    t = int(cmp.literal.value)  # type: ignore[call-overload]
    return {
        "eq": (t, t),
        "ge": (t, None),
        "gt": (t + 1, None),
        "le": (None, t),
        "lt": (None, t - 1),
    }[cmp.op]


@lru_cache(maxsize=512)
def compile_filter(spec: ResourceSpec, text: str) -> CompiledFilter:
    """Parse and type-check ``text`` for ``spec``; raises GraphError 400 on any problem."""
    node = parse_filter(text)
    _build(spec, node)  # validates the whole tree, including conjuncts that become the range
    conjuncts = node.items if isinstance(node, Junction) and node.op == "and" else (node,)
    low: int | None = None
    high: int | None = None
    residual: list[Node] = []
    for item in conjuncts:
        bounds = _range_of(spec, item) if isinstance(item, Compare) else None
        if bounds is None:
            residual.append(item)
            continue
        if bounds[0] is not None:
            low = bounds[0] if low is None else max(low, bounds[0])
        if bounds[1] is not None:
            high = bounds[1] if high is None else min(high, bounds[1])
    predicate: Predicate | None = None
    if len(residual) == 1:
        predicate = _build(spec, residual[0])
    elif residual:
        predicate = _build(spec, Junction("and", tuple(residual)))
    return CompiledFilter(predicate, low, high)


# --- the other query options -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    filter: str | None = None
    top: int | None = None
    skip: int = 0
    count: bool = False
    expand: tuple[str, ...] = ()
    select: tuple[str, ...] | None = None
    skiptoken: str | None = None


_KNOWN = ("filter", "top", "skip", "count", "expand", "select", "orderby", "search", "format", "skiptoken")


def normalize_params(params: list[tuple[str, str]]) -> dict[str, str]:
    """System query options keyed with their ``$``; Graph v1.0 accepts them without the ``$`` too."""
    out: dict[str, str] = {}
    for key, value in params:
        name = key.lower()
        if not name.startswith("$") and name in _KNOWN:
            name = "$" + name
        if not name.startswith("$"):
            continue  # custom parameters are ignored, as Graph does
        if name in out:
            raise bad_request(
                f"Query option '{name}' was specified more than once, but it must be specified at most once."
            )
        out[name] = value
    return out


def _int_option(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"Invalid value '{text}' for query option '{name}'.") from None
    if value < 0:
        raise bad_request(f"Invalid value '{text}' for query option '{name}': the value must be non-negative.")
    return value


def parse_list_query(spec: ResourceSpec, params: Mapping[str, str], *, single: bool = False) -> ListQuery:
    """Validate the query options of a list (or, with ``single``, a get-by-id) request against ``spec``."""
    allowed = set(spec.options) | {"$skiptoken"}
    if single:
        allowed = {"$expand", "$select"} & set(spec.options)
    for name in params:
        if name not in allowed:
            raise bad_request(f"Query option '{name}' is not supported for '{spec.path}'.")
    top = None
    if "$top" in params:
        top = _int_option("$top", params["$top"])
        if top > spec.max_top:
            raise bad_request(
                f"The limit of '{spec.max_top}' for Top query has been exceeded. "
                f"The value from the incoming request is '{top}'."
            )
    skip = 0
    if "$skip" in params:
        skip = _int_option("$skip", params["$skip"])
        if skip > MAX_SKIP:
            raise bad_request(
                f"The limit of '{MAX_SKIP}' for Skip query has been exceeded. "
                f"The value from the incoming request is '{skip}'."
            )
    count = False
    if "$count" in params:
        text = params["$count"].lower()
        if text not in ("true", "false"):
            raise bad_request(f"Invalid value '{params['$count']}' for query option '$count'.")
        count = text == "true"
    expand: tuple[str, ...] = ()
    if params.get("$expand"):
        expand = tuple(x.strip() for x in params["$expand"].split(","))
        for name in expand:
            if name not in spec.expandable:
                raise bad_request(f"Could not find a property named '{name}' on type '{spec.type_name}'.")
    select = None
    if params.get("$select"):
        select = tuple(x.strip() for x in params["$select"].split(","))
        for name in select:
            if name not in spec.properties:
                raise bad_request(f"Could not find a property named '{name}' on type '{spec.type_name}'.")
    flt = params.get("$filter")
    if flt is not None:
        if not flt.strip():
            raise invalid_filter("The filter is empty.")
        compile_filter(spec, flt)  # validate now so page 1 fails, not page 7
    return ListQuery(flt, top, skip, count, expand, select, params.get("$skiptoken"))
