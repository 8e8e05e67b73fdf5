"""The FAQ audit over a small collection (fake encoder): duplicates at the collection's
``high`` threshold, conflicts among them, misfiled similar questions above ``medium``,
and the entries no logged search reached.

The fake encoder's cosines that the FAQ below is built on (thresholds 0.9 / 0.7 / 0.5):
identical texts 1.0; 退款多久能到账 ~ 退款多久到账 0.859 (close, not a duplicate);
修改收货地址怎么弄 ~ 怎么修改收货地址 0.889 (medium), ~ its own entry's questions < 0.3;
多久能收到货 ~ 退款多久能到账 0.623 (below medium), ~ its own entry's question < 0.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from search import audit
from search.errors import InputTooLargeError, NotFoundError
from search.store import repository
from tests.indexer.test_insights import ask, index_faq

FAQ = [{"id": "refund", "question": "退款多久到账", "answer": "三到五个工作日"},
       {"id": "refund-copy", "question": "退款多久到账", "answer": "三到五个\u3000工作日 "},
       {"id": "refund-eta", "question": "退款多久能到账", "answer": "三到五个工作日"},
       {"id": "ship", "question": "多久发货", "answer": "24小时内发货"},
       {"id": "ship-old", "question": "发货时间", "similar_questions": ["多久发货"],
        "answer": "三天内发货"},
       {"id": "address", "question": "怎么修改收货地址", "answer": "在订单页修改"},
       {"id": "invoice", "question": "如何开发票", "answer": "在订单页申请",
        "similar_questions": ["发票怎么开", "修改收货地址怎么弄"]},
       {"id": "service", "question": "客服几点上班", "answer": "九点",
        "similar_questions": ["多久能收到货"]}]


@pytest.fixture
def faq(settings, tmp_path):
    return index_faq(settings, tmp_path, FAQ)


def pairs(found: list[audit.Duplicate]) -> dict[frozenset[str], audit.Duplicate]:
    return {frozenset((d.entry_a, d.entry_b)): d for d in found}


def test_duplicates_are_the_entry_pairs_reaching_high_and_conflicts_differ_in_answer(faq) -> None:
    _, encoder, service = faq
    encoded = len(encoder.encoded_texts)
    found = audit.compute(service, "default")
    assert len(encoder.encoded_texts) == encoded  # the cached vectors, nothing encoded
    dups = pairs(found.duplicates)
    assert set(dups) == {frozenset({"refund", "refund-copy"}), frozenset({"ship", "ship-old"})}
    same = dups[frozenset({"refund", "refund-copy"})]
    assert same.score == pytest.approx(1.0, abs=1e-5) and same.same_answer  # whitespace aside
    assert (same.question_a, same.question_b) == ("退款多久到账", "退款多久到账")
    clash = dups[frozenset({"ship", "ship-old"})]
    assert not clash.same_answer and {clash.question_a, clash.question_b} == {"多久发货"}
    assert [(c.entry_a, c.entry_b) for c in found.conflicts] == [(clash.entry_a, clash.entry_b)]
    body = found.as_json()
    assert body["counts"] == {"duplicates": 2, "duplicates_sure": 2, "conflicts": 1,
                              "misfiled": 2, "unreached": None}
    assert body["entries"] == 8 and body["questions"] == 12
    assert body["thresholds"] == {"high": 0.9, "medium": 0.7, "duplicate": 0.9}  # no duplicate fit


def test_the_collections_own_high_threshold_decides(faq) -> None:
    sessions, _, service = faq
    with sessions.begin() as session:  # 退款多久能到账 ~ 退款多久到账 is 0.859
        repository.get_collection(session, "default").bands = {"high": 0.85, "medium": 0.7,
                                                               "low": 0.5}
    service.registry.refresh()
    found = pairs(audit.compute(service, "default").duplicates)
    assert frozenset({"refund", "refund-eta"}) in found
    assert found[frozenset({"refund", "refund-eta"})].score == pytest.approx(0.859, abs=1e-3)


def test_misfiled_similar_questions_sit_closer_to_another_entry(faq) -> None:
    _, _, service = faq
    found = {(m.entry_id, m.question): m for m in audit.compute(service, "default").misfiled}
    # 多久发货 under ship-old is ship's question word for word: misfiled (and a conflict)
    assert set(found) == {("invoice", "修改收货地址怎么弄"), ("ship-old", "多久发货")}
    wrong = found[("invoice", "修改收货地址怎么弄")]
    assert (wrong.other_entry_id, wrong.other_question) == ("address", "怎么修改收货地址")
    assert wrong.other_score == pytest.approx(0.889, abs=1e-3) and wrong.own_score < 0.3
    # 多久能收到货 (service) is nearer refund-eta than its own entry, but below medium:
    # a loosely written question, not a misfiled one; 发票怎么开 is its own entry's
    assert ("service", "多久能收到货") not in found and ("invoice", "发票怎么开") not in found


def test_unreached_entries_come_from_the_first_hits_of_the_log(faq) -> None:
    sessions, _, service = faq
    found = audit.compute(service, "default")
    assert found.unreached is None and found.searches == 0
    assert "no search of 'default'" in (found.unreached_reason or "")
    ask(service, sessions, ["怎么修改收货地址", "怎么修改收货地址啊", "如何开发票"])
    ask(service, sessions, ["客服几点上班"], when=datetime.now(timezone.utc) - timedelta(days=200))
    found = audit.compute(service, "default")
    assert found.searches == 3 and found.unreached_reason is None  # the old one is past retention
    unreached = {u["entry_id"]: u["question"] for u in found.unreached or []}
    assert "address" not in unreached and "invoice" not in unreached
    assert unreached["service"] == "客服几点上班" and len(unreached) == 6
    assert found.as_json()["counts"]["unreached"] == 6

    service.settings = service.settings.model_copy(update={"search_log": False})
    off = audit.compute(service, "default")
    assert off.unreached is None and "search log is off" in (off.unreached_reason or "")


def test_unknown_collections_and_too_many_questions_are_refused(faq, monkeypatch) -> None:
    _, _, service = faq
    with pytest.raises(NotFoundError, match="'nope' does not exist"):
        audit.compute(service, "nope")
    monkeypatch.setattr(audit, "MAX_QUESTIONS", 5)
    with pytest.raises(InputTooLargeError, match="12 questions"):
        audit.compute(service, "default")


def test_blocks_give_the_same_answer_as_one_matrix(faq, monkeypatch) -> None:
    _, _, service = faq
    whole = audit.compute(service, "default").as_json()
    monkeypatch.setattr(audit, "CELLS", 1)  # one row per block
    assert audit.compute(service, "default").as_json() == whole
