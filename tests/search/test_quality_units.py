"""Calibration, fusion and the lexical index (no model needed)."""
from __future__ import annotations

import numpy as np
import pytest

from search.bands import Thresholds
from search.calibration import calibrate, lowest_threshold, table
from search.errors import InvalidInputError
from search.fusion import rank_documents
from search.lexical import LexicalIndex, tokenize


def synthetic_pairs(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.4
    scores = np.where(labels, rng.normal(0.9, 0.04, n), rng.normal(0.8, 0.05, n))
    return scores, labels.astype(float)


def test_each_threshold_is_the_lowest_meeting_its_precision() -> None:
    scores, labels = synthetic_pairs()
    thresholds, rows = calibrate(scores, labels, (0.95, 0.80, 0.50))
    positive = labels > 0.5
    for row, target in zip(rows, (0.95, 0.80, 0.50)):
        above = scores >= row.threshold
        assert positive[above].mean() >= target
        lower = scores[scores < row.threshold].max()  # the next cut down misses the target
        assert positive[scores >= lower].mean() < target or row.band == "low"
    assert thresholds.high > thresholds.medium > thresholds.low
    assert abs(sum(r.share for r in rows) - 1) < 1e-9


def test_a_few_lucky_top_scores_do_not_set_the_threshold() -> None:
    scores = np.array([0.99, 0.98] + [0.5] * 100)
    labels = np.array([1.0, 1.0] + [0.0] * 100)
    with pytest.raises(InvalidInputError, match="no threshold reaches"):
        lowest_threshold(scores, labels > 0.5, 0.95)


def test_calibration_needs_both_kinds_of_pairs() -> None:
    with pytest.raises(InvalidInputError):
        calibrate(np.array([0.9, 0.8]), np.array([1.0, 1.0]))


def test_table_reports_precision_recall_and_share() -> None:
    scores = np.array([0.95, 0.9, 0.85, 0.8, 0.6, 0.4])
    labels = np.array([1, 1, 0, 1, 0, 0]) > 0
    rows = table(scores, labels, Thresholds(0.9, 0.8, 0.5))
    assert [r.band for r in rows] == ["high", "medium", "low", "none"]
    assert rows[0].precision == 1.0 and rows[0].recall == pytest.approx(2 / 3)
    assert [r.share for r in rows] == pytest.approx([2 / 6, 2 / 6, 1 / 6, 1 / 6])


def test_fusion_orders_by_mode() -> None:
    scores = [(0.90, 0.0), (0.85, 12.0), (0.80, 3.0)]  # (cosine, bm25) per document
    assert rank_documents(scores, "dense", 0.5) == [0, 1, 2]
    assert rank_documents(scores, "lexical", 0.5) == [1, 2, 0]
    assert rank_documents(scores, "hybrid", 0.0) == [0, 1, 2]
    assert rank_documents(scores, "hybrid", 0.6)[0] == 1
    assert rank_documents(scores, "hybrid", 0.5, "rrf")[0] in (0, 1)


def test_blend_order_does_not_depend_on_the_candidate_pool() -> None:
    head = [(0.95, 2.0), (0.94, 8.0), (0.90, 10.0)]  # (cosine, bm25) per document
    pool = head + [(0.50, 0.0), (0.40, 0.1)]  # a deeper search adds weak candidates
    for weight in (0.1, 0.3, 0.6):
        first = rank_documents(head, "hybrid", weight, cosine_unit=0.05)
        assert rank_documents(pool, "hybrid", weight, cosine_unit=0.05)[:3] == first
    # the cosine counts in band units: a model spreading cosines 10x wider needs no new weight
    wide = [(1 - 10 * (1 - c), b) for c, b in head]
    assert (rank_documents(wide, "hybrid", 0.3, cosine_unit=0.5)
            == rank_documents(head, "hybrid", 0.3, cosine_unit=0.05))


def test_lexical_index_scores_shared_terms_and_follows_changes() -> None:
    index = LexicalIndex([(1, "退款多久能到账"), (2, "怎么修改收货地址"), (3, "发票怎么开")])
    tokens = tokenize("退款多久能到账？")
    assert "退款" in tokens and "？" not in tokens and "#？" not in tokens
    assert {"#到", "#到账", "#账"} <= set(tokens)  # character n-grams beside the words
    assert index.scores("退款什么时候到账").top(1)[0][0] == 1
    index.remove([1])
    index.add([(4, "退款申请被拒绝了")])
    found = index.scores("退款")
    assert found.top(3)[0][0] == 4 and 1 not in dict(found.top(3))
    assert found.at(np.array([1, 4])).tolist()[0] == 0 < found.at(np.array([4]))[0]
    assert index.scores("退款", allowed=np.array([2, 3])).top(3) == []
    assert index.scores("退款", allowed=np.array([2, 3])).at(np.array([4])).tolist() == [0]


def test_a_hyphenated_latin_term_is_a_word_and_an_older_tokeniser_s_index_is_not_read(
        tmp_path, monkeypatch) -> None:
    """Error codes and product names such as ``E-102`` stay one word (their parts too), and
    an index saved by the previous tokeniser (jieba, which split them) is not read: its
    terms would not match a query's."""
    from search import lexical

    assert {"e-102", "错误码"} <= set(tokenize("E-102 错误码是什么意思"))
    index = LexicalIndex([(1, "提示 E-102 错误"), (2, "提示 E-103 错误")])
    assert [pid for pid, _ in index.scores("e-102").top(2)][0] == 1
    monkeypatch.setattr(lexical, "FORMAT", lexical.FORMAT - 1)
    index.save(tmp_path / "old.npz")
    monkeypatch.undo()
    with pytest.raises(ValueError, match="format"):
        LexicalIndex.load(tmp_path / "old.npz")


def test_dedup_defaults_to_the_stricter_of_high_and_the_duplicate_threshold() -> None:
    from search.grouping import default_threshold

    bands = Thresholds(high=0.97, medium=0.9, low=0.8)
    assert default_threshold("dedup", bands, 0.995) == 0.995
    assert default_threshold("dedup", bands, 0.95) == 0.97  # a calibrated high stays the floor
    assert default_threshold("dedup", bands, None) == 0.97
    assert default_threshold("cluster", bands, 0.995) == 0.9


def test_a_groups_representative_is_the_text_asked_most_often() -> None:
    """Two texts alone are equally close to their plain mean: the count decides, not noise."""
    from search.grouping import representative

    a = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    b = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    pair = np.stack([a, b])
    assert representative(pair, np.array([2.0, 1.0])) == 0
    assert representative(pair, np.array([1.0, 2.0])) == 1
    assert representative(np.stack([a, b, b])) == 1  # unweighted rows count once each


def test_lexical_scores_are_bm25s_scores_after_online_changes(tmp_path) -> None:
    """The inverted index gives what a fresh bm25s index over the same passages gives,
    after adds and removes (no rebuild in between), once saved and loaded, and when the
    next build reuses the saved terms."""
    import json

    import bm25s

    from tests.conftest import REPO

    texts = []
    for line in (REPO / "data" / "faq_sample.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        texts += [row["question"], *row.get("similar_questions", []), row["answer"][:60]]
    index = LexicalIndex(enumerate(texts[:300]))
    index.remove(range(0, 300, 7))
    index.add((i, t) for i, t in enumerate(texts) if 300 <= i < 400)
    index.remove(range(301, 400, 5))  # passages added online, removed again
    index.add((i, t) for i, t in enumerate(texts) if i >= 400)
    index.add([(10_000, "？？"), (10_001, "")])  # no tokens: they still count in the statistics
    live = {i: t for i, t in enumerate(texts) if i in index} | {10_000: "？？", 10_001: ""}
    assert len(index) == len(live) and 0 not in index and 301 not in index and 302 in index
    saved = tmp_path / "lexical.npz"
    index.save(saved)
    rebuilt = LexicalIndex.build(live.items(), reuse=LexicalIndex.load(saved))
    reference = bm25s.BM25()
    reference.index([tokenize(t) or ["\u0000"] for t in live.values()], show_progress=False)
    order = np.array(list(live), dtype=np.int64)
    for query in ("忘记密码了怎么办", "退款多久到账啊 退款", "发票", "会员积分怎么用"):
        expected = reference.get_scores(tokenize(query))
        want = {int(pid): float(s) for pid, s in zip(order, expected) if s > 0}
        for served in (index, LexicalIndex.load(saved), rebuilt):
            found = served.scores(query)
            got = dict(found.top(len(live)))
            assert set(got) == set(want), query
            assert all(abs(got[p] - want[p]) <= 1e-5 * max(1.0, want[p]) for p in want), query
            # the score of given passages, from their own terms, is the same BM25
            assert found.at(order).tolist() == pytest.approx([want.get(int(p), 0.0) for p in order],
                                                             rel=1e-5, abs=1e-6)
            assert found.at(np.array([0, 301])).tolist() == [0, 0]  # removed
