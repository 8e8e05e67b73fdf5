"""Hit-test sets and the reindex quality gate (fake encoder): a source that would answer
the set worse is refused with the questions that changed, and nothing changes."""
from __future__ import annotations

import pytest

from indexer import bands
from indexer.gate import Borrowed
from indexer.reindex import reindex
from search.builds import active_build
from search.errors import QualityGateError
from search.service import SearchService
from search.store import repository, testsets
from search.store.db import open_database
from search.store.models import IndexBuild
from search.tuning import Ranking
from tests.conftest import FakeEncoder
from tests.indexer.test_reindex import QUIET, SAMPLE, write_source


@pytest.fixture
def with_testset(settings, tmp_path):
    sessions = open_database(settings.resolved_database_url)
    reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "faq.jsonl", SAMPLE),
            "default", console=QUIET)
    questions = [testsets.Labelled(similar, (row["id"],)) for row in SAMPLE
                 for similar in row["similar_questions"][:1]]
    questions.append(testsets.Labelled("今天天气怎么样", ()))
    with sessions.begin() as session:
        testsets.add(session, repository.get_collection(session, "default").id, questions)
    return settings, sessions, questions


def active_id(sessions) -> int:
    with sessions() as session:
        return active_build(session, repository.get_collection(session, "default").id).id


def test_a_worse_build_is_refused_and_nothing_changes(with_testset, tmp_path) -> None:
    settings, sessions, _ = with_testset
    before = active_id(sessions)
    damaged = [dict(r) for r in SAMPLE[: int(len(SAMPLE) * 0.7)]]  # 30% of the entries gone
    with pytest.raises(QualityGateError, match="recall@1 on the hit-test set fell") as caught:
        reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "bad.jsonl", damaged),
                "default", full=True, console=QUIET)
    changed = caught.value.detail["changed"]
    dropped = {r["id"] for r in SAMPLE[len(damaged):]}
    lost = [row for row in changed if row["was_right"] and not row["is_right"]]
    assert lost and {row["expected"][0] for row in lost} <= dropped
    assert active_id(sessions) == before
    with sessions() as session:
        assert len(repository.document_hashes(session, 1)) == len(SAMPLE)  # no entry lost
    # --no-gate activates it anyway, and the build records what it answered
    report = reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "bad.jsonl", damaged),
                     "default", full=True, gate=False, console=QUIET)
    assert report.gate is not None and report.gate.reasons and active_id(sessions) != before
    with sessions() as session:
        evaluation = session.get(IndexBuild, active_id(sessions)).evaluation
    assert evaluation["recall_at_1"] < 0.8 and len(evaluation["answers"]) == len(with_testset[2])


def test_a_build_as_good_passes_the_gate_and_records_its_answers(with_testset, tmp_path) -> None:
    settings, sessions, questions = with_testset
    more = SAMPLE + [{"id": "new-1", "question": "支持用礼品卡抵扣运费吗"}]
    report = reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "more.jsonl", more),
                     "default", console=QUIET)
    assert report.gate is not None and not report.gate.reasons
    assert report.gate.after["recall_at_1"] >= report.gate.before["recall_at_1"] - 0.02
    with sessions() as session:
        build = session.get(IndexBuild, active_id(sessions))
    assert set(build.evaluation["answers"]) == {q.query for q in questions}
    assert build.bands["source"] == "model"


def test_a_reindex_that_changes_nothing_does_not_run_the_set(with_testset, tmp_path) -> None:
    settings, sessions, questions = with_testset
    encoder = FakeEncoder()
    report = reindex(settings, sessions, encoder, write_source(tmp_path / "same.jsonl", SAMPLE),
                     "default", console=QUIET)
    assert report.build is None and report.gate is None
    asked = {q.query for q in questions}
    assert not asked & set(encoder.encoded_texts)  # no test question was even encoded


