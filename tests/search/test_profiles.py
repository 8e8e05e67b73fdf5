from __future__ import annotations

import json
from pathlib import Path

import pytest

from search.bands import Thresholds
from search.config import Settings
from search.errors import ConfigError
from search.profiles import (BUNDLED_MODEL, apply_overrides, builtin_profile,
                             profile_from_directory, resolve_model, save_thresholds)


def test_builtin_profiles_know_pooling_prefixes_and_dimensions() -> None:
    gte = builtin_profile("thenlper/gte-large-zh")
    assert (gte.pooling, gte.dim, gte.query_prefix) == ("cls", 1024, "")
    assert gte.thresholds == Thresholds(0.85, 0.70, 0.50)
    assert builtin_profile("iic/nlp_gte_sentence-embedding_chinese-large") == gte
    assert builtin_profile("/models/gte-large-zh") == gte  # a local copy by directory name
    bge = builtin_profile("BAAI/bge-small-zh-v1.5")
    assert bge.pooling == "cls" and bge.query_prefix.startswith("为这个句子")
    e5 = builtin_profile("intfloat/multilingual-e5-base")
    assert (e5.pooling, e5.query_prefix, e5.passage_prefix) == ("mean", "query: ", "passage: ")
    assert builtin_profile(BUNDLED_MODEL).calibrated


def _st_dir(tmp_path: Path, pooling: dict | None) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 256}))
    if pooling is not None:
        (tmp_path / "modules.json").write_text(json.dumps(
            [{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
        (tmp_path / "1_Pooling").mkdir()
        (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return tmp_path


def test_unknown_directory_reads_sentence_transformers_pooling(tmp_path: Path) -> None:
    profile = profile_from_directory(_st_dir(tmp_path, {"pooling_mode_cls_token": True}), None)
    assert (profile.pooling, profile.dim) == ("cls", 256)


def test_unknown_directory_without_pooling_needs_it_said(tmp_path: Path) -> None:
    path = _st_dir(tmp_path, None)
    with pytest.raises(ConfigError, match="SEMSEARCH_POOLING"):
        profile_from_directory(path, None)
    assert profile_from_directory(path, "mean").pooling == "mean"


def test_unknown_hub_id_needs_pooling() -> None:
    with pytest.raises(ConfigError, match="SEMSEARCH_POOLING"):
        resolve_model(Settings(model="someone/unknown-model", _env_file=None))
    resolved = resolve_model(Settings(model="someone/unknown-model", pooling="cls", _env_file=None))
    assert resolved.profile.pooling == "cls" and not resolved.local


def test_missing_local_directory_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model(Settings(model="/nonexistent/model", _env_file=None))


def test_calibrated_thresholds_override_the_builtin_ones(tmp_path: Path) -> None:
    profile = builtin_profile("thenlper/gte-large-zh")
    save_thresholds(tmp_path, profile.name, Thresholds(0.9, 0.8, 0.6, 0.004), {"pairs": ["x"]})
    updated = apply_overrides(profile, tmp_path)
    assert updated.thresholds == Thresholds(0.9, 0.8, 0.6, 0.004) and updated.calibrated


def test_e5_encodes_stored_questions_like_queries_and_keeps_them_apart_in_the_cache() -> None:
    e5 = builtin_profile("multilingual-e5-small-q4")
    assert (e5.prefix("query"), e5.prefix("question"), e5.prefix("passage")) == (
        "query: ", "query: ", "passage: ")
    assert e5.cache_space("m", "question") == "m|query: " != e5.cache_space("m", "passage") == "m"
    assert e5.stored_prefixes()
    gte = builtin_profile("thenlper/gte-large-zh")  # no prefixes: one role for all stored text
    assert gte.prefix("question") == gte.prefix("passage") == ""
    assert gte.cache_space("m", "question") == "m" and gte.stored_prefixes() == ""
