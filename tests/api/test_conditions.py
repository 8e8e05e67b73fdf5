"""Dify's metadata conditions on hits (api/conditions.py), each operator once, without a
server."""
from __future__ import annotations

import pytest

from api.compat_schemas import DifyMetadataCondition
from api.conditions import plan
from search.errors import InvalidInputError
from search.service import SearchHit

HIT = SearchHit(id=1, external_id="refund-001", question="退款多久到账？", answer="…",
                category="退款", tags=["退款时效", "到账"], score=0.93, band="medium",
                band_label="中等相关", matched_text="退款多久到账", matched_kind="question",
                metadata={"priority": 3, "updated": "2024-05-01", "owner": ""})


def holds(*conditions: dict, logical: str = "and") -> bool:
    return plan(DifyMetadataCondition(logical_operator=logical, conditions=list(conditions))).matches(HIT)


@pytest.mark.parametrize(("name", "op", "value", "expected"), [
    ("category", "is", "退款", True), ("category", "is not", "退款", False),
    ("category", "contains", "退", True), ("category", "not contains", "退", False),
    ("tags", "contains", "到账", True), ("tags", "contains", "到", False),
    ("tags", "not contains", "发票", True), ("tags", "start with", "退款", True),
    ("tags", "end with", "时效", True), ("tags", "in", ["发票", "到账"], True),
    ("tags", "not in", ["发票"], True), ("tags", "empty", None, False),
    ("owner", "empty", None, True), ("missing", "empty", None, True),
    ("missing", "not empty", None, False), ("band", "in", ["high", "medium"], True),
    ("band", "is not", "none", True), ("entry_id", "end with", "-001", True),
    ("priority", "=", 3, True), ("priority", "≠", 3, False), ("priority", ">", "2", True),
    ("priority", "<", 3, False), ("priority", "≥", 3, True), ("priority", "≤", 2.5, False),
    ("score", ">", 0.9, True), ("category", ">", 1, False),
    ("updated", "before", "2024-06-01", True), ("updated", "after", "2024-06-01T00:00:00Z", False),
    ("updated", "after", 1700000000, True), (["owner", "category"], "is", "退款", True),
])
def test_each_operator(name: object, op: str, value: object, expected: bool) -> None:
    assert holds({"name": name, "comparison_operator": op, "value": value}) is expected


def test_and_or_and_what_the_search_filters_itself() -> None:
    yes = {"name": "category", "comparison_operator": "is", "value": "退款"}
    no = {"name": "tags", "comparison_operator": "contains", "value": "发票"}
    assert holds(yes, no, logical="or") and not holds(yes, no)
    exact = plan(DifyMetadataCondition(conditions=[yes, no]))
    assert (exact.category, exact.tags, exact.beyond_filters) == ("退款", ["发票"], False)
    assert plan(DifyMetadataCondition(logical_operator="or", conditions=[yes])).category is None
    assert plan(DifyMetadataCondition(conditions=[
        yes, {"name": "band", "comparison_operator": "is", "value": "high"}])).beyond_filters


@pytest.mark.parametrize(("op", "value"), [("in", 3), (">", "abc"), ("is", None),
                                          ("before", "not a date"), ("contains", ["a"])])
def test_values_that_cannot_work_are_refused(op: str, value: object) -> None:
    with pytest.raises(InvalidInputError):
        plan(DifyMetadataCondition(conditions=[{"name": "x", "comparison_operator": op,
                                                "value": value}]))