def test_calibrated_bands_are_stored_and_served(with_testset) -> None:
    settings, sessions, questions = with_testset
    done = bands.calibrate(settings, sessions, FakeEncoder(), "default", write=True)
    fitted = done.fit
    assert fitted.in_sample["n_questions"] == len(questions)
    assert set(done.recall) == {r.label for r in bands.RANKINGS}
    service = SearchService(settings, FakeEncoder(), sessions)
    served = service.search(SAMPLE[0]["question"], top_k=1)
    assert served.thresholds == fitted.thresholds != FakeEncoder().profile.thresholds
    assert served.ranking == done.ranking
    bands.store(sessions, settings, "default", None, "model")  # back to the prior
    service.registry.refresh()
    assert service.search(SAMPLE[0]["question"], top_k=1).thresholds == FakeEncoder().profile.thresholds


def test_hit_test_files_in_every_accepted_shape(tmp_path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('{"query": "a", "expected_ids": ["x", "y"]}\n{"query": "b", "expected": "none"}\n'
                    '{"query": "c", "expected_id": "z"}\n{"query": "d", "expected_id": null}\n'
                    '{"query": "e", "relevant_ids": ["w"]}\n{"query": "f"}\n', "utf-8")
    parsed = testsets.read_file(path)
    assert [(q.query, q.expected) for q in parsed.questions] == [
        ("a", ("x", "y")), ("b", ()), ("c", ("z",)), ("d", ()), ("e", ("w",))]
    assert parsed.errors == [f"{path}:6: name the answer: 'expected_ids': [...], or 'expected': 'none'"]
    path.write_text('{"query": "a", "expected": "none"}\n{"query": "\\u200b\\u3000", "expected": "none"}\n',
                    "utf-8")  # blank once normalised: no question to search
    assert testsets.read_file(path).errors == [f"{path}:2: 'query' is empty after normalisation"]
    path.write_text('{"query": "a", "expected": "none"}\nnot json\n', "utf-8")
    assert testsets.read_file(path).errors == [
        f"{path}:2: not a JSON object (Expecting value at column 1); each line is one JSON object"]


def test_a_collection_ranking_is_served_where_the_server_can(with_testset) -> None:
    """A stored ranking orders the hits; a dense-only server, which has no BM25 index,
    keeps ranking by the cosine."""
    settings, sessions, _ = with_testset
    prior = FakeEncoder().profile.thresholds
    bands.store(sessions, settings, "default", prior, "manual", ranking=Ranking("lexical", 0.0))
    lexical = SearchService(settings, FakeEncoder(), sessions).search(SAMPLE[0]["question"], top_k=3)
    assert lexical.ranking == Ranking("lexical", 0.0)
    assert lexical.hits[0].rank_score > 1.0  # a BM25 score, not a cosine
    dense_only = settings.model_copy(update={"retrieval_mode": "dense"})
    dense = SearchService(dense_only, FakeEncoder(), sessions).search(SAMPLE[0]["question"], top_k=3)
    assert dense.ranking == Ranking("dense", settings.hybrid_weight)
    assert dense.hits[0].rank_score <= 1.0  # the entry's merged cosines
    bands.store(sessions, settings, "default", prior, "manual", keep_ranking=True)
    with sessions() as session:
        assert repository.get_collection(session, "default").bands["ranking"]["mode"] == "lexical"


def test_a_borrowed_session_hands_out_the_open_transaction_and_leaves_it_open(with_testset) -> None:
    """What the gate lends the search side: begin() writes into the reindex's transaction,
    which commits or rolls back with the build, not when the block ends."""
    _, sessions, questions = with_testset
    with sessions() as session:
        coll_id = repository.get_collection(session, "default").id
        with Borrowed(session).begin() as lent:
            assert lent is session
            testsets.add(lent, coll_id, [testsets.Labelled("新的问题", ())])
        assert session.in_transaction()
        assert len(testsets.load(session, coll_id)) == len(questions) + 1
        session.rollback()
    with sessions() as session:
        assert len(testsets.load(session, coll_id)) == len(questions)
