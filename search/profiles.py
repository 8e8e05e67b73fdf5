"""Model profiles: what the code must know about each embedding model.

Pooling, prefixes, maximum length, dimension and band thresholds differ per model, and
getting one wrong degrades results silently, so unknown models must state their pooling
(or ship sentence-transformers' pooling config) rather than have it guessed.

Calibrated thresholds written by ``semsearch calibrate --write`` live in
``<data_dir>/profiles/<name>.json`` and override the built-in ones.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bands import Thresholds
from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Settings

BUNDLED_MODEL = "multilingual-e5-small-q4"
BGE_QUERY_INSTRUCTION = "为这个句子生成表示以用于检索相关文章："
_DEFAULT_THRESHOLDS = Thresholds(high=0.85, medium=0.70, low=0.50)


@dataclass(frozen=True)
class ModelProfile:
    name: str
    pooling: str  # "cls" | "mean"
    dim: int
    max_length: int = 512
    query_prefix: str = ""
    passage_prefix: str = ""
    # Stored questions (standard and similar) are matched against paraphrases: a symmetric
    # task, which some models encode with the query prefix on both sides. None: they are
    # passages like the answers.
    question_prefix: str | None = None
    normalize: bool = True
    thresholds: Thresholds = _DEFAULT_THRESHOLDS
    # The cosine from which two texts are the same question reworded (dedup's default
    # when above ``high``): answering a near paraphrase is not calling it a duplicate.
    duplicate: float | None = None
    calibrated: bool = False
    traditional_to_simplified: bool = False
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def prefix(self, role: str) -> str:
        """The text put before an input of this role: query, question or passage."""
        if role == "query":
            return self.query_prefix
        if role == "question" and self.question_prefix is not None:
            return self.question_prefix
        return self.passage_prefix

    def cache_space(self, model_id: str, role: str) -> str:
        """The embedding cache's key for vectors of this role: the model id, with the
        question prefix added where questions are encoded unlike passages."""
        if role == "question" and self.prefix("question") != self.passage_prefix:
            return f"{model_id}|{self.prefix('question')}"
        return model_id

    def stored_prefixes(self) -> str:
        """What a build must record about the prefixes of the texts it holds."""
        if self.prefix("question") == self.passage_prefix:
            return ""
        return "+q" + hashlib.sha1(self.prefix("question").encode("utf-8")).hexdigest()[:8]


def _gte(name: str, dim: int, *aliases: str) -> ModelProfile:
    return ModelProfile(name, "cls", dim, traditional_to_simplified=True, aliases=aliases)


def _bge(name: str, dim: int) -> ModelProfile:
    return ModelProfile(name, "cls", dim, query_prefix=BGE_QUERY_INSTRUCTION,
                        traditional_to_simplified=True)


def _e5(name: str, dim: int, **kw: Any) -> ModelProfile:
    # The model card: "query: " on both sides for symmetric tasks (paraphrase retrieval),
    # which is what matching a user's question to stored questions is. On the COVID FAQ
    # this lifts dense recall@1 from 0.818 (questions as "passage: ") to 0.851.
    return ModelProfile(name, "mean", dim, query_prefix="query: ", passage_prefix="passage: ",
                        question_prefix="query: ", **kw)


BUILTIN: tuple[ModelProfile, ...] = (
    _gte("thenlper/gte-large-zh", 1024, "iic/nlp_gte_sentence-embedding_chinese-large"),
    _gte("thenlper/gte-base-zh", 768, "iic/nlp_gte_sentence-embedding_chinese-base"),
    _gte("thenlper/gte-small-zh", 512, "iic/nlp_gte_sentence-embedding_chinese-small"),
    _bge("BAAI/bge-large-zh-v1.5", 1024),
    _bge("BAAI/bge-small-zh-v1.5", 512),
    _e5("intfloat/multilingual-e5-small", 384),
    _e5("intfloat/multilingual-e5-base", 768),
    # `semsearch calibrate --retrieval covid_qsim_tianchi --retrieval lcqmc/retrieval` at
    # fp32 (indexer.prior: the first answers of 3,709 searches, fitted as a collection's
    # hit-test set is; medium is the fit's fallback, the pair-calibrated 0.9764). Other
    # precisions and CPUs' kernels can move a threshold to a neighbouring question's score.
    # duplicate: `python bench/dedup.py` (COVID's pairs and near-miss rewrites, the lowest
    # cosine with precision 0.92, which held 0.918-0.945 on the entries left out of a fit).
    _e5(BUNDLED_MODEL, 384, thresholds=Thresholds(high=0.9774, medium=0.9764, low=0.8820,
                                                  margin=0.01),
        duplicate=0.9952, calibrated=True, traditional_to_simplified=True),
)


def _short(name: str) -> str:
    return name.rstrip("/").split("/")[-1].lower()


def builtin_profile(name: str) -> ModelProfile | None:
    """Find a built-in profile by hub id, ModelScope id or bare model name."""
    wanted = {name.lower(), _short(name)}
    for profile in BUILTIN:
        keys = {profile.name.lower(), _short(profile.name)}
        keys |= {a.lower() for a in profile.aliases} | {_short(a) for a in profile.aliases}
        if wanted & keys:
            return profile
    return None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def profile_from_directory(path: Path, pooling: str | None) -> ModelProfile:
    """Build a profile for an unknown model directory from its own config files."""
    config = _read_json(path / "config.json") if (path / "config.json").exists() else {}
    dim = int(config.get("hidden_size") or config.get("d_model") or 0)
    found = _sentence_transformers_pooling(path)
    pooling = pooling or found
    if pooling is None:
        raise ConfigError(
            f"unknown model at {path}: its pooling is not recorded (no sentence-transformers "
            "modules.json / 1_Pooling/config.json); set SEMSEARCH_POOLING=cls or mean"
        )
    prompts: dict[str, str] = {}
    if (path / "config_sentence_transformers.json").exists():
        prompts = _read_json(path / "config_sentence_transformers.json").get("prompts") or {}
    max_length = 512
    if (path / "sentence_bert_config.json").exists():
        max_length = int(_read_json(path / "sentence_bert_config.json").get("max_seq_length", 512))
    return ModelProfile(name=path.name, pooling=pooling, dim=dim, max_length=max_length,
                        query_prefix=prompts.get("query", ""),
                        passage_prefix=prompts.get("passage", prompts.get("document", "")))


def _sentence_transformers_pooling(path: Path) -> str | None:
    pool_dir = "1_Pooling"
    if (path / "modules.json").exists():
        for module in _read_json(path / "modules.json"):
            if module.get("type", "").endswith("Pooling"):
                pool_dir = module.get("path", pool_dir)
    config_path = path / pool_dir / "config.json"
    if not config_path.exists():
        return None
    config = _read_json(config_path)
    if config.get("pooling_mode_cls_token"):
        return "cls"
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    raise ConfigError(f"{config_path}: only CLS and mean pooling are supported")


def _override_path(profiles_dir: Path, name: str) -> Path:
    return profiles_dir / (re.sub(r"[^A-Za-z0-9._-]+", "__", name) + ".json")


def apply_overrides(profile: ModelProfile, profiles_dir: Path) -> ModelProfile:
    """Apply calibrated thresholds saved by ``semsearch calibrate --write``."""
    path = _override_path(profiles_dir, profile.name)
    if not path.exists():
        return profile
    data = _read_json(path)
    try:
        found = data["thresholds"]
        high, medium, low = (float(found[k]) for k in ("high", "medium", "low"))
        thresholds = Thresholds(high, medium, low, margin=float(found.get("margin", 0.0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed thresholds ({exc})") from exc
    return replace(profile, thresholds=thresholds, calibrated=True)


def save_thresholds(profiles_dir: Path, name: str, thresholds: Thresholds, source: dict) -> Path:
    path = _override_path(profiles_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": name, "thresholds": thresholds.as_dict(), "calibration": source}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class ResolvedModel:
    source: str  # local directory or hub id, as given to transformers
    profile: ModelProfile
    local: bool


def resolve_model(settings: Settings) -> ResolvedModel:
    """Turn ``settings.model`` into a loadable source and its profile."""
    name = settings.model
    profiles_dir = settings.data_dir / "profiles"
    if name in (BUNDLED_MODEL, "bundled"):
        path = settings.resolved_models_dir / BUNDLED_MODEL
        profile = builtin_profile(BUNDLED_MODEL)
        assert profile is not None
        return ResolvedModel(str(path), _finish(profile, settings, profiles_dir), local=True)
    path = Path(name).expanduser()
    if path.is_dir():
        profile = builtin_profile(path.name) or builtin_profile(_config_name(path) or "")
        if profile is None:
            profile = profile_from_directory(path, settings.pooling)
        return ResolvedModel(str(path.resolve()), _finish(profile, settings, profiles_dir), True)
    if path.is_absolute() or name.startswith((".", "~")):
        raise ConfigError(f"model directory {name} does not exist")
    profile = builtin_profile(name)
    if profile is None:
        if settings.pooling is None:
            raise ConfigError(
                f"unknown model {name!r}: set SEMSEARCH_POOLING=cls or mean (and check its "
                "prefixes), or use a local directory with sentence-transformers config files"
            )
        profile = ModelProfile(name=name, pooling=settings.pooling, dim=0)
    return ResolvedModel(name, _finish(profile, settings, profiles_dir), local=False)


def _config_name(path: Path) -> str | None:
    config = path / "config.json"
    if not config.exists():
        return None
    return _read_json(config).get("_name_or_path")


def _finish(profile: ModelProfile, settings: Settings, profiles_dir: Path) -> ModelProfile:
    changes: dict = {}
    if settings.pooling and settings.pooling != profile.pooling:
        changes["pooling"] = settings.pooling
    if settings.max_length:
        changes["max_length"] = min(settings.max_length, profile.max_length)
    if settings.traditional_to_simplified is not None:
        changes["traditional_to_simplified"] = settings.traditional_to_simplified
    return apply_overrides(replace(profile, **changes), profiles_dir)
