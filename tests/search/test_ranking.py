"""The hybrid ranking (hubness correction, BM25 blend) and ambiguous `high` matches."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.reindex import reindex
from search.hubness import DensityCache, neighbour_density
from search.store import repository
from search import index as faiss_index
from search.service import SearchFilters, SearchService
from search.store.db import open_database
from search.vectorstore import BuildInfo, FaissCollectionIndex
from tests.conftest import REPO, FakeEncoder
from tests.indexer.test_reindex import QUIET, SAMPLE, write_source


def test_density_skips_the_entry_itself_and_empty_slots() -> None:
    scores = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.0])
    ids = np.array([5, 6, 7, 8, 9, -1])
    assert neighbour_density(scores, ids, {5, 6}, k=2) == pytest.approx(0.75)
    assert neighbour_density(scores, ids, {5, 6, 7, 8, 9}, k=3) == 0.0


class CountingStore(FaissCollectionIndex):
    searches = 0

    def search(self, queries, k, allowed=None, **kw):
        self.searches += 1
        return super().search(queries, k, allowed, **kw)


def test_densities_are_kept_for_the_build_and_computed_for_written_passages(monkeypatch) -> None:
    from search import hubness

    monkeypatch.setattr(hubness, "DRIFT", 0.1)  # 2 of 21 passages may change
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    base = faiss_index.new_flat(8)
    faiss_index.add(base, vectors, np.arange(20))
    store = CountingStore(base, BuildInfo(1, 1, "m", 8, "Flat", 0, 20, 0))
    cache = DensityCache()
    wanted, owners = np.arange(3), np.arange(3)  # each passage its own entry

    def densities(pids, vecs, own):
        return cache.densities(store, np.asarray(pids), np.asarray(vecs), np.asarray(own), k=3).tolist()
    first = densities(wanted, vectors[:3], owners)
    exact = np.sort(np.delete(vectors @ vectors[0], 0))[::-1][:3].mean()
    assert first[0] == pytest.approx(exact, abs=1e-5)
    assert densities(wanted, vectors[:3], owners) == first and store.searches == 1
    store.add(np.array([100]), vectors[:1] * 0 + vectors[0])  # a twin of passage 0 arrives
    store.change_seq += 1
    assert densities(wanted, vectors[:3], owners) == first and store.searches == 1
    twin = densities([100], vectors[:1], [100])
    assert store.searches == 2 and twin[0] > first[0]  # the written passage: its own density
    store.change_seq += 2  # more writes than DRIFT allows: all again
    again = densities(wanted, vectors[:3], owners)
    assert store.searches == 3 and again[0] > first[0]
    store.info = BuildInfo(2, 1, "m", 8, "Flat", 0, 21, 0)  # a new build: all again
    densities(wanted, vectors[:3], owners)
    assert store.searches == 4


def test_a_build_saves_the_densities_a_search_would_compute(settings, fake_encoder, tmp_path: Path,
                                                            monkeypatch) -> None:
    """Every passage's density is computed with the build, equal to the query-time one
    (siblings left out), and a server that read them makes no search for densities."""
    import json

    from search import builds, hubness
    from tests.conftest import REPO

    rows = [json.loads(line) for line in (REPO / "data" / "faq_sample.jsonl").read_text("utf-8").splitlines()]
    sessions = open_database(settings.resolved_database_url)
    reindex(settings, sessions, fake_encoder, write_source(tmp_path / "faq.jsonl", rows[:60]),
            "default", console=QUIET)
    service = SearchService(settings, fake_encoder, sessions)
    service.search(rows[0]["question"])
    store = service.registry.get("default")
    with sessions() as session:
        build = builds.active_build(session, store.info.collection_id)
        assert build is not None
        ids, saved, k = hubness.load(builds.side_file(settings.data_dir, build, "density"))
        documents = dict(repository.passage_documents(session, store.info.collection_id))
        texts = repository.passages_by_id(session, ids.tolist())
    assert k == settings.hubness_k and len(ids) == store.size
    owners = np.array([documents[int(p)] for p in ids])
    vectors = fake_encoder.encode_queries([texts[int(p)][2] for p in ids])
    fresh = DensityCache().densities(store, ids, vectors, owners, k)  # as a search computes them
    assert np.allclose(fresh, saved, atol=1e-6)
    searched = []
    real_search = store.search
    monkeypatch.setattr(store, "search", lambda *a, **kw: searched.append(1) or real_search(*a, **kw))
    assert service.registry.density.densities(store, ids, vectors, owners, k) == pytest.approx(saved)
    assert searched == []


class TableEncoder(FakeEncoder):
    """Vectors given per text, to place a hub and a specific entry exactly."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        super().__init__(dim=4)
        self.table = table

    def _vector(self, text: str) -> np.ndarray:
        v = np.asarray(self.table[text.removeprefix(self.profile.prefix("query"))], np.float32)
        return v / np.linalg.norm(v)


