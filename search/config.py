"""Settings, read from ``SEMSEARCH_*`` environment variables and an optional ``.env``.

Use :func:`get_settings` rather than a module-level instance, so tests and commands can
change the environment and get fresh settings (``get_settings.cache_clear()``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Precision = Literal["auto", "fp32", "bf16", "int8", "fp16"]
Device = Literal["auto", "cpu", "cuda"]
Pooling = Literal["cls", "mean"]
RetrievalMode = Literal["dense", "lexical", "hybrid"]
VectorStoreKind = Literal["faiss", "milvus"]
Consistency = Literal["Strong", "Session", "Bounded", "Eventually"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEMSEARCH_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -------------------------------------------------------------------
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/semsearch.db"
    )
    default_collection: str = "default"

    # --- model ---------------------------------------------------------------------
    model: str = Field(
        default="multilingual-e5-small-q4",
        description="bundled model name, local model directory or hub id",
    )
    models_dir: Path | None = None  # default <data_dir>/models
    pooling: Pooling | None = None  # required for an unknown model without ST config
    device: Device = "auto"
    precision: Precision = "auto"
    threads: int | None = Field(default=None, ge=1)
    # Run the forward pass as a traced graph, without the GIL (search/tracing.py); the
    # model runs eagerly where tracing fails or disagrees, or with this off.
    traced_model: bool = True
    # Tokens (rows x longest row) per forward pass; default: 4096 on the CPU, where
    # bigger batches run slower (bench/encode_batching.py), 16384 on a GPU.
    max_batch_tokens: int | None = Field(default=None, ge=512)
    max_length: int | None = Field(default=None, ge=8)
    traditional_to_simplified: bool | None = None  # None: the model profile decides

    # --- indexing ------------------------------------------------------------------
    index_kinds: str = "question,similar"  # passage kinds indexed for FAQ entries
    flat_threshold: int = Field(default=50_000, ge=1)
    use_sq8: bool = False
    keep_builds: int = Field(default=3, ge=1)
    # Map index files instead of reading them: the workers of `serve --workers N` then
    # share one copy through the page cache, but a file truncated under a running server
    # kills it (SIGBUS), where a read copy only stops serving (see search/index.py).
    index_mmap: bool = False
    chunk_overlap: int = Field(default=32, ge=0)

    # --- vector store: FAISS files in data_dir (default) or Milvus -------------------
    vector_store: VectorStoreKind = "faiss"
    milvus_uri: str | None = Field(
        default=None, description="a local *.db path runs Milvus Lite (one process); "
        "http(s)://host:19530 a Milvus server or cluster; default <data_dir>/milvus.db")
    milvus_token: str = ""  # "user:password" or an API key, for a server
    milvus_db: str = ""  # Milvus database name; "" = the server's default
    milvus_prefix: str = Field(default="semsearch", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    # Strong: a search sees every write acknowledged before it, from any worker (see
    # docs/deployment.md for the trade-off); Bounded trades that for latency.
    milvus_consistency: Consistency = "Strong"
    milvus_index: Literal["auto", "FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX"] = "auto"
    milvus_timeout_s: float = Field(default=30.0, gt=0)

    # --- retrieval -----------------------------------------------------------------
    retrieval_mode: RetrievalMode = "hybrid"
    # Fitted on LCQMC dev + sample FAQ (bench/quality.py --steps fit).
    hybrid_weight: float = Field(default=0.2, ge=0.0, le=1.0)
    fusion: Literal["blend", "rrf"] = "blend"
    merge: Literal["max", "top2"] = "top2"  # how an entry's passages make its dense score
    # Hybrid ranking corrects each cosine for hubness: cos - weight * mean cosine of the
    # passage to its k nearest passages of other entries (search/hubness.py). 0.5 is the
    # CSLS formula; k chosen on dev data (bench/quality.py --steps fit). 0 turns it off.
    hubness_weight: float = Field(default=0.5, ge=0.0, le=2.0)
    hubness_k: int = Field(default=10, ge=1, le=100)
    oversample: int = Field(default=4, ge=1)

    # --- serving -------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: str = ""  # comma-separated; when set, write routes need one
    # Dify's external knowledge API: POST /retrieval, and also <dify_prefix>/retrieval
    # (Dify appends /retrieval to the endpoint it is given, e.g. https://host/dify).
    dify_prefix: str = Field(default="", pattern=r"^(/[A-Za-z0-9._~-]+)*$")
    cors_origins: str = ""
    max_query_chars: int = Field(default=1000, ge=1)
    # One entry (PUT or a source row): every text is encoded on each write.
    max_question_chars: int = Field(default=500, ge=1)  # standard and each similar question
    max_similar_questions: int = Field(default=100, ge=0)
    max_answer_chars: int = Field(default=20_000, ge=1)
    max_tags: int = Field(default=64, ge=0)
    max_candidates: int = Field(default=256, ge=1)
    max_batch_queries: int = Field(default=64, ge=1)
    max_group_texts: int = Field(default=5000, ge=2)  # POST /v1/dedup and /v1/cluster
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_upload_bytes: int = Field(default=20_000_000, ge=1024)  # POST .../upload (a whole FAQ file)
    batch_wait_ms: float = Field(default=3.0, ge=0)
    batch_max_size: int = Field(default=32, ge=1)
    queue_max: int = Field(default=256, ge=1)
    micro_batching: bool = True
    reload_interval_s: float = Field(default=1.0, gt=0)
    # --- the FAQ loop: every search is logged (off the request path) for insights ---
    search_log: bool = True
    search_log_days: int = Field(default=90, ge=1)  # older entries are deleted
    # uvicorn replaces a worker that does not answer its supervisor's ping within this;
    # its default (5 s) kills workers still loading the model on a busy machine.
    worker_healthcheck_s: int = Field(default=60, ge=1)

    @field_validator("database_url", "milvus_uri")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'semsearch.db').resolve()}"

    @property
    def resolved_milvus_uri(self) -> str:
        """The Milvus URI; a local path is made absolute (Milvus Lite keys on it)."""
        uri = self.milvus_uri or str(self.data_dir / "milvus.db")
        if "://" in uri:
            return uri
        return str(Path(uri).expanduser().resolve())

    def shown_path(self, path: Path | str) -> str:
        """``path`` as messages show it: relative to the data directory when inside it,
        so that errors never reveal where the server keeps its files."""
        try:
            return str(Path(path).resolve().relative_to(self.data_dir.resolve()))
        except ValueError:
            return Path(path).name

    @property
    def database_label(self) -> str:
        """How messages name the metadata database."""
        if self.database_url:
            return "the database"
        return f"the database ({self.shown_path(self.data_dir / 'semsearch.db')})"

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    @property
    def index_kind_list(self) -> list[str]:
        return [k.strip() for k in self.index_kinds.split(",") if k.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
