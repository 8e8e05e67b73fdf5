"""Insights over a logged collection (fake encoder): the misses are grouped by meaning,
each group gets a suggestion, and carrying it out removes the group and answers its
questions."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from indexer import insights as apply_insights
from indexer.reindex import reindex
from indexer.writer import DocumentWriter
from search import grouping, insights
from search.errors import InvalidInputError, NotFoundError
from search.service import SearchService
from search.store import searchlog
from search.store.db import open_database
from tests.conftest import FakeEncoder
from tests.indexer.test_reindex import QUIET, write_source

FAQ = [{"id": "refund", "question": "退款多久到账", "answer": "三到五个工作日"},
       {"id": "address", "question": "怎么修改收货地址", "answer": "在订单页修改"}]


def index_faq(settings, tmp_path, rows: list[dict]):
    """``rows`` reindexed into "default" with the fake encoder: (sessions, encoder, service)."""
    sessions = open_database(settings.resolved_database_url)
    encoder = FakeEncoder()
    reindex(settings, sessions, encoder, write_source(tmp_path / "faq.jsonl", rows), "default",
            console=QUIET)
    service = SearchService(settings, encoder, sessions)
    service.registry.refresh()
    return sessions, encoder, service


@pytest.fixture
def logged(settings, tmp_path):
    return (settings, *index_faq(settings, tmp_path, FAQ))


def ask(service: SearchService, sessions, questions: list[str], when: datetime | None = None,
        ) -> list[str]:
    """Search each question and log it as the API does."""
    rows, ids = [], []
    for q in questions:
        normalized = service.normalize_query(q)
        vector = service.encoder.encode_queries([normalized])[0]
        result = service.search_vector(q, normalized, vector, collection="default", top_k=3)
        ids.append(uuid.uuid4().hex)
        rows.append({"id": ids[-1], "created_at": when or datetime.now(timezone.utc),
                     "collection": "default", "query": q, "normalized_query": normalized,
                     "top": [[h.external_id, h.score] for h in result.hits[:3]],
                     "top_band": result.hits[0].band if result.hits else "none", "took_ms": 1.0,
                     "user": None, "vector": vector.astype(np.float32).tobytes()})
    with sessions.begin() as session:
        searchlog.write(session, rows)
    return ids


def log_as(sessions, questions: list[str], vector: np.ndarray, top: list[list[object]]) -> None:
    """Log ``questions`` as searches that all had ``vector`` and first answers ``top``
    ([entry id, score] pairs), whatever the index would find for them."""
    with sessions.begin() as session:
        searchlog.write(session, [{
            "id": uuid.uuid4().hex, "created_at": datetime.now(timezone.utc),
            "collection": "default", "query": q, "normalized_query": q, "top": top,
            "top_band": "medium", "took_ms": 1.0, "user": None,
            "vector": vector.astype(np.float32).tobytes()} for q in questions])


def test_grouping_joins_close_vectors_and_keeps_far_ones_apart() -> None:
    a, b = np.eye(3, dtype=np.float32)[:2]
    near_a = (a + 0.1 * b) / np.linalg.norm(a + 0.1 * b)
    assert grouping.group(np.stack([a, b, near_a]), 0.9) == [[0, 2], [1]]
    assert grouping.group(np.stack([a, b, near_a]), 0.999) == [[0], [1], [2]]
    assert grouping.group(np.zeros((0, 3), np.float32), 0.5) == []


def test_misses_are_grouped_with_a_suggestion_and_applying_it_answers_them(logged) -> None:
    settings, sessions, encoder, service = logged
    gift = ["礼品卡怎么用", "礼品卡怎么用", "礼品卡怎么使用", "礼品卡如何用"]
    ask(service, sessions, gift + ["退款多久到账"] + ["今天天气如何"])
    found = insights.compute(service, "default")
    assert found.searches == 6 and found.most_hit[0]["searches"] >= 1
    assert found.per_day[0]["searches"] == 6
    biggest = found.groups[0]
    assert biggest.size >= 3 and biggest.representative == "礼品卡怎么用"
    assert set(biggest.questions) <= set(gift) and biggest.suggestion == "new_entry"
    assert "退款多久到账" not in {q for g in found.groups for q in g.questions}  # it is the FAQ's
    writer = DocumentWriter(settings, encoder, sessions)
    done = apply_insights.apply(service, writer, "default", biggest.group_id, "new_entry",
                                answer="在结算页输入卡号")
    assert done.entry_id == f"faq-{biggest.group_id}" and set(done.added) < set(gift)
    service.registry.refresh()
    again = insights.compute(service, "default")
    assert biggest.group_id not in {g.group_id for g in again.groups}  # the FAQ holds them now
    hit = service.search("礼品卡怎么使用", collection="default").hits[0]
    assert hit.external_id == done.entry_id
    with pytest.raises(NotFoundError, match="applied already"):
        apply_insights.apply(service, writer, "default", biggest.group_id, "new_entry")


def test_feedback_names_the_entry_to_add_similar_questions_to(logged) -> None:
    settings, sessions, encoder, service = logged
    ids = ask(service, sessions, ["钱啥时候退回来", "钱啥时候退回来呀"])
    with sessions.begin() as session:
        for search_id in ids:
            searchlog.add_feedback(session, search_id, False, "refund", None)
    (group,) = [g for g in insights.compute(service, "default").groups if "钱啥时候退回来" in g.questions]
    assert group.suggestion == "add_similar" and group.entry_id == "refund" and group.disliked == 2
    writer = DocumentWriter(settings, encoder, sessions)
    done = apply_insights.apply(service, writer, "default", group.group_id, "add_similar")
    assert done.entry_id == "refund" and set(done.added) == {"钱啥时候退回来", "钱啥时候退回来呀"}
    service.registry.refresh()
    assert service.search("钱啥时候退回来", collection="default").hits[0].external_id == "refund"
    with pytest.raises(InvalidInputError, match="unknown action"):
        apply_insights.apply(service, writer, "default", group.group_id, "merge")


def test_add_similar_needs_the_entry_first_for_half_of_the_group(logged) -> None:
    """A group close to entry X as a whole, whose searches mostly found other entries
    first, asks for something X does not answer: a new entry, not X's similar questions."""
    _, sessions, encoder, service = logged
    vector = encoder.encode_queries([service.normalize_query("退款多久到账")])[0]

    log_as(sessions, ["退款到账要几天呢", "退款到账要几天呀", "退款到账要几天"], vector, [["address", 0.9]])
    (group,) = insights.compute(service, "default").groups
    assert group.nearest.entry_id == "refund" and group.nearest.band == "high"
    assert group.suggestion == "new_entry"
    log_as(sessions, ["退款到账要几天嘛", "退款到账要几天哦", "退款到账要几天啊", "退款到账要几天么"], vector,
           [["refund", 0.9]])
    (group,) = insights.compute(service, "default").groups  # 4 of 7 found refund first
    assert group.suggestion == "add_similar" and group.entry_id == "refund"