HUB, TARGET, QUERY = "退款怎么办", "退款到银行卡要多久", "退到卡上要几天"
TABLE = {
    HUB: [1.0, 0.0, 0.0, 0.0],
    "退款失败怎么办": [1.0, 0.25, 0.0, 0.0], "退款去哪里看": [1.0, -0.25, 0.0, 0.0],
    "退款能取消吗": [1.0, 0.0, 0.25, 0.0], "退款会退运费吗": [1.0, 0.0, -0.25, 0.0],
    TARGET: [0.8, 0.0, 0.0, 0.6],
    QUERY: [0.95, 0.0, 0.0, 0.31],  # a little closer to the hub than to its answer
}


@pytest.fixture
def hub_service(settings, tmp_path: Path):
    encoder = TableEncoder(TABLE)
    rows = [{"id": f"e{i}", "question": q, "answer": "…"} for i, q in enumerate(TABLE) if q != QUERY]
    sessions = open_database(settings.resolved_database_url)
    reindex(settings, sessions, encoder, write_source(tmp_path / "faq.jsonl", rows), "default",
            console=QUIET)

    def service(**overrides: object) -> SearchService:
        return SearchService(settings.model_copy(update=overrides), encoder, sessions)
    return service


def test_hybrid_ranking_demotes_a_hub_and_keeps_the_raw_cosine(hub_service) -> None:
    dense = hub_service(retrieval_mode="dense").search(QUERY, top_k=2).hits
    plain = hub_service(retrieval_mode="hybrid", hybrid_weight=0.0, hubness_weight=0.0)
    corrected = hub_service(retrieval_mode="hybrid", hybrid_weight=0.0).search(QUERY, top_k=2).hits
    assert dense[0].question == HUB == plain.search(QUERY, top_k=1).hits[0].question
    assert corrected[0].question == TARGET
    by_question = {h.question: h.score for h in dense}
    assert {h.question: h.score for h in corrected} == by_question  # scores stay cosines


def test_several_high_entries_are_ambiguous(settings, fake_encoder, tmp_path: Path) -> None:
    rows = [{"id": "a", "question": "忘记密码怎么办", "answer": "重置"},
            {"id": "b", "question": "忘记密码怎么办？", "answer": "找回"},
            {"id": "c", "question": "发票怎么开", "answer": "在订单页"}]
    sessions = open_database(settings.resolved_database_url)
    reindex(settings, sessions, fake_encoder, write_source(tmp_path / "faq.jsonl", rows), "default",
            console=QUIET)
    service = SearchService(settings, fake_encoder, sessions)
    twins = service.search("忘记密码怎么办", top_k=3).hits
    assert [h.band for h in twins[:2]] == ["medium", "medium"]
    assert all(h.ambiguous for h in twins[:2]) and twins[0].score >= 0.9
    single = service.search("发票怎么开", top_k=3).hits[0]
    assert single.band == "high" and not single.ambiguous
    assert service.search("忘记密码怎么办", filters=SearchFilters(min_band="high")).hits == []


def test_the_first_hits_do_not_depend_on_top_k(settings, fake_encoder, tmp_path: Path) -> None:
    sessions = open_database(settings.resolved_database_url)
    reindex(settings, sessions, fake_encoder, write_source(tmp_path / "faq.jsonl", SAMPLE),
            "default", console=QUIET)
    service = SearchService(settings, fake_encoder, sessions)
    queries = [json.loads(x)["query"] for x in
               (REPO / "data" / "faq_sample_queries.jsonl").read_text("utf-8").splitlines()]
    for query in queries:
        deep = [h.external_id for h in service.search(query, top_k=20).hits]
        assert [h.external_id for h in service.search(query, top_k=1).hits] == deep[:1], query
        # a deeper search may reach more entries, but never reorders those it shares
        shallow = [h.external_id for h in service.search(query, top_k=5).hits]
        assert shallow == [e for e in deep if e in shallow], query
