from __future__ import annotations

from indexer.expand import chunk_text, expand, split_sentences
from search.documents import FaqEntry


def count(texts):  # one token per character, like most Chinese text
    return [len(t) for t in texts]


def test_sentences_split_after_chinese_and_western_punctuation() -> None:
    assert split_sentences("第一句。第二句！第三句？“引用。”最后") == [
        "第一句。", "第二句！", "第三句？", "“引用。”", "最后"]


def test_chunks_respect_the_budget_and_overlap() -> None:
    text = "".join(f"这是第{i}句话，内容有一点长。" for i in range(30))
    chunks = chunk_text(text, budget=50, overlap=16, count=count)
    assert len(chunks) > 1
    assert all(len(c) <= 50 for c in chunks)
    for a, b in zip(chunks, chunks[1:]):
        assert a[-14:] in b  # the last sentence is repeated at the start of the next chunk
    assert chunks[0].startswith("这是第0句") and chunks[-1].endswith("第29句话，内容有一点长。")


def test_a_sentence_without_punctuation_is_cut_to_fit() -> None:
    chunks = chunk_text("字" * 300, budget=100, overlap=0, count=count)
    assert all(len(c) <= 100 for c in chunks) and "".join(chunks) == "字" * 300


def test_faq_entry_expands_to_the_configured_kinds() -> None:
    entry = FaqEntry("a", "怎么退款？", "在订单页申请退款。", ["退钱咋弄", "怎么退款？"])
    kinds = lambda ks: [(p.kind, p.text) for p in expand(entry, ks, budget=50, overlap=8, count=count)]  # noqa: E731
    assert kinds(["question"]) == [("question", "怎么退款?")]
    assert kinds(["question", "similar"]) == [("question", "怎么退款?"), ("similar", "退钱咋弄")]
    assert ("answer", "在订单页申请退款。") in kinds(["question", "similar", "answer"])


def test_long_answers_and_articles_become_chunks() -> None:
    long = "".join(f"第{i}步，打开订单页面并点击申请。" for i in range(20))
    entry = FaqEntry("a", "怎么退款", long)
    passages = expand(entry, ["answer"], budget=60, overlap=10, count=count)
    assert len(passages) > 1 and {p.kind for p in passages} == {"chunk"}
    article = FaqEntry("k", "退货政策", long, doc_type="article")
    chunks = expand(article, ["question"], budget=60, overlap=10, count=count)
    assert chunks[0].text.startswith("退货政策") and {p.kind for p in chunks} == {"chunk"}