def test_add_similar_needs_the_searches_to_lead_by_the_margin(logged) -> None:
    """The group passes ``high``'s own test as a whole: searches that found X first but
    barely ahead of another entry (less than the margin) do not say they mean X."""
    from dataclasses import replace

    from search.bands import Thresholds

    _, sessions, encoder, service = logged
    encoder.profile = replace(encoder.profile, thresholds=Thresholds(0.9, 0.7, 0.5, margin=0.05))
    vector = encoder.encode_queries([service.normalize_query("退款多久到账")])[0]

    log_as(sessions, ["退款到账要几天呢", "退款到账要几天呀"], vector, [["refund", 0.95], ["address", 0.93]])
    (group,) = insights.compute(service, "default").groups
    assert group.nearest.entry_id == "refund" and group.nearest.score >= 0.9
    assert group.suggestion == "new_entry"  # first, but 0.02 ahead: hesitant
    log_as(sessions, ["退款到账要几天嘛", "退款到账要几天哦"], vector, [["refund", 0.99], ["address", 0.8]])
    (group,) = insights.compute(service, "default").groups  # mean lead (0.02 + 0.19) / 2
    assert group.suggestion == "add_similar" and group.entry_id == "refund"


def test_the_window_and_time_forms(logged) -> None:
    _, sessions, _, service = logged
    ask(service, sessions, ["很久以前的问题"], when=datetime.now(timezone.utc) - timedelta(days=30))
    ask(service, sessions, ["昨天的问题"])
    assert insights.compute(service, "default", insights.parse_time("7d")).searches == 1
    assert insights.compute(service, "default").searches == 2
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    assert insights.parse_time("24h", now) == now - timedelta(hours=24)
    assert insights.parse_time("2026-12-01") == datetime(2026, 12, 1, tzinfo=timezone.utc)
    with pytest.raises(InvalidInputError, match="not a time"):
        insights.parse_time("last week")


