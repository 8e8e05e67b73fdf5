"""Milvus as the vector store (Milvus Lite, the fake encoder): same ids, results and
filters as FAISS, read-after-write, the consistency guard, alias swaps and pruning."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy import select, update

from indexer.activate import activate
from indexer.build import list_builds
from indexer.reindex import reindex
from indexer.writer import DocumentWriter
from search import milvus_store
from search.builds import active_build
from search.documents import FaqEntry
from search.errors import ConfigError, IndexCorruptError, IndexMismatchError, NotReadyError
from search.milvus_builds import alias_target
from search.service import SearchFilters, SearchService
from search.store import repository
from search.store.db import open_database
from search.store.models import Collection, IndexBuild
from tests.conftest import FakeEncoder
from tests.indexer.test_reindex import QUIET, SAMPLE, write_source
from tests.scale.conftest import make_settings

QUERIES = [SAMPLE[i]["similar_questions"][0] for i in range(0, 60, 6)] + ["退款多久到账", "密码忘了"]


def indexed(tmp_path, postgres, store: str, rows=SAMPLE, database: str = "sqlite", **extra):
    settings = make_settings(tmp_path / store, postgres, database, store, **extra)
    sessions = open_database(settings.resolved_database_url)
    reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / f"{store}.jsonl", rows),
            "default", console=QUIET)
    return settings, sessions, SearchService(settings, FakeEncoder(), sessions)


def milvus_names(settings) -> tuple[str, str | None, list[str]]:
    """(alias, the collection it names, every collection of this database)."""
    client = milvus_store.client(settings)
    sessions = open_database(settings.resolved_database_url)
    with sessions() as session:
        coll = repository.get_collection(session, "default")
    alias = milvus_store.alias_name(settings.milvus_prefix, coll)
    return alias, alias_target(client, alias), sorted(
        n for n in client.list_collections() if n.startswith(alias))


def ranked(service: SearchService, query: str, **filters) -> list[tuple[str, float]]:
    hits = service.search(query, top_k=5, filters=SearchFilters(**filters)).hits
    return [(h.external_id, round(h.score, 4)) for h in hits]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_milvus_serves_the_same_ids_scores_and_filters_as_faiss(tmp_path, postgres, database) -> None:
    settings, sessions, milvus = indexed(tmp_path, postgres, "milvus", database=database)
    _, _, faiss = indexed(tmp_path, postgres, "faiss", database=database)
    with sessions() as session:
        build = active_build(session, repository.get_collection(session, "default").id)
    alias, target, names = milvus_names(settings)
    assert build.backend == "milvus" and build.sha256 == "-" and build.index_kind == "milvus:FLAT"
    assert target == build.file and names == [build.file]
    assert milvus.registry.get("default").size == build.vector_count
    for query in QUERIES:
        assert ranked(milvus, query) == ranked(faiss, query), query
    assert ranked(milvus, "密码忘了", category="物流") == ranked(faiss, "密码忘了", category="物流")
    assert ranked(milvus, "退款", tags=("防诈骗",)) == ranked(faiss, "退款", tags=("防诈骗",))


def test_a_milvus_build_saves_the_densities_a_faiss_build_would(tmp_path, postgres) -> None:
    """Every passage's hubness density is computed by the reindex and saved beside the
    Milvus build, equal to a FAISS build's (both exact here): a search makes one vector
    search, none for densities."""
    from search import builds, hubness

    densities = {}
    for store in ("milvus", "faiss"):
        settings, sessions, service = indexed(tmp_path, postgres, store)
        with sessions() as session:
            build = active_build(session, repository.get_collection(session, "default").id)
            assert build is not None
            ids, values, _ = hubness.load(builds.side_file(settings.data_dir, build, "density"))
        assert len(ids) == build.vector_count
        densities[store] = dict(zip(ids.tolist(), values.tolist()))
        if store == "milvus":
            served = service.registry.get("default")
            calls = []
            real = served.search
            served.search = lambda *a, **kw: calls.append(1) or real(*a, **kw)  # type: ignore[method-assign]
            service.search("退款多久到账", top_k=5)
            assert calls == [1]
    milvus, faiss = (sorted(densities[s].values()) for s in ("milvus", "faiss"))
    assert milvus == pytest.approx(faiss, abs=1e-5)


def test_filters_run_inside_milvus(tmp_path, postgres) -> None:
    settings, sessions, service = indexed(tmp_path, postgres, "milvus")
    store = service.registry.get("default")
    vector = FakeEncoder().encode_queries(["密码忘了"])
    _, ids = store.search(vector, 50, None, category="物流")  # no id list: Milvus filters
    found = [int(i) for i in ids[0] if i >= 0]
    with sessions() as session:
        rows = repository.hit_rows(session.connection(), found).values()
        by_category = repository.filtered_passage_ids(
            session, repository.get_collection(session, "default").id, "物流", [])
    assert found and {r.category for r in rows} == {"物流"}
    assert len(found) == min(50, len(by_category))
    _, ids = store.search(vector, 50, None, tags=("防诈骗",))
    with sessions() as session:
        docs = repository.hit_rows(session.connection(), [int(i) for i in ids[0] if i >= 0]).values()
    assert docs and all("防诈骗" in d.tags for d in docs)
    hits = service.search("快递", top_k=5, filters=SearchFilters(category="物流")).hits
    assert len(hits) == 5 and {h.category for h in hits} == {"物流"}


def test_a_write_is_visible_at_once_and_to_another_worker(tmp_path, postgres) -> None:
    settings, sessions, first = indexed(tmp_path, postgres, "milvus")
    second = SearchService(settings, FakeEncoder(), sessions)  # another worker: own watermark
    second.registry.get("default")
    writer = DocumentWriter(settings, FakeEncoder(), sessions)
    entry = FaqEntry("new-1", "数字人民币可以付款吗", similar_questions=["能用数币支付吗"],
                     category="支付", tags=["数币"])
    result = writer.upsert("default", entry)
    first.registry.refresh()  # what the API does after a write: upsert into Milvus
    assert first.search("数字人民币可以付款吗", top_k=1).hits[0].external_id == "new-1"
    # The other worker searches the same Milvus collection: Strong consistency shows it
    # the vectors before it has even replayed the log itself ...
    store = second.registry.get("default")
    _, ids = store.search(FakeEncoder().encode_queries(["数字人民币可以付款吗"]), 3)
    assert set(result.added) & set(ids[0].tolist())
    assert store.present(result.added) == set(result.added)
    second.registry.refresh()  # ... and replaying finds them there (no second write)
    assert second.search("数字人民币可以付款吗", top_k=1).hits[0].external_id == "new-1"
    assert store.size == first.registry.get("default").size
    assert ranked(second, "数币", tags=("数币",))[0][0] == "new-1"
    writer.delete("default", "new-1")
    second.registry.refresh()
    assert first.registry.get("default").present(result.added) == set()
    assert "new-1" not in {h.external_id for h in first.search("数字人民币可以付款吗", top_k=5).hits}


def test_the_guard_checks_model_collection_and_count(tmp_path, postgres) -> None:
    settings, sessions, _ = indexed(tmp_path, postgres, "milvus", rows=SAMPLE[:20])
    with pytest.raises(NotReadyError, match="model_id: build has 'fake-model', configured 'other'"):
        SearchService(settings, FakeEncoder(model_id="other"), sessions).search("退款", top_k=1)
    with sessions.begin() as session:
        session.execute(update(IndexBuild).values(vector_count=IndexBuild.vector_count + 100))
    with pytest.raises(NotReadyError, match=r"holds \d+ vectors; the database recorded"):
        SearchService(settings, FakeEncoder(), sessions).search("退款", top_k=1)
    with sessions.begin() as session:
        session.execute(update(IndexBuild).values(vector_count=IndexBuild.vector_count - 100))
        build = session.scalar(select(IndexBuild).where(IndexBuild.active.is_(True)))
    faiss = settings.model_copy(update={"vector_store": "faiss"})
    with pytest.raises(NotReadyError, match="is a milvus build but SEMSEARCH_VECTOR_STORE=faiss"):
        SearchService(faiss, FakeEncoder(), sessions).search("退款", top_k=1)
    milvus_store.client(settings).drop_collection(build.file)
    with pytest.raises(NotReadyError, match=f"Milvus collection {build.file} is missing"):
        SearchService(settings, FakeEncoder(), sessions).search("退款", top_k=1)


def test_switching_the_store_makes_reindex_build_for_it(tmp_path, postgres) -> None:
    settings, sessions, _ = indexed(tmp_path, postgres, "faiss", rows=SAMPLE[:20])
    milvus = settings.model_copy(update={"vector_store": "milvus"})
    report = reindex(milvus, sessions, FakeEncoder(), write_source(tmp_path / "s.jsonl", SAMPLE[:20]),
                     "default", console=QUIET)
    assert report.build is not None and report.build.kind == "milvus:FLAT"
    assert SearchService(milvus, FakeEncoder(), sessions).search(
        SAMPLE[3]["question"], top_k=1).hits[0].external_id == SAMPLE[3]["id"]


def test_reindex_moves_the_alias_prunes_and_rolls_back(tmp_path, postgres) -> None:
    settings, sessions, service = indexed(tmp_path, postgres, "milvus", rows=SAMPLE[:20],
                                          keep_builds=2)
    first = service.registry.get("default")
    for n in (21, 22):  # two more builds, each adding an entry
        reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / f"{n}.jsonl", SAMPLE[:n]),
                "default", console=QUIET)
    builds = [b for b, _ in list_builds(sessions, "default")]
    alias, target, names = milvus_names(settings)
    assert [b.active for b in builds] == [True, False] and target == builds[0].file
    assert names == sorted(b.file for b in builds)  # the first build's collection is gone
    # The first registry still holds the pruned collection: its searches use the alias.
    assert first.search(FakeEncoder().encode_queries([SAMPLE[21]["question"]]), 1)[1][0][0] >= 0
    service.registry.refresh()
    assert service.registry.get("default").info.build_id == builds[0].id
    # Roll back to the older build: the entries it was made from are served again, so an
    # entry written since (online or by the later reindex) is gone.
    writer = DocumentWriter(settings, FakeEncoder(), sessions)
    writer.upsert("default", FaqEntry("late-1", "发票可以寄到公司吗", category="支付"))
    done = activate(sessions, builds[1].id, settings, load_encoder=FakeEncoder)
    assert sorted(done.plan.deleted) == sorted(["late-1", SAMPLE[21]["id"]])
    assert milvus_names(settings)[1] == builds[1].file
    service.registry.refresh()
    assert service.registry.get("default").info.build_id == builds[1].id
    found = [h.external_id for h in service.search("发票可以寄到公司吗", top_k=30).hits]
    assert "late-1" not in found and SAMPLE[21]["id"] not in found and len(found) == 21


def test_documents_written_before_any_build_are_served(tmp_path, postgres) -> None:
    settings = make_settings(tmp_path, postgres, "sqlite", "milvus")
    sessions = open_database(settings.resolved_database_url)
    from indexer import collections

    assert collections.create(sessions, "default", settings)  # explicitly, before any write
    writer = DocumentWriter(settings, FakeEncoder(), sessions)
    writer.upsert("default", FaqEntry("only-1", "会员到期了怎么续费", category="会员"))
    service = SearchService(settings, FakeEncoder(), sessions)
    assert service.search("会员到期了怎么续费", top_k=1).hits[0].external_id == "only-1"
    alias, target, names = milvus_names(settings)
    assert target == milvus_store.live_name(alias)
    reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "a.jsonl", SAMPLE[:5]),
            "default", console=QUIET)
    alias, target, names = milvus_names(settings)
    assert names == [target] and target != milvus_store.live_name(alias)  # live one dropped
    service.registry.refresh()
    assert service.search("会员到期了怎么续费", top_k=1).hits[0].external_id == "only-1"


def test_milvus_names_are_keyed_on_the_database(tmp_path, postgres) -> None:
    """Two metadata databases (a deployment and an evaluation's scratch one) sharing a
    Milvus server never share a collection, even with the same collection name and id."""
    a, sa, _ = indexed(tmp_path / "a", postgres, "milvus", rows=SAMPLE[:3])
    b, sb, _ = indexed(tmp_path / "b", postgres, "milvus", rows=SAMPLE[:3])
    with sa() as one, sb() as two:
        first, second = one.get(Collection, 1), two.get(Collection, 1)
        assert (first.name, first.id) == (second.name, second.id)
        assert milvus_store.alias_name("semsearch", first) != milvus_store.alias_name("semsearch", second)
        assert milvus_store.alias_name("semsearch", first).startswith("semsearch_default_")


def test_filter_literals_are_escaped() -> None:
    expr = milvus_store.filter_expression('物流"x\\y', ("a'b", "防诈骗"))
    assert expr == 'category == "物流\\"x\\\\y" and array_contains_all(tags, ["a\'b", "防诈骗"])'
    assert milvus_store.filter_expression(None, (), np.array([3, 4])) == "id in [3, 4]"


def test_a_lite_file_held_by_another_process_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "held.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pymilvus import MilvusClient; "
         f"MilvusClient({str(path)!r}); print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        settings = make_settings(tmp_path, None, "sqlite", "milvus", milvus_uri=str(path))  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="open in another process"):
            milvus_store.client(settings)
    finally:
        holder.kill()
        holder.wait()


def test_a_non_db_lite_path_is_refused(tmp_path, postgres) -> None:
    settings = make_settings(tmp_path, postgres, "sqlite", "milvus", milvus_uri=str(tmp_path / "x"))
    with pytest.raises(ConfigError, match="must end in .db"):
        milvus_store.client(settings)


def test_mismatch_error_is_raised_by_open_build_directly(tmp_path, postgres) -> None:
    from search.builds import identity_for
    from search.milvus_builds import open_build, session_metadata

    settings, sessions, _ = indexed(tmp_path, postgres, "milvus", rows=SAMPLE[:5])
    with sessions() as session:
        coll = repository.get_collection(session, "default")
        build = active_build(session, coll.id)
        with pytest.raises(IndexMismatchError, match="dim: build has 64, configured 32"):
            open_build(build, coll, session, settings, identity_for(FakeEncoder(dim=32)),
                       session_metadata(sessions))
        milvus_store.client(settings).drop_collection(build.file)
        with pytest.raises(IndexCorruptError, match="is missing"):
            open_build(build, coll, session, settings, identity_for(FakeEncoder()),
                       session_metadata(sessions))


def test_eval_retrieval_builds_into_a_scratch_milvus_lite(tmp_path, postgres) -> None:
    """`semsearch eval retrieval` honours the store: a Milvus Lite file in its temporary
    directory, never the configured one, with the same results as FAISS."""
    from indexer import milvus_build
    from indexer.evaluate import evaluate_retrieval
    from search.config import get_settings
    from tests.conftest import REPO

    corpus, queries = REPO / "data" / "faq_sample.jsonl", REPO / "data" / "faq_sample_queries.jsonl"
    faiss = make_settings(tmp_path / "f", postgres, "sqlite", "faiss")
    milvus = make_settings(tmp_path / "m", postgres, "sqlite", "milvus")
    reference = evaluate_retrieval(faiss, FakeEncoder(), corpus, queries, limit=40)
    used: list[str] = []
    real = milvus_build.build_milvus
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEMSEARCH_VECTOR_STORE", "milvus")  # what the CLI's settings say
        patch.setattr(milvus_build, "build_milvus",
                      lambda *a, **k: used.append(a[3].resolved_milvus_uri) or real(*a, **k))
        get_settings.cache_clear()
        try:
            runs = evaluate_retrieval(milvus, FakeEncoder(), corpus, queries, limit=40)
        finally:
            get_settings.cache_clear()
    assert len(used) == 1 and "semsearch-eval-" in used[0] and used[0].endswith("milvus.db")
    assert not (milvus.data_dir / "milvus.db").exists()
    assert runs[0].metrics == reference[0].metrics


def test_a_lost_milvus_collection_is_rebuilt_from_the_database(tmp_path, postgres) -> None:
    settings, sessions, _ = indexed(tmp_path, postgres, "milvus", rows=SAMPLE[:10])
    source = write_source(tmp_path / "same.jsonl", SAMPLE[:10])
    with sessions() as session:
        build = active_build(session, repository.get_collection(session, "default").id)
    milvus_store.client(settings).drop_collection(build.file)
    service = SearchService(settings, FakeEncoder(), sessions)
    with pytest.raises(NotReadyError, match="is missing"):
        service.search("退款", top_k=1)
    assert reindex(settings, sessions, FakeEncoder(), source, "default", console=QUIET).build is None
    report = reindex(settings, sessions, FakeEncoder(), source, "default", rebuild=True, console=QUIET)
    assert report.build is not None and report.build.vectors == build.vector_count
    service.registry.refresh()
    assert service.search(SAMPLE[4]["question"], top_k=1).hits[0].external_id == SAMPLE[4]["id"]


def test_only_the_milvus_store_module_imports_pymilvus() -> None:
    from tests.conftest import REPO
    from tests.test_architecture import _files, _imports

    users = [str(p.relative_to(REPO)) for pkg in ("search", "indexer", "api")
             for p in _files(pkg) if _imports(p) & {"pymilvus", "milvus_lite"}]
    assert users == ["search/milvus_store.py"]


def test_the_milvus_client_never_pings_an_idle_connection(tmp_path, monkeypatch) -> None:
    """A gRPC server with the default policy (Milvus Lite's) sends GOAWAY "too_many_pings"
    to a client that pings idle connections more often than every 5 minutes, as pymilvus
    does by default (every 10 s): the client must ask for less."""
    import pymilvus

    seen: dict = {}
    monkeypatch.setattr(pymilvus, "MilvusClient", lambda **kwargs: seen.update(kwargs) or object())
    milvus_store._connect(str(tmp_path / "m.db"), "", "", 5.0)
    options = seen["grpc_options"]
    assert not options["grpc.keepalive_permit_without_calls"]
    assert options["grpc.keepalive_time_ms"] >= 300_000
