"""Transformer text encoder: texts in, L2-normalised float32 vectors out.

This is the only module that imports torch and transformers (lazily, inside functions),
so the API schemas and most tests stay light. It follows sentence-transformers' recipe:
sort inputs by length, batch them under a token budget so a batch of long answers does
not blow up memory while short questions still run in large batches, then restore the
caller's order.
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Sequence

import numpy as np

from .errors import InvalidInputError, ModelError
from .profiles import ModelProfile, ResolvedModel, resolve_model
from .text import normalize

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

    from .config import Settings

Kind = Literal["query", "question", "passage"]  # role: picks the profile's prefix
CPU_PRECISIONS = ("fp32", "bf16", "int8")
# Characters kept before tokenising: far more than max_length tokens ever span, so the
# cut never changes the result, yet a megabyte of text is not tokenised just to be cut.
_CHARS_PER_TOKEN_BOUND = 16


@dataclass
class EncodeResult:
    vectors: np.ndarray  # (n, dim) float32, L2-normalised
    truncated: list[bool]
    token_counts: list[int]


def validate_texts(texts: Any) -> list[str]:
    """Reject what cannot be embedded, with a message naming the offending item."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence) or isinstance(texts, (bytes, bytearray)):
        raise InvalidInputError(f"expected a list of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise InvalidInputError("no texts to encode")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidInputError(f"text #{i} is {type(text).__name__}, not a string")
        if not text.strip():
            raise InvalidInputError(f"text #{i} is empty or whitespace only")
    return list(texts)


class TextEncoder(Protocol):
    """What the search and index code use of an encoder. ``Encoder`` runs a model; the
    test suite's and the benchmarks' fakes make vectors without one and fit it too.
    Members are read-only here so that a plain attribute or a property both fit."""

    @property
    def profile(self) -> ModelProfile: ...
    @property
    def resolved(self) -> ResolvedModel: ...
    @property
    def dim(self) -> int: ...
    @property
    def model_id(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def precision(self) -> str: ...
    @property
    def threads(self) -> int: ...
    @property
    def passage_token_budget(self) -> int: ...

    def encode(self, texts: Any, kind: Kind = "query") -> EncodeResult: ...
    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...
    def encode_passages(self, texts: Sequence[str]) -> np.ndarray: ...
    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


class Encoder:
    """Loads a model once and encodes queries and passages with its profile."""

    def __init__(self, resolved: ResolvedModel, *, device: str = "auto",
                 precision: str = "auto", threads: int | None = None,
                 max_batch_tokens: int | None = None, cache_dir: str | None = None,
                 traced: bool = True) -> None:
        import torch

        self.resolved = resolved
        self.profile: ModelProfile = resolved.profile
        if threads:
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()
        self.device = _pick_device(device)
        # On the CPU a batch that outgrows the caches costs more per token than it saves.
        self.max_batch_tokens = max_batch_tokens or (4096 if self.device == "cpu" else 16384)
        self.tokenizer, self.pad_id, model = _load(resolved)
        self.dim = int(model.config.hidden_size)
        if self.profile.dim and self.profile.dim != self.dim:
            raise ModelError(f"{resolved.source}: hidden size {self.dim} but profile "
                             f"{self.profile.name} expects {self.profile.dim}")
        self.model = model.to(self.device)  # fp32 until a precision is chosen
        # (model, its traced graph): the graph runs while ``model`` is the one in use;
        # none while the precisions are timed, which swaps models in and out
        self._graph: tuple[torch.nn.Module, torch.jit.ScriptModule] | None = None
        self.precision = self._choose_precision(precision, cache_dir)
        if self.precision != "fp32":
            self.model = _with_precision(model, self.precision, self.device)
        if traced:
            from .tracing import trace

            graph = trace(self.model, self.pad_id, self.device)
            self._graph = (self.model, graph) if graph is not None else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Encoder:
        resolved = resolve_model(settings)
        if resolved.local and not os.path.isdir(resolved.source):
            raise ModelError(f"model directory {resolved.source} is missing; "
                             "run `semsearch model prepare`")
        return cls(resolved, device=settings.device, precision=settings.precision,
                   threads=settings.threads, max_batch_tokens=settings.max_batch_tokens,
                   cache_dir=str(settings.resolved_models_dir), traced=settings.traced_model)

    @property
    def model_id(self) -> str:
        return self.profile.name

    @property
    def traced(self) -> bool:
        """Whether forward passes run as a traced graph (search.tracing)."""
        return self._graph_in_use() is not None

    def _graph_in_use(self) -> torch.jit.ScriptModule | None:
        """The traced graph, while the model it traces is the one in use."""
        return self._graph[1] if self._graph is not None and self._graph[0] is self.model else None

    # --- public API -------------------------------------------------------------------
    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, "query").vectors

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, "passage").vectors

    def encode(self, texts: Any, kind: Kind = "query") -> EncodeResult:
        texts = validate_texts(texts)
        prefix = self.profile.prefix(kind)
        t2s = self.profile.traditional_to_simplified
        prepared = []
        for i, text in enumerate(texts):
            clean = normalize(text, traditional_to_simplified=t2s)
            if not clean:
                raise InvalidInputError(f"text #{i} is empty after normalisation")
            prepared.append(prefix + clean)
        return self._encode_prepared(prepared)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text takes without prefix or special tokens (for chunking)."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def token_ids(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """Model input ids of each (prepared) text, cut to the model's maximum length with
        its special tokens kept, and whether the cut dropped anything.

        The cut is applied to each encoding rather than through the tokenizer's truncation
        setting, which is shared state: encodes and token counts run in several threads.
        """
        max_len = self.profile.max_length
        cut = [t[: max_len * _CHARS_PER_TOKEN_BOUND] for t in texts]
        budget = max_len - self.tokenizer.num_special_tokens_to_add(False)
        ids, truncated = [], []
        for text, short, enc in zip(texts, cut, self.tokenizer.encode_batch(cut, add_special_tokens=False)):
            truncated.append(len(enc.ids) > budget or len(text) > len(short))
            enc.truncate(budget)
            ids.append(self.tokenizer.post_process(enc).ids)
        return ids, truncated

    @property
    def passage_token_budget(self) -> int:
        """Content tokens a passage may hold before truncation."""
        prefix = self.count_tokens([self.profile.passage_prefix])[0] if self.profile.passage_prefix else 0
        return self.profile.max_length - prefix - 2

    # --- internals --------------------------------------------------------------------
    def _encode_prepared(self, texts: list[str]) -> EncodeResult:
        ids, truncated = self.token_ids(texts)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for batch in self._batches(ids):
            out[batch] = self._forward([ids[i] for i in batch])
        return EncodeResult(out, truncated, [len(x) for x in ids])

    def _batches(self, ids: list[list[int]]) -> list[list[int]]:
        """Indices grouped longest-first so that each batch pads little."""
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            longest = len(ids[current[0]]) if current else len(ids[i])
            if current and (len(current) + 1) * longest > self.max_batch_tokens:
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        import torch

        # The padded batch is built in numpy and handed to torch once: a torch call per
        # row would give up the interpreter lock twice a row, and wait to get it back
        # while a search ranks on another thread.
        lengths = np.fromiter((len(x) for x in ids), np.int64, len(ids))
        mask_np = np.arange(int(lengths.max()))[None, :] < lengths[:, None]
        ids_np = np.full(mask_np.shape, self.pad_id, dtype=np.int64)
        ids_np[mask_np] = np.fromiter(itertools.chain.from_iterable(ids), np.int64, int(lengths.sum()))
        input_ids = torch.from_numpy(ids_np).to(self.device)
        mask = torch.from_numpy(mask_np.astype(np.int64)).to(self.device)
        with torch.inference_mode():
            graph = self._graph_in_use()
            if graph is not None:
                hidden = graph(input_ids, mask)
            else:  # eager: no graph, or another model swapped in (precision.measure)
                hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            pooled = _pool(hidden.float(), mask, self.profile.pooling)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.cpu().numpy().astype(np.float32, copy=False)

    def _choose_precision(self, precision: str, cache_dir: str | None) -> str:
        if self.device != "cpu":
            return "fp16" if precision in ("auto", "fp16") else precision
        if precision == "fp16":
            raise ModelError("fp16 needs a CUDA device; on the CPU use fp32, bf16 or int8")
        if precision != "auto":
            return precision
        from .precision import choose_cpu_precision

        return choose_cpu_precision(self, cache_dir)


def _pick_device(device: str) -> str:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("SEMSEARCH_DEVICE=cuda but no CUDA device is available")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _load(resolved: ResolvedModel) -> tuple[Tokenizer, int, torch.nn.Module]:
    """(tokenizer, pad token id, model) of a model directory or hub id."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # load reports and progress bars are noise to users
    hf_logging.disable_progress_bar()
    kwargs: dict[str, Any] = {}
    if resolved.local:
        kwargs["local_files_only"] = True
    try:
        tokenizer, pad_id = _load_tokenizer(resolved, kwargs)
        try:
            model = AutoModel.from_pretrained(resolved.source, add_pooling_layer=False, **kwargs)
        except TypeError:  # architectures without a pooler do not take the argument
            model = AutoModel.from_pretrained(resolved.source, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model {resolved.source}: {exc}") from exc
    return tokenizer, pad_id, model.eval()


def _load_tokenizer(resolved: ResolvedModel, kwargs: dict[str, Any]) -> tuple[Tokenizer, int]:
    """The model's Rust tokenizer (``tokenizers.Tokenizer``) and its pad token id.

    A local directory's ``tokenizer.json`` is read directly: transformers' AutoTokenizer
    wraps the same object but takes four times as long to start (0.6 s against 2.4 s for
    the bundled model's 17 MB file), which is most of a server's cold start.
    """
    folder = Path(resolved.source)
    if resolved.local and (folder / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        pad = _special_token(folder, "pad_token")
        pad_id = (tokenizer.token_to_id(pad) if pad else None) or 0
    else:
        from transformers import AutoTokenizer

        wrapped = AutoTokenizer.from_pretrained(resolved.source, **kwargs)
        if not getattr(wrapped, "is_fast", False):
            raise ModelError(f"{resolved.source}: a fast (Rust) tokenizer is required")
        tokenizer, pad_id = wrapped.backend_tokenizer, wrapped.pad_token_id or 0
    # Some repositories ship tokenizer.json with truncation or padding switched on; this
    # encoder cuts and pads itself (token_ids, _forward).
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer, pad_id


def _special_token(folder: Path, name: str) -> str | None:
    """A special token named in the directory's tokenizer config files."""
    for file in ("special_tokens_map.json", "tokenizer_config.json"):
        path = folder / file
        if path.is_file():
            value = json.loads(path.read_text("utf-8")).get(name)
            if isinstance(value, dict):  # {"content": "<pad>", ...}
                value = value.get("content")
            if isinstance(value, str):
                return value
    return None


def _with_precision(model: torch.nn.Module, precision: str, device: str) -> torch.nn.Module:
    import torch

    if precision == "fp16":
        return model.to(device=device, dtype=torch.float16)
    if precision == "bf16":
        return model.to(device=device, dtype=torch.bfloat16)
    if precision == "int8":
        import warnings

        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch deprecates quantised tensors in favour of torchao
            warnings.simplefilter("ignore")
            return quantize_dynamic(model.to(device), {torch.nn.Linear}, dtype=torch.qint8)
    if precision != "fp32":
        raise ModelError(f"unknown precision {precision!r}")
    return model.to(device)


def _pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)