def test_calibration_falls_back_to_labelled_feedback(logged) -> None:
    from indexer import bands

    settings, sessions, encoder, service = logged
    with pytest.raises(InvalidInputError, match="no hit-test set and no labelled feedback"):
        bands.calibrate(settings, sessions, encoder, "default")
    ids = ask(service, sessions, ["退款几天到账", "钱多久退回", "地址填错了怎么改", "今天天气如何"])
    with sessions.begin() as session:
        searchlog.add_feedback(session, ids[0], True, None, None)  # 👍: the first hit was right
        searchlog.add_feedback(session, ids[1], False, "refund", None)
        searchlog.add_feedback(session, ids[2], False, "address", None)
        searchlog.add_feedback(session, ids[3], False, None, None)  # 👎, nothing fits
        searchlog.add_feedback(session, ids[2], True, "address", None)  # the latest word wins
        labelled = searchlog.labelled_feedback(session, "default")
    by_query = {q.query: q.expected for q in labelled}
    assert by_query["钱多久退回"] == ("refund",) and by_query["今天天气如何"] == ()
    assert by_query["地址填错了怎么改"] == ("address",) and len(by_query["退款几天到账"]) == 1
    done = bands.calibrate(settings, sessions, encoder, "default")
    assert done.fit.in_sample["n_questions"] == 4 and done.fit.in_sample["n_none_questions"] == 1


def test_add_similar_needs_the_entry_s_standard_question_nearest(settings, tmp_path) -> None:
    """A group whose centre lands on one of X's similar questions rather than on X's
    standard question would hang a paraphrase on a paraphrase: a new entry is suggested,
    and the nearest passage says which one it reached. The same group on X's standard
    question passes."""
    rows = [{**FAQ[0], "similar_questions": ["钱什么时候退回来"]}, FAQ[1]]
    sessions, encoder, service = index_faq(settings, tmp_path, rows)

    def log(questions: list[str], like: str) -> None:
        log_as(sessions, questions, encoder.encode_queries([like])[0],
               [["refund", 0.99], ["address", 0.5]])

    log(["钱啥时候退回来呀", "钱啥时候退回来嘛"], "钱什么时候退回来")
    (group,) = insights.compute(service, "default").groups
    assert group.nearest.entry_id == "refund" and group.nearest.score >= 0.9
    assert (group.nearest.matched_kind, group.nearest.matched_text) == ("similar", "钱什么时候退回来")
    assert group.suggestion == "new_entry" and group.entry_id is None
    log(["退款啥时候到账呀", "退款啥时候到账嘛"], "退款多久到账")
    by_question = {g.questions[0][:4]: g for g in insights.compute(service, "default").groups}
    assert by_question["退款啥时"].nearest.matched_kind == "question"
    assert by_question["退款啥时"].suggestion == "add_similar"
    assert by_question["退款啥时"].entry_id == "refund"
    assert by_question["钱啥时候"].suggestion == "new_entry"
