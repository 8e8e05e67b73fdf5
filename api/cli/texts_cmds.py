"""``semsearch dedup FILE`` and ``semsearch cluster FILE``: any texts grouped by meaning."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.progress import Progress
from rich.table import Table

from search.errors import SourceError

from .common import console, load_encoder, out, print_json

CHUNK = 256


def read_texts(path: Path) -> list[str]:
    """One text per line, or JSON Lines with a ``text`` field; blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                texts.append(str(json.loads(line)["text"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise SourceError(f"{path}:{number}: a JSON line needs a 'text' field ({exc})") from exc
        else:
            texts.append(line.strip())
    if not texts:
        raise SourceError(f"{path}: no texts")
    return texts


def _run(path: Path, threshold: float | None, task: str, min_size: int, as_json: bool,
         as_csv: bool, title: str) -> None:
    from search import grouping
    from search.text import normalize

    texts = read_texts(path)  # a bad file fails before the model loads
    encoder = load_encoder()
    t2s = encoder.profile.traditional_to_simplified
    normalized = [normalize(t, traditional_to_simplified=t2s) for t in texts]
    vectors = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("encoding", total=len(texts))
        for start in range(0, len(texts), CHUNK):
            vectors.append(encoder.encode_queries(normalized[start:start + CHUNK]))
            progress.advance(task, len(normalized[start:start + CHUNK]))
    t = threshold if threshold is not None else grouping.default_threshold(
        task, encoder.profile.thresholds, encoder.profile.duplicate)
    groups = grouping.summarise(texts, np.concatenate(vectors), t, min_size=min_size)
    if as_json:
        print_json({"threshold": t, "texts": len(texts), "groups": groups})
        return
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["group", "size", "representative", "line_index", "text"])
        for number, g in enumerate(groups, start=1):
            for i, text in zip(g["indices"], g["texts"]):
                writer.writerow([number, g["size"], g["representative"], i, text])
        return
    table = Table("group", "size", "representative", "texts", title=f"{title} · threshold {t:.4f}")
    for number, g in enumerate(groups, start=1):
        table.add_row(str(number), str(g["size"]), g["representative"], " | ".join(g["texts"][:5]))
    out.print(table)


FileArg = Annotated[Path, typer.Argument(help="One text per line, or JSONL with 'text'.")]
ThresholdOpt = Annotated[float | None, typer.Option(min=-1.0, max=1.0,
                                                    help="Cosine at which texts group.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print one CSV row per text.")]


def dedup(file: FileArg, threshold: ThresholdOpt = None, as_json: JsonOpt = False,
          as_csv: CsvOpt = False) -> None:
    """Groups of near-duplicate texts (default threshold: the model's high band or its
    duplicate threshold, whichever is higher)."""
    _run(file, threshold, "dedup", 2, as_json, as_csv, "near-duplicates")


def cluster(file: FileArg, threshold: ThresholdOpt = None, as_json: JsonOpt = False,
            as_csv: CsvOpt = False) -> None:
    """Topic groups of texts, biggest first (default threshold: the model's medium band)."""
    _run(file, threshold, "cluster", 1, as_json, as_csv, "topics")


def register(app: typer.Typer) -> None:
    app.command("dedup")(dedup)
    app.command("cluster")(cluster)
