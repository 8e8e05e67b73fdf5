from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from indexer.activate import activate
from indexer.build import list_builds
from indexer.reindex import reindex
from search.errors import SourceError
from search.service import SearchService
from search.store.db import open_database
from tests.conftest import REPO

SAMPLE = [json.loads(line) for line in (REPO / "data" / "faq_sample.jsonl").read_text("utf-8").splitlines()]
QUIET = Console(file=open("/dev/null", "w"))


def write_source(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def passage_texts(service: SearchService) -> set[str]:
    from search.store import repository

    with service.sessions() as session:
        coll = repository.get_collection(session, "default")
        return {text for _, _, text in repository.all_passages(session, coll.id)}


@pytest.fixture
def indexed(settings, fake_encoder, tmp_path):
    sessions = open_database(settings.resolved_database_url)
    source = write_source(tmp_path / "faq.jsonl", SAMPLE)
    report = reindex(settings, sessions, fake_encoder, source, "default", console=QUIET)
    assert report.build is not None and len(report.plan.new) == len(SAMPLE)
    return settings, sessions, fake_encoder, SearchService(settings, fake_encoder, sessions)


def top(service: SearchService, query: str) -> str | None:
    service.registry.refresh()
    hits = service.search(query, top_k=1).hits
    return hits[0].external_id if hits else None


def test_first_reindex_indexes_questions_and_similar_questions(indexed) -> None:
    _, _, encoder, service = indexed
    expected = {q for r in SAMPLE for q in [r["question"], *r["similar_questions"]]}
    assert len(encoder.encoded_texts) == len(passage_texts(service)) <= len(expected)
    assert top(service, SAMPLE[0]["similar_questions"][0]) == SAMPLE[0]["id"]


def test_incremental_reindex_encodes_only_new_texts(indexed, tmp_path) -> None:
    settings, sessions, encoder, service = indexed
    before = passage_texts(service)
    rows = [dict(r) for r in SAMPLE]
    for r in rows[:10]:  # change 10: a fresh similar question each
        r["similar_questions"] = [*r["similar_questions"], f"全新的说法{r['id']}号问题"]
    deleted = [r["id"] for r in rows[-3:]]
    rows = rows[:-3] + [{"id": f"new-{i}", "question": f"新增的问题编号{i}关于发票抬头",
                         "answer": "答案", "category": "支付"} for i in range(5)]
    encoder.calls.clear()
    report = reindex(settings, sessions, encoder, write_source(tmp_path / "v2.jsonl", rows),
                     "default", full=True, console=QUIET)
    assert (len(report.plan.new), len(report.plan.changed), len(report.plan.deleted)) == (5, 10, 3)
    assert set(encoder.encoded_texts) == passage_texts(service) - before  # nothing re-embedded
    assert len(encoder.encoded_texts) == 15
    assert top(service, f"全新的说法{rows[3]['id']}号问题") == rows[3]["id"]
    assert top(service, "新增的问题编号2关于发票抬头") == "new-2"
    found = {h.external_id for h in service.search(SAMPLE[-1]["question"], top_k=100).hits}
    assert not found & set(deleted)


def test_unchanged_source_does_nothing(indexed, tmp_path) -> None:
    settings, sessions, encoder, _ = indexed
    encoder.calls.clear()
    report = reindex(settings, sessions, encoder, write_source(tmp_path / "same.jsonl", SAMPLE),
                     "default", console=QUIET)
    assert report.plan.writes == 0 and report.build is None and encoder.calls == []


def test_invalid_rows_change_nothing_unless_skipped(indexed, tmp_path) -> None:
    settings, sessions, encoder, service = indexed
    rows = [{"id": "fresh", "question": "一个新问题"}, {"id": "bad"}, *SAMPLE]
    source = write_source(tmp_path / "bad.jsonl", rows)
    with pytest.raises(SourceError, match=rf"{source}:2: missing 'question'"):
        reindex(settings, sessions, encoder, source, "default", console=QUIET)
    assert top(service, "一个新问题") != "fresh"
    report = reindex(settings, sessions, encoder, source, "default", skip_invalid=True,
                     console=QUIET)
    assert report.skipped == 1 and top(service, "一个新问题") == "fresh"


def test_builds_are_kept_and_can_be_rolled_back(indexed, tmp_path) -> None:
    settings, sessions, encoder, service = indexed
    first = service.registry.get("default").info.build_id
    for i in range(4):
        rows = SAMPLE + [{"id": f"x{i}", "question": f"第{i}个临时问题"}]
        reindex(settings, sessions, encoder, write_source(tmp_path / f"{i}.jsonl", rows),
                "default", full=True, console=QUIET)
    builds = [b for b, name in list_builds(sessions, "default") if name == "default"]
    assert len(builds) == settings.keep_builds and builds[0].active
    files = sorted(p.name for p in (settings.data_dir / "builds").glob("*.faiss"))
    assert files == sorted(Path(b.file).name for b in builds)
    lexical = sorted(p.name for p in (settings.data_dir / "builds").glob("*.lexical.npz"))
    assert lexical == sorted(Path(b.file).name + ".lexical.npz" for b in builds)  # pruned alike
    oldest = builds[-1]  # made from SAMPLE + x1; x3 came later
    done = activate(sessions, oldest.id, settings, load_encoder=lambda: encoder)
    assert (len(done.plan.new), len(done.plan.deleted)) == (1, 1)
    service.registry.refresh()
    assert service.registry.get("default").info.build_id == oldest.id != first
    assert top(service, "第1个临时问题") == "x1"  # the build's entries are served again
    assert top(service, "第3个临时问题") != "x3"


def test_each_build_saves_its_lexical_index_and_a_server_starts_from_it(indexed, tmp_path,
                                                                        monkeypatch, caplog) -> None:
    """A server reads the build's saved BM25 index instead of tokenising every passage; a
    damaged file is tokenised again with a warning, giving the same ranking; the next
    build tokenises only the passages that are new."""
    from search import lexical

    settings, sessions, encoder, service = indexed
    query = SAMPLE[5]["similar_questions"][0]
    expected = [(h.external_id, h.rank_score) for h in service.search(query, top_k=5).hits]
    seen: list[str] = []
    real = lexical.tokenize
    monkeypatch.setattr(lexical, "tokenize", lambda text: seen.append(text) or real(text))

    fresh = SearchService(settings, encoder, sessions)
    fresh.registry.refresh()
    assert seen == []  # nothing tokenised at start-up
    assert [(h.external_id, h.rank_score) for h in fresh.search(query, top_k=5).hits] == expected

    seen.clear()
    saved = next((settings.data_dir / "builds").glob("*.lexical.npz"))
    saved.write_bytes(saved.read_bytes()[:200])
    damaged = SearchService(settings, encoder, sessions)
    damaged.registry.refresh()
    assert sorted(seen) == sorted(text for _, _, text in repository_passages(sessions))
    assert "cannot be read" in caplog.text
    assert [(h.external_id, h.rank_score) for h in damaged.search(query, top_k=5).hits] == expected

    rows = SAMPLE + [{"id": "lex-new", "question": "电子发票能不能重新开一张"}]
    reindex(settings, sessions, encoder, write_source(tmp_path / "v2.jsonl", rows), "default",
            full=True, console=QUIET)  # the damaged file is not reused: everything again
    seen.clear()
    rows.append({"id": "lex-newer", "question": "退货的运费谁来出"})
    reindex(settings, sessions, encoder, write_source(tmp_path / "v3.jsonl", rows), "default",
            full=True, console=QUIET)
    assert seen == ["退货的运费谁来出"]  # the rest came from the previous build's file
    assert top(service, "退货的运费谁来出") == "lex-newer"


def test_questions_and_answers_are_encoded_and_cached_in_their_roles(settings, tmp_path) -> None:
    from sqlalchemy import func, select

    from search.builds import active_build
    from search.store import repository
    from search.store.models import EmbeddingCache
    from search.text import normalize
    from tests.conftest import FakeEncoder

    settings = settings.model_copy(update={"index_kinds": "question,similar,answer"})
    encoder = FakeEncoder(question_prefix="问：")
    sessions = open_database(settings.resolved_database_url)
    rows = SAMPLE[:5]
    reindex(settings, sessions, encoder, write_source(tmp_path / "faq.jsonl", rows), "default",
            console=QUIET)
    encoded = {(role, t) for role, call in zip(encoder.roles, encoder.calls) for t in call}
    with sessions() as session:
        coll = repository.get_collection(session, "default")
        stored = repository.all_passages(session, coll.id)
        spaces = dict(session.execute(select(EmbeddingCache.model_id, func.count())
                                      .group_by(EmbeddingCache.model_id)).all())
        build = active_build(session, coll.id)
    questions = {t for _, kind, t in stored if kind in ("question", "similar")}
    passages = {t for _, kind, t in stored if kind in ("answer", "chunk")}
    assert questions >= {normalize(r["question"]) for r in rows} and passages
    assert {t for role, t in encoded if role == "question"} == questions
    assert {t for role, t in encoded if role == "passage"} == passages
    assert spaces == {"fake-model|问：": len(questions), "fake-model": len(passages)}
    assert build.normalization.endswith(encoder.profile.stored_prefixes())
    # a search scores every passage with the vector it was indexed with, of its own role
    service = SearchService(settings, encoder, sessions)
    assert top(service, rows[0]["question"]) == rows[0]["id"]
    ids = np.array([pid for pid, _, _ in stored])
    served, held = service.registry.get("default").vectors(ids)
    roles = [encoder.encode([t], "question" if k in ("question", "similar") else "passage").vectors[0]
             for _, k, t in stored]
    assert held.all() and np.allclose(served, np.stack(roles), atol=1e-6)
    # the same model with questions encoded as passages is another configuration
    plain = FakeEncoder()
    from search.builds import identity_for, is_current

    with sessions() as session:
        coll = repository.get_collection(session, "default")
        assert is_current(session, coll.id, identity_for(encoder))
        assert not is_current(session, coll.id, identity_for(plain))


def test_entries_stored_under_other_expansion_rules_are_expanded_again(indexed, tmp_path) -> None:
    """Changing what is indexed (here: answers too) re-expands every entry on the next
    reindex, although the source did not change."""
    settings, sessions, encoder, service = indexed
    with_answers = settings.model_copy(update={"index_kinds": "question,similar,answer"})
    report = reindex(with_answers, sessions, encoder, write_source(tmp_path / "same.jsonl", SAMPLE),
                     "default", console=QUIET)
    assert len(report.plan.changed) == len(SAMPLE) and report.build is not None
    kinds = {kind for _, kind, _ in repository_passages(sessions)}
    assert kinds & {"answer", "chunk"}  # answers are indexed now (long ones in chunks)
    again = reindex(with_answers, sessions, encoder, write_source(tmp_path / "same.jsonl", SAMPLE),
                    "default", console=QUIET)
    assert again.plan.writes == 0 and again.build is None


def repository_passages(sessions):
    from search.store import repository

    with sessions() as session:
        return repository.all_passages(session, repository.get_collection(session, "default").id)


def test_new_entries_are_written_in_bulk_and_an_online_write_in_between_is_kept(settings) -> None:
    """A reindex plans entries as new, an API write inserts one of them before the
    reindex writes: the bulk insert upserts that one instead of failing, and every
    passage is in the change log, so a server follows all of it."""
    from sqlalchemy import func, select

    from indexer.writer import DocumentWriter
    from search.documents import FaqEntry
    from search.store import repository
    from search.store.models import Change, Passage
    from tests.conftest import FakeEncoder

    sessions = open_database(settings.resolved_database_url)
    writer = DocumentWriter(settings, FakeEncoder(), sessions)
    entries = [FaqEntry(f"e{i}", f"问题{i}", f"答案{i}", [f"问法{i}"], tags=["标签", "标签"])
               for i in range(1500)]
    with sessions.begin() as session:
        repository.ensure_collection(session, "default")
    plan = writer.plan("default", entries, full=False)
    assert len(plan.new) == 1500
    prepared = writer.prepare(plan)
    writer.upsert("default", FaqEntry("e7", "在线写入的问题"))  # arrives after the plan
    with sessions.begin() as session:
        coll = repository.get_collection(session, "default")
        writer.write(session, coll.id, prepared)
    with sessions() as session:
        coll = repository.get_collection(session, "default")
        assert repository.get_document(session, coll.id, "e7").question == "问题7"  # the reindex's
        assert repository.get_document(session, coll.id, "e1499").tags == ["标签", "标签"]
        passages = session.scalar(select(func.count()).select_from(Passage))
        logged = session.scalar(select(func.count()).select_from(Change).where(Change.op == "add"))
        assert passages == 3000 and logged == 3000 + 1  # e7's online passage was logged too
        hashes = repository.document_hashes(session, coll.id)
    assert hashes == {e.external_id: writer.digest(e) for e in entries}
