"""Dify's metadata conditions on search hits: which of them the search filters exactly,
and a predicate for the rest.

A condition names a field of the hit: ``category``, ``tags`` (a list), ``band``,
``entry_id`` (or ``id``), ``score``, or any key of the entry's own metadata. Lists (tags, or
a list in the metadata) match ``is``/``contains`` when one element equals the value,
``in`` when one element is in the list, ``start with``/``end with`` when one element does;
``empty`` means missing, ``""`` or ``[]``. Numeric operators compare numbers (a field or
value that is not one fails the condition), ``before``/``after`` compare dates (Unix
seconds or ISO 8601).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from search.errors import InvalidInputError
from search.service import SearchHit

from .compat_schemas import DifyCondition, DifyMetadataCondition

_NUMERIC = {"=": lambda a, b: a == b, "≠": lambda a, b: a != b, ">": lambda a, b: a > b,
            "<": lambda a, b: a < b, "≥": lambda a, b: a >= b, "≤": lambda a, b: a <= b}
_NEGATED = {"not contains": "contains", "is not": "is", "not in": "in", "not empty": "empty"}


@dataclass
class Plan:
    """Exact filters for the search (``and`` conditions on category and tags) and the
    conditions left to check on each hit."""

    category: str | None = None
    tags: list[str] = field(default_factory=list)
    logical_operator: str = "and"
    conditions: list[DifyCondition] = field(default_factory=list)
    beyond_filters: bool = False  # some condition is checked on the hits only

    def matches(self, hit: SearchHit) -> bool:
        results = (holds(c, hit) for c in self.conditions)
        return all(results) if self.logical_operator == "and" else any(results)


def plan(condition: DifyMetadataCondition | None) -> Plan:
    if condition is None or not condition.conditions:
        return Plan()
    for c in condition.conditions:
        _check_value(c)
    out = Plan(logical_operator=condition.logical_operator, conditions=list(condition.conditions))
    if condition.logical_operator == "and":
        for c in condition.conditions:
            if (c.name == "category" and c.comparison_operator == "is" and isinstance(c.value, str)
                    and out.category is None):
                out.category = c.value
            elif (c.name in ("tags", "tag") and c.comparison_operator in ("is", "contains")
                  and isinstance(c.value, str)):
                out.tags.append(c.value)
            else:
                out.beyond_filters = True
    else:
        out.beyond_filters = True
    return out


def _check_value(c: DifyCondition) -> None:
    op, value = c.comparison_operator, c.value
    if op in ("empty", "not empty"):
        return
    if op in ("in", "not in"):
        if not isinstance(value, (list, str)):
            raise InvalidInputError(f"condition {c.name!r} {op}: the value must be a list")
        return
    if value is None or isinstance(value, list):
        raise InvalidInputError(f"condition {c.name!r} {op}: the value must be one string or number")
    if op in _NUMERIC and _number(value) is None:
        raise InvalidInputError(f"condition {c.name!r} {op}: {value!r} is not a number")
    if op in ("before", "after") and _moment(value) is None:
        raise InvalidInputError(f"condition {c.name!r} {op}: {value!r} is not a date "
                                "(Unix seconds or ISO 8601)")


def field_value(hit: SearchHit, name: str) -> Any:
    if name == "category":
        return hit.category
    if name in ("tags", "tag"):
        return list(hit.tags)
    if name == "band":
        return hit.band
    if name in ("entry_id", "id"):
        return hit.external_id
    if name == "score":
        return hit.score
    return (hit.metadata or {}).get(name)


def holds(c: DifyCondition, hit: SearchHit) -> bool:
    names = c.name if isinstance(c.name, list) else [c.name]
    op = c.comparison_operator
    if op in _NEGATED:
        positive = c.model_copy(update={"comparison_operator": _NEGATED[op]})
        return not holds(positive, hit)
    return any(_compare(op, field_value(hit, n), c.value) for n in names)


def _compare(op: str, actual: Any, value: Any) -> bool:
    if op == "empty":
        return actual is None or actual == "" or actual == []
    if actual is None:
        return False
    items = actual if isinstance(actual, list) else [actual]
    if op in _NUMERIC:
        a, b = _number(actual), _number(value)
        return a is not None and b is not None and _NUMERIC[op](a, b)
    if op in ("before", "after"):
        a, b = _moment(actual), _moment(value)
        return a is not None and b is not None and (a < b if op == "before" else a > b)
    if op == "in":
        wanted = {str(v) for v in value} if isinstance(value, list) else {value}
        return any(str(x) in wanted for x in items)
    text = str(value)
    if op == "is":
        return any(str(x) == text for x in items)
    if op == "contains":
        return (text in items) if isinstance(actual, list) else text in str(actual)
    if op == "start with":
        return any(str(x).startswith(text) for x in items)
    if op == "end with":
        return any(str(x).endswith(text) for x in items)
    raise InvalidInputError(f"unsupported comparison_operator {op!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _moment(value: Any) -> datetime | None:
    number = _number(value)
    try:
        if number is not None:
            return datetime.fromtimestamp(number, tz=timezone.utc)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return None
